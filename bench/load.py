"""Job submission under load: gunicorn (2 workers), one Celery worker, Redis and PostgreSQL.

Threaded clients POST jobs (a 96x128 PNG, watershed) for ``--seconds``, each as fast as the
server answers; then the bench waits until the worker has run them all and checks that no job
was lost or run twice: every 201 has its row, every row came from a 201, each completed with
one attempt, and the worker's log shows each job claimed exactly once.

Baseline, in the same run and with the same clients: the same multipart body with an unknown
``model_type``, which the server parses and refuses before it writes anything. The ratio is
what creating a job (storing the upload, the row, queueing) adds to receiving it.

    .venv/bin/python -m bench.load [--seconds 60] [--clients 8]
        [--database-url postgres://postgres@127.0.0.1:5432/cellserve_load]
        [--redis-url redis://127.0.0.1:6379/11]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import requests

from bench.report import write_section

ROOT = Path(__file__).resolve().parent.parent
RESERVED_REDIS_DBS = {12, 13, 14, 15}  # the test suite's and the tile bench's


def environment(args, workdir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.testing",
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "CACHE_URL": args.redis_url,
        "MEDIA_ROOT": str(workdir / "media"),
        "CELLSERVE_JOB_CREATE_RATE": "1000000/minute",
        "CELLSERVE_MAX_ACTIVE_JOBS": "1000000",
    }


def setup(env: dict[str, str]) -> str:
    """A fresh database and Redis database, migrated; the token of the bench user."""
    import psycopg
    import redis

    name = env["DATABASE_URL"].rsplit("/", 1)[1]
    server = env["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')
    redis.Redis.from_url(env["REDIS_URL"]).flushdb()
    script = (
        "from django.contrib.auth.models import User;"
        "from rest_framework.authtoken.models import Token;"
        "print(Token.objects.create(user=User.objects.create(username='load')).key)"
    )
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    out = subprocess.run([*manage, "shell", "-c", script], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True)  # fmt: skip
    return out.stdout.strip().splitlines()[-1]


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_ready(url: str, process: subprocess.Popen, log: Path) -> None:
    for _ in range(300):
        try:
            if requests.get(url, timeout=1).ok:
                return
        except requests.RequestException:
            pass
        if process.poll() is not None:
            raise SystemExit(f"server exited:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    raise SystemExit(f"server not ready:\n{log.read_text()[-3000:]}")


def image_png() -> bytes:
    import io

    from PIL import Image

    rows, cols = np.mgrid[:96, :128]
    image = np.full((96, 128), 20, np.uint8)
    for r, c in ((30, 30), (30, 80), (70, 50)):
        image[(rows - r) ** 2 + (cols - c) ** 2 <= 144] = 200
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def hammer(url: str, token: str, model_type: str, seconds: float, clients: int) -> dict:
    """``clients`` threads POSTing for ``seconds``; latencies and the ids of created jobs."""
    png, deadline = image_png(), time.monotonic() + seconds
    latencies: list[float] = []
    ids: list[str] = []
    statuses: Counter = Counter()
    lock = threading.Lock()

    def client() -> None:
        http = requests.Session()
        http.headers["Authorization"] = f"Token {token}"
        while time.monotonic() < deadline:
            started = time.perf_counter()
            response = http.post(
                url, files={"input_image": ("cells.png", png)},
                data={"model_type": model_type, "min_size": "5"}, timeout=60,
            )  # fmt: skip
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                statuses[response.status_code] += 1
                if response.status_code == 201:
                    ids.append(response.json()["id"])

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"latencies": latencies, "ids": ids, "statuses": dict(statuses), "seconds": seconds}


def drain(base: str, token: str, expected: int, timeout_s: float) -> float:
    """Seconds until the worker has finished every job."""
    http = requests.Session()
    http.headers["Authorization"] = f"Token {token}"
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        stats = http.get(f"{base}/api/v1/predictions/stats/", timeout=10).json()
        if stats["pending"] + stats["processing"] == 0 and stats["total"] >= expected:
            return time.monotonic() - started
        time.sleep(1)
    raise SystemExit(f"jobs not drained after {timeout_s}s: {stats}")


def audit(env: dict[str, str], ids: list[str], worker_log: Path) -> dict:
    """Lost, unexpected, failed and repeated jobs (all must be zero)."""
    script = (
        "from predictions.models import PredictionJob as J;"
        "print('\\n'.join(f'{j.pk} {j.status} {j.attempts}' for j in J.objects.all()))"
    )
    out = subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT,
                         env=env, check=True, capture_output=True, text=True).stdout  # fmt: skip
    rows = {
        pk: (status, int(attempts))
        for pk, status, attempts in (
            line.split() for line in out.splitlines() if re.match(r"^[0-9a-f-]{36} ", line)
        )
    }
    claims = Counter(
        re.findall(r"job ([0-9a-f-]{36}): attempt \d+ claimed", worker_log.read_text())
    )
    return {
        "lost": len(set(ids) - set(rows)),
        "unexpected": len(set(rows) - set(ids)),
        "not completed": sum(status != "completed" for status, _ in rows.values()),
        "more than one attempt": sum(attempts != 1 for _, attempts in rows.values()),
        "claimed twice": sum(count != 1 for pk, count in claims.items() if pk in rows)
        + sum(pk not in claims for pk in rows),
        "jobs": len(rows),
    }


def percentiles_ms(latencies: list[float]) -> tuple[float, float]:
    p50, p95 = np.percentile(latencies, [50, 95])
    return 1000 * float(p50), 1000 * float(p95)


def report(args, jobs: dict, baseline: dict, drained_s: float, checks: dict) -> str:
    rate = {
        k: len(r["latencies"]) / r["seconds"] for k, r in {"jobs": jobs, "base": baseline}.items()
    }
    p50, p95 = percentiles_ms(jobs["latencies"])
    b50, b95 = percentiles_ms(baseline["latencies"])
    created = len(jobs["ids"])
    ratio = f"{rate['jobs'] / rate['base']:.2f}x | {p50 / b50:.2f}x | {p95 / b95:.2f}x"
    answers = {"jobs": jobs["statuses"], "base": baseline["statuses"]}
    problems = {k: v for k, v in checks.items() if k != "jobs" and v}
    verdict = "none" if not problems else ", ".join(f"{k}: {v}" for k, v in problems.items())
    return f"""## Job submission under load

`bench/load.py`: {args.clients} client threads POST a job (96 x 128 PNG, watershed) for
{args.seconds:g} s against gunicorn (2 workers, `config/gunicorn.py`) with one Celery worker,
Redis and PostgreSQL on the same 2 cores. Baseline, same run and clients: the same multipart
body with an unknown `model_type`, parsed, validated and refused before anything is written.

| | requests/s | p50 | p95 | answers |
|---|---|---|---|---|
| submit a job | {rate["jobs"]:.1f} | {p50:.0f} ms | {p95:.0f} ms | {answers["jobs"]} |
| baseline: refused upload | {rate["base"]:.1f} | {b50:.0f} ms | {b95:.0f} ms | {answers["base"]} |
| ratio (job / baseline) | {ratio} | |

The worker finished all {created:,} jobs {drained_s:.0f} s after the last submission (it runs
beside the server on the same cores). Audit of the database and the worker's log: {checks["jobs"]:,}
job rows for {created:,} created answers; lost, unexpected, not completed, more than one
attempt, claimed twice: **{verdict}**.
"""


def run(args, workdir: Path) -> int:
    env = environment(args, workdir)
    token = setup(env)
    port = args.port
    base = f"http://127.0.0.1:{port}"
    web_log, worker_log = workdir / "web.log", workdir / "worker.log"
    gunicorn = ["-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application"]
    celery = ["-m", "celery", "-A", "config", "worker", "-Q", "gpu,default", "--pool", "solo"]
    web_env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2"}
    web = spawn([sys.executable, *gunicorn], web_env, web_log)
    worker = spawn([sys.executable, *celery, "--loglevel", "INFO"], env, worker_log)
    try:
        wait_ready(f"{base}/healthz", web, web_log)
        url = f"{base}/api/v1/predictions/"
        hammer(url, token, "no-such-model", 3, args.clients)  # warm both gunicorn workers
        baseline = hammer(url, token, "no-such-model", args.seconds / 4, args.clients)
        jobs = hammer(url, token, "watershed", args.seconds, args.clients)
        drained_s = drain(base, token, len(jobs["ids"]), timeout_s=1800)
        checks = audit(env, jobs["ids"], worker_log)
    finally:
        for process in (web, worker):
            process.terminate()
            process.wait(timeout=30)
    body = report(args, jobs, baseline, drained_s, checks)
    print(body)
    write_section("load", body)
    return 0 if not any(v for k, v in checks.items() if k != "jobs") else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--port", type=int, default=8790)
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/cellserve_load"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")
    args = parser.parse_args()
    if int(args.redis_url.rsplit("/", 1)[1]) in RESERVED_REDIS_DBS:
        raise SystemExit(f"--redis-url: databases {sorted(RESERVED_REDIS_DBS)} belong to others")
    with tempfile.TemporaryDirectory(prefix="cellserve-load-") as workdir:
        return run(args, Path(workdir))


if __name__ == "__main__":
    sys.exit(main())
