"""Tiles of an 8192x8192 upload: our tile endpoint against django-large-image's own viewset.

Makes a synthetic 8192x8192 uint8 microscopy-like image (Gaussian blobs on a noisy dark
background, fixed seed), uploads it as a job's input (a plain striped TIFF) and times
``tiles.services.build.build_job``, the conversion to a pyramidal TIFF. Then serves that TIFF
through three endpoints (``bench/tiles_urls.py``):

* ours: ``/api/v1/tiles/inputs/<job>/tiles/{z}/{x}/{y}.png``;
* plain, the baseline: django-large-image's documented viewset dropped into this project,
  under the project's default authentication and permission classes;
* noauth, context only: the plain viewset with ``AllowAny`` and no authentication.

Ours and plain send the same ``Authorization: Token ...`` header. Measured in process
(``django.test.Client``), cold (tile cache cleared before every request) and warm (served from
the cache), sides interleaved, all returning byte-identical tiles; then under load, gunicorn
on loopback and a client process with keep-alive connections, warm and uncached tiles.

The tile cache is a Redis database of the bench's own (``--cache-url``): it is flushed before
every cold request and at the end, so never point it at a database anything else uses.

    .venv/bin/python -m bench.tiles [--full-tiles 60] [--warm-rounds 5] [--load-seconds 15]
        [--threads 8] [--database-url postgres://postgres@127.0.0.1:5432/cellserve_bench]
        [--cache-url redis://127.0.0.1:6379/12] [--skip-load] [--profile [REQUESTS]]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

import numpy as np

from bench.depth_common import DEFAULT_URL
from bench.report import write_section

DEFAULT_CACHE_URL = "redis://127.0.0.1:6379/12"
SIZE = 8192
TILE = 256
MAX_RATIO = 1.1
# Test runs use these Redis databases; the bench flushes its own, so it refuses them.
RESERVED_REDIS_DBS = {13, 14, 15}
ROOT = Path(__file__).resolve().parent.parent
SIDES = ("ours", "plain", "noauth")
LABELS = {
    "ours": "ours",
    "plain": "plain (baseline)",
    "noauth": "context: plain, no authentication (AllowAny)",
}


# ---------------------------------------------------------------------------------------------
# Set-up


def configure(database_url: str, cache_url: str, workdir: Path) -> None:
    """Environment for this process and the gunicorn it starts, then Django."""
    import psycopg

    (workdir / "static").mkdir()
    base, name = database_url.split("?", 1)[0].rsplit("/", 1)
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.tiles_settings",
            "DATABASE_URL": database_url,
            "CACHE_URL": cache_url,
            "MEDIA_ROOT": str(workdir / "media"),
            "STATIC_ROOT": str(workdir / "static"),
            "CELLSERVE_BENCH_DLI_TEMP_DIR": str(workdir / "django-large-image"),
            "REDIS_URL": "",
            "CELLSERVE_ALLOW_ANONYMOUS": "false",
            "DEBUG": "false",
            "LOG_LEVEL": "WARNING",
        }
    )
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def redis_db(cache_url: str) -> int:
    tail = cache_url.rstrip("/").rsplit("/", 1)[1]
    return int(tail) if tail.isdigit() else 0


def synthetic_image(size: int, seed: int) -> np.ndarray:
    """Gaussian blobs of a few sizes (cells, nuclei) on a noisy dark background, uint8."""
    rng = np.random.default_rng(seed)
    image = rng.standard_normal((size, size), dtype=np.float32)
    image *= 6.0
    image += 20.0
    half = 24
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1]
    kernels = [np.exp(-(yy**2 + xx**2) / (2.0 * s * s)).astype(np.float32) for s in (3, 5, 7, 9)]
    count = size * size // 3000  # about 22,000 blobs on 8192x8192
    ys = rng.integers(half, size - half - 1, count)
    xs = rng.integers(half, size - half - 1, count)
    kinds = rng.integers(0, len(kernels), count)
    amplitudes = rng.uniform(60, 200, count).astype(np.float32)
    for y, x, kind, amplitude in zip(ys, xs, kinds, amplitudes, strict=True):
        image[y - half : y + half + 1, x - half : x + half + 1] += amplitude * kernels[kind]
    return np.clip(image, 0, 255).astype(np.uint8)


def make_job(args, workdir: Path, r: dict):
    """The upload as a new job of the bench user, converted here (timed); its token too."""
    import large_image
    import tifffile
    from django.core.files import File
    from django.db.models.signals import post_save
    from rest_framework.authtoken.models import Token

    from bench.depth_common import bench_user
    from predictions.models import PredictionJob
    from tiles.models import Layer, TiledImage
    from tiles.services.build import build_job

    # Built here, timed: no build task for a worker to pick up.
    post_save.disconnect(sender=PredictionJob, dispatch_uid="tiles_job_created")
    owner = bench_user()
    PredictionJob.objects.filter(
        owner=owner, input_image__startswith="input_images/bench-tiles"
    ).delete()
    upload = workdir / "bench-tiles.tif"
    tifffile.imwrite(upload, synthetic_image(SIZE, args.seed), rowsperstrip=8)  # uncompressed
    r["upload_mb"] = upload.stat().st_size / 1e6
    with upload.open("rb") as handle:
        job = PredictionJob.objects.create(
            owner=owner, model_type="watershed", input_image=File(handle, name=upload.name)
        )
    started = time.perf_counter()
    build_job(job)
    r["build_s"] = time.perf_counter() - started
    tiled = TiledImage.objects.get(job=job, layer=Layer.INPUT)
    r["pyramid"] = large_image.open(tiled.file.path).getMetadata()
    r["levels"] = int(r["pyramid"]["levels"])
    r["tiled_mb"] = tiled.file.size / 1e6
    print(f"build_job {r['build_s']:.1f} s: {r['pyramid']}")
    return job, tiled, Token.objects.get_or_create(user=owner)[0].key


def tile_sample(levels: int, full: int, seed: int) -> list[tuple[int, int, int]]:
    """``full`` distinct tiles at the full-resolution level, a few at each lower level."""
    rng = np.random.default_rng(seed)
    top = levels - 1
    per_level = {top: full, top - 1: 4, top - 2: 4, top - 3: 2}
    tiles = []
    for z in range(top, -1, -1):
        side = 2**z
        want = min(per_level.get(z, 1), side * side)
        for index in rng.choice(side * side, size=want, replace=False):
            tiles.append((z, int(index % side), int(index // side)))
    return tiles


def stats_ms(samples: list[float]) -> dict:
    values = np.asarray(samples) * 1e3
    return {
        "median": float(np.median(values)),
        "p90": float(np.percentile(values, 90)),
        "p95": float(np.percentile(values, 95)),
        "n": len(values),
    }


# ---------------------------------------------------------------------------------------------
# In process


def interleaved(fetch, sample, rounds, bodies, before=None) -> dict[str, list[float]]:
    """Time every side on every tile, ``rounds`` times, the order rotating from one tile to
    the next (no side always runs right after another). A side's body for a tile must not
    change from one request to the next."""
    times: dict[str, list[float]] = {side: [] for side in SIDES}
    for round_ in range(rounds):
        for i, tile in enumerate(sample):
            shift = (i + round_) % len(SIDES)
            for side in SIDES[shift:] + SIDES[:shift]:
                if before:
                    before()
                elapsed, body = fetch(side, tile)
                times[side].append(elapsed)
                first = bodies.setdefault(side, {}).setdefault(tile, body)
                assert body == first, f"{side} returned a different body for tile {tile}"
    return times


def count_cache_hits(action) -> tuple[int, int]:
    """Run ``action`` counting the tile cache's hits and misses (large-image's Django cache)."""
    from large_image.cache_util.cache import getTileCache

    django_cache = getTileCache()[0]._django_cache
    original, counts = django_cache.get, {"hit": 0, "miss": 0}

    def counting_get(key, default=None, version=None):
        value = original(key, default, version)
        counts["miss" if value is None else "hit"] += 1
        return value

    django_cache.get = counting_get
    try:
        action()
    finally:
        del django_cache.get
    return counts["hit"], counts["miss"]


def in_process(args, r: dict, fetch, sample, cache, redis_client) -> None:
    for side in SIDES:  # open each side's tile source once: a server keeps it in memory too
        fetch(side, sample[0])
    bodies: dict = {}
    cold = interleaved(fetch, sample, args.cold_rounds, bodies, before=cache.clear)
    r["identical"] = all(len({bodies[side][tile] for side in SIDES}) == 1 for tile in sample)
    assert r["identical"], "the sides returned different tiles"

    # Warm: every tile cached first (untimed), then timed rounds; bodies as when cold.
    cache.clear()
    for tile in sample:
        for side in SIDES:
            fetch(side, tile)
    r["keys_before"] = redis_client.dbsize()
    warm = interleaved(fetch, sample, args.warm_rounds, bodies)
    r["keys_after"] = redis_client.dbsize()
    r["hits"], r["misses"] = count_cache_hits(
        lambda: [fetch(side, tile) for tile in sample for side in SIDES]
    )
    for kind, times in (("cold", cold), ("warm", warm)):
        r[kind] = {side: stats_ms(v) for side, v in times.items()}
        ours = r[kind]["ours"]["median"]
        r[kind + "_ratio"] = {side: ours / r[kind][side]["median"] for side in SIDES}
        print(f"{kind}: " + "; ".join(f"{side} {r[kind][side]}" for side in SIDES))
        print(f"{kind}: ours / plain {ours / r[kind]['plain']['median']:.3f}, "
              f"ours / noauth {ours / r[kind]['noauth']['median']:.3f}")  # fmt: skip
    print(f"warm: Redis keys {r['keys_before']} -> {r['keys_after']}; "
          f"counted pass {r['hits']} hits, {r['misses']} misses")  # fmt: skip


def record_query(queries: list[str], execute, sql, params, many, context):
    queries.append(sql)
    return execute(sql, params, many, context)


def profile(fetch, sample, requests: int) -> None:
    """cProfile of ``requests`` warm requests per side, and each side's queries, printed."""
    import cProfile
    import pstats

    from django.db import connection

    for side in ("ours", "plain"):
        profiler = cProfile.Profile()
        profiler.enable()
        for i in range(requests):
            fetch(side, sample[i % len(sample)])
        profiler.disable()
        print(f"--- cProfile, {requests} warm requests, {side}:")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(
            r"tiles/api|rest_framework/(authentication|permissions|generics|views)"
            r"|django_large_image/(utilities|cache|rest/(base|viewsets|tiles))"
            r"|urls/(base|resolvers)\.py:\d+\(resolve\)|db/models/query\.py|db/backends/utils\.py",
            30,
        )
        queries: list[str] = []
        with connection.execute_wrapper(partial(record_query, queries)):
            fetch(side, sample[1])
        print(f"{side}: {len(queries)} queries per warm request")
        for sql in queries:
            print("    " + sql[:200])


def plain_upload(job, token: str, cache) -> dict:
    """A plain viewset on the original striped upload, cold: what the conversion buys."""
    import large_image
    from django.test import Client

    client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Token {token}")
    meta = client.get(f"/bench/plain/uploads/{job.pk}/tiles/metadata").json()
    top = int(meta["levels"]) - 1
    rng = np.random.default_rng(1)
    tiles = [(top, int(i % 2**top), int(i // 2**top)) for i in rng.choice(4**top, 8, False)]
    times = {}
    for z, x, y in [*tiles, (0, 0, 0)]:
        cache.clear()
        started = time.perf_counter()
        response = client.get(f"/bench/plain/uploads/{job.pk}/tiles/{z}/{x}/{y}.png")
        times[z, x, y] = time.perf_counter() - started
        assert response.status_code == 200, response.content[:300]
    return {
        "reader": type(large_image.open(job.input_image.path)).__name__,
        "tile": int(meta["tile_size"]),
        "levels": int(meta["levels"]),
        "full_ms": float(np.median([times[tile] for tile in tiles])) * 1e3,
        "overview_ms": times[0, 0, 0] * 1e3,
        "n": len(tiles),
    }


# ---------------------------------------------------------------------------------------------
# Under load: gunicorn, and a client in a separate process (--load-client '<json>')


def load_client(spec: dict) -> dict:
    """Drive ``spec["threads"]`` keep-alive connections until the time is up (``loop``: random
    tiles of ``paths``) or every path was requested once (``once``)."""
    paths, threads = spec["paths"], spec["threads"]
    queue = list(reversed(paths))
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors = [0] * threads
    start = threading.Barrier(threads + 1)
    deadline = [0.0]

    def connect() -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", spec["port"], timeout=60)

    def worker(index: int) -> None:
        rng = random.Random(spec["seed"] + index)
        conn = connect()
        start.wait()
        while time.perf_counter() < deadline[0]:
            try:
                path = queue.pop() if spec["mode"] == "once" else rng.choice(paths)
            except IndexError:
                break
            started = time.perf_counter()
            status, body = 0, b""
            for _ in range(2):  # the server may have closed an idle connection: retry once
                try:
                    conn.request("GET", path, headers=spec["headers"])
                    response = conn.getresponse()
                    status, body = response.status, response.read()
                    break
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = connect()
            if status == 200 and body:
                latencies[index].append(time.perf_counter() - started)
            else:
                errors[index] += 1
        conn.close()

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in workers:
        thread.start()
    deadline[0] = time.perf_counter() + spec["seconds"]
    began = time.perf_counter()
    start.wait()
    for thread in workers:
        thread.join()
    return {
        "latencies": [x for per in latencies for x in per],
        "errors": sum(errors),
        "elapsed": time.perf_counter() - began,
    }


def run_load(port: int, paths, headers, seconds: float, threads: int, mode: str, seed=0):
    spec = {"port": port, "paths": paths, "headers": headers, "seconds": seconds,
            "threads": threads, "mode": mode, "seed": seed}  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-m", "bench.tiles", "--load-client", json.dumps(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def by_segments(run_segment) -> dict:
    """Each side's time in two segments, run in the order of ``SIDES`` and then reversed (no
    side always runs first, or on a machine warmer than the others)."""
    parts: dict[str, list] = {side: [] for side in SIDES}
    for side in SIDES + SIDES[::-1]:
        parts[side].append(run_segment(side, len(parts[side])))
    merged = {}
    for side, runs in parts.items():
        latencies = [x for run in runs for x in run["latencies"]]
        merged[side] = {
            **stats_ms(latencies or [float("nan")]),
            "tiles": len(latencies),
            "per_s": len(latencies) / sum(run["elapsed"] for run in runs),
            "errors": sum(run["errors"] for run in runs),
        }
    return merged


def start_gunicorn(args, log: Path) -> tuple[subprocess.Popen, int]:
    with socket.socket() as sock:  # a free port
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [
        sys.executable, "-m", "gunicorn", "config.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
        "--worker-class", args.worker_class, "--threads", str(args.gthreads),
        "--keep-alive", "30", "--log-level", "warning",
    ]  # fmt: skip
    handle = log.open("w")
    proc = subprocess.Popen(command, cwd=ROOT, env=os.environ.copy(), stdout=handle, stderr=handle)
    return proc, port


def wait_ready(port: int, path: str, headers: dict, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}:\n{log.read_text()}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("GET", path, headers=headers)
            status = conn.getresponse().status
        except (ConnectionRefusedError, http.client.RemoteDisconnected):
            time.sleep(0.3)
            continue
        finally:
            conn.close()
        if status != 200:
            raise RuntimeError(f"gunicorn answered {status} for {path}")
        return
    raise RuntimeError(f"gunicorn did not answer within 90 s:\n{log.read_text()}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def load_phase(args, workdir: Path, urls, headers, sample, levels, cache, redis_client) -> dict:
    """Warm tiles (random over the sample, cached beforehand), then tiles not cached."""
    paths = {side: [urls[side](*tile) for tile in sample] for side in SIDES}
    # Full-resolution tiles outside the sample, in two halves: a side's two segments.
    top, taken = levels - 1, set(sample)
    fresh = [(top, x, y) for y in range(2**top) for x in range(2**top) if (top, x, y) not in taken]
    random.Random(args.seed).shuffle(fresh)
    halves = (fresh[: len(fresh) // 2], fresh[len(fresh) // 2 :])
    log = workdir / "gunicorn.log"
    proc, port = start_gunicorn(args, log)

    def warm(side, segment):
        seconds, seed = args.load_seconds / 2, args.seed + segment
        return run_load(port, paths[side], headers[side], seconds, args.threads, "loop", seed)

    def uncached(side, segment):
        cache.clear()  # plain and noauth share cache keys (the same file, the same style)
        side_paths = [urls[side](*tile) for tile in halves[segment]]
        return run_load(port, side_paths, headers[side], 120, args.threads, "once")

    try:
        for side in SIDES:
            wait_ready(port, paths[side][0], headers[side], proc, log)
        cache.clear()
        for side in SIDES:  # every tile cached, then every worker thread has opened its source
            run_load(port, paths[side], headers[side], 60, args.threads, "once")
            run_load(port, paths[side], headers[side], 2.0, args.threads, "loop")
        keys_before = redis_client.dbsize()
        result = {"warm": by_segments(warm), "keys": (keys_before, redis_client.dbsize())}
        result["uncached"] = by_segments(uncached)
    finally:
        stop(proc)
    errors = [
        line for line in log.read_text().splitlines() if "Traceback" in line or "ERROR" in line
    ]
    return {**result, "uncached_tiles": len(fresh), "server_errors": len(errors)}


# ---------------------------------------------------------------------------------------------
# The benchmark


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full-tiles", type=int, default=60)
    parser.add_argument("--cold-rounds", type=int, default=2)
    parser.add_argument("--warm-rounds", type=int, default=5)
    parser.add_argument("--load-seconds", type=float, default=15.0, help="per side")
    parser.add_argument("--threads", type=int, default=8, help="load client threads")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="gthread")
    parser.add_argument("--gthreads", type=int, default=4, help="threads per gthread worker")
    parser.add_argument(
        "--profile", type=int, nargs="?", const=200, default=0, metavar="REQUESTS",
        help="print a cProfile of REQUESTS (200) warm requests per side",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--cache-url", default=DEFAULT_CACHE_URL)
    parser.add_argument("--keep-workdir", action="store_true")
    parser.add_argument("--load-client", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load_client:
        print(json.dumps(load_client(json.loads(args.load_client))))
        return 0
    if redis_db(args.cache_url) in RESERVED_REDIS_DBS:
        parser.error(f"--cache-url {args.cache_url}: that Redis database belongs to the tests")

    workdir = Path(tempfile.mkdtemp(prefix="cellserve-bench-tiles-"))
    try:
        return run(args, workdir)
    finally:
        if not args.keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def run(args, workdir: Path) -> int:
    r: dict = {"load_before": os.getloadavg()}
    configure(args.database_url, args.cache_url, workdir)

    import redis
    from django.conf import settings
    from django.core.cache import cache, caches
    from django.test import Client

    if type(caches["default"]).__name__ != "RedisCache":
        raise SystemExit(f"the tile cache must be Redis (shared with gunicorn): {args.cache_url}")
    redis_client = redis.Redis.from_url(args.cache_url)
    job, tiled, token = make_job(args, workdir, r)
    prefixes = {
        "ours": f"/api/v1/tiles/inputs/{job.pk}/tiles",
        "plain": f"/api/v1/bench/plain/tiled/{tiled.pk}/tiles",
        "noauth": f"/api/v1/bench/plain-noauth/tiled/{tiled.pk}/tiles",
    }
    urls = {side: partial("{}/{}/{}/{}.png".format, prefix) for side, prefix in prefixes.items()}
    auth = {"Authorization": f"Token {token}"}
    headers = {"ours": auth, "plain": auth, "noauth": {}}
    client = Client(HTTP_HOST="localhost")

    def fetch(side: str, tile) -> tuple[float, bytes]:
        url = urls[side](*tile)
        started = time.perf_counter()
        response = client.get(url, headers=headers[side])
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, (url, response.status_code, response.content[:300])
        return elapsed, response.content

    r["sample"] = sample = tile_sample(r["levels"], args.full_tiles, args.seed)
    in_process(args, r, fetch, sample, cache, redis_client)
    if args.profile:
        profile(fetch, sample, args.profile)
    r["upload"] = plain_upload(job, token, cache)
    print(f"plain viewset on the upload: {r['upload']}")
    database = settings.DATABASES["default"]
    r["conn"] = (database["CONN_MAX_AGE"], database["CONN_HEALTH_CHECKS"])
    r["load"] = None
    if not args.skip_load:
        r["load"] = load_phase(
            args, workdir, urls, headers, sample, r["levels"], cache, redis_client
        )
    cache.clear()
    r["load_after"] = os.getloadavg()

    body = report(args, r)
    write_section("tiles", body)
    print(body)
    return 0


# ---------------------------------------------------------------------------------------------
# The report (docs/benchmarks.md, section "tiles")


def unwrap(text: str) -> str:
    """Markdown from an indented, wrapped text: each line joins the one before it, unless it
    starts a paragraph, a list item or a table row."""
    lines: list[str] = []
    for line in text.strip().splitlines():
        line = line.strip()
        if not line and lines and not lines[-1]:
            continue  # one blank line between paragraphs (an empty section leaves two)
        if not line or not lines or not lines[-1] or line.startswith(("- ", "|", "#")):
            lines.append(line)
        else:
            lines[-1] += " " + line
    return "\n".join(lines)


def rows(label: str, data, columns) -> str:
    """A table row per side; ``columns(side, data)`` gives the cells after the first two."""
    return "\n".join(f"| {label} | {LABELS[side]} | {columns(side, data)} |" for side in SIDES)


def report(args, r: dict) -> str:
    sample, levels, up = r["sample"], r["levels"], r["upload"]
    full = sum(1 for tile in sample if tile[0] == levels - 1)
    cold, warm = r["cold_ratio"], r["warm_ratio"]
    met = max(cold["plain"], warm["plain"]) <= MAX_RATIO and r["identical"]
    before, after = r["load_before"], r["load_after"]

    def in_process_cells(side, kind):
        s, ratio = r[kind][side], f"{r[kind + '_ratio'][side]:.2f}x"
        ratio = {"ours": "", "plain": f"**{ratio}**"}.get(side, ratio)
        return f"{s['median']:.2f} | {s['p90']:.2f} | {ratio}"

    cold_label = f"cold: tile cache cleared before each request ({r['cold']['ours']['n']} per side)"
    warm_label = f"warm: served from the cache ({r['warm']['ours']['n']} per side)"
    return unwrap(f"""
        ## Tiles (django-large-image)

        `bench/tiles.py --full-tiles {args.full_tiles} --cold-rounds {args.cold_rounds}
        --warm-rounds {args.warm_rounds} --load-seconds {args.load_seconds:g}
        --threads {args.threads}`: a synthetic {SIZE}x{SIZE} uint8 image (Gaussian blobs on a
        noisy dark background, seed {args.seed}) saved as a plain striped TIFF
        ({r["upload_mb"]:.0f} MB, uncompressed) and uploaded as a `watershed` job's input.

        **Conversion**: `tiles.services.build.build_job(job)` took **{r["build_s"]:.1f} s**
        (large_image_converter to a pyramidal TIFF of {r["pyramid"]["tileWidth"]}-px tiles in
        {levels} levels, {r["tiled_mb"]:.0f} MB).

        The same pyramidal TIFF through three endpoints (`bench/tiles_urls.py`):

        - **ours**: `GET /api/v1/tiles/inputs/<job>/tiles/{{z}}/{{x}}/{{y}}.png` (owner scoping,
          the `TiledImage` lookup, default style);
        - **plain, the baseline**: django-large-image's documented viewset (`ListModelMixin` +
          `GenericViewSet` + `LargeImageFileDetailMixin`, `queryset = TiledImage.objects.all()`,
          `FILE_FIELD_NAME = "file"`) dropped into this project: it declares no authentication
          or permission classes, so it gets the project's defaults (token or session
          authentication, authenticated users only);
        - **context: plain, no authentication**: the same with `AllowAny` and no authentication
          classes; not the baseline, shown so that nothing is hidden.

        Ours and plain send the same `Authorization: Token ...` header. The plain routes sit
        under `/api/v1/` right before ours in the URLconf, so both walk the same project routes
        (ours also walks the plain ones). The tile cache is Django's cache in Redis
        (`LARGE_IMAGE_CACHE_BACKEND = 'django'`, a Redis database of the bench's own); open
        tile sources stay in process memory on every side.

        ### In process: `django.test.Client`, every middleware, {len(sample)} tiles ({full} at
        full resolution z={levels - 1}, {len(sample) - full} at z=0-{levels - 2})

        | tiles | side | median (ms) | p90 (ms) | ours / side |
        |---|---|---:|---:|---:|
        {rows(cold_label, "cold", in_process_cells)}
        {rows(warm_label, "warm", in_process_cells)}

        Requests interleaved, the order rotating from one tile to the next. All three sides
        returned byte-identical PNGs for all {len(sample)} tiles, and every warm response was
        byte-identical to the cold one. Warm tiles came from the cache: the cache's Redis
        database held {r["keys_before"]} keys before the warm rounds and {r["keys_after"]}
        after (nothing rendered; the two plain sides share keys), and a counted pass over the
        sample had {r["hits"]} cache hits and {r["misses"]} misses.

        For reference, a plain viewset on the **original striped upload** (no conversion):
        large-image opens it with `{up["reader"]}` as {up["tile"]}-px tiles in {up["levels"]}
        levels; cold, {up["full_ms"]:.1f} ms median per full-resolution tile ({up["n"]} tiles)
        and {up["overview_ms"]:.1f} ms for the z=0 overview. Its tiles have
        {(up["tile"] // TILE) ** 2} times the pixels of a {TILE}-px tile: not a like-for-like
        row, and not what a 256-px tile viewer asks for.

        {load_section(args, r["load"], levels, r["conn"]) if r["load"] else ""}

        Load average (1/5/15 min): {before[0]:.2f}/{before[1]:.2f}/{before[2]:.2f} at the
        start, {after[0]:.2f}/{after[1]:.2f}/{after[2]:.2f} at the end (a shared machine).

        **Result:** ours is {cold["plain"]:.3f}x (cold) and {warm["plain"]:.3f}x (warm) the
        plain viewset's median, against a target of at most {MAX_RATIO:g}x:
        {"target met" if met else "**target missed**"} (against the unauthenticated plain
        viewset: {cold["noauth"]:.2f}x cold, {warm["noauth"]:.2f}x warm); warm tiles are served
        from the cache; {SIZE}x{SIZE} converted in {r["build_s"]:.1f} s.
        """)


def load_section(args, load: dict, levels: int, conn: tuple) -> str:
    w = load["warm"]

    def cells(side, data):
        d = data[side]
        ratio = "" if side == "ours" else f"{data['ours']['per_s'] / d['per_s']:.2f}x"
        return f"{d['per_s']:.0f} | {ratio} | {d['median']:.1f} | {d['p95']:.1f} | {d['errors']}"

    warm_label = f"warm (cached): random over the sample, {args.load_seconds:g} s"
    uncached_label = f"uncached: the other {load['uncached_tiles']} z={levels - 1} tiles, once"
    return f"""
        ### Under load: gunicorn on 127.0.0.1, `--workers {args.workers} --worker-class
        {args.worker_class} --threads {args.gthreads}`

        The client is a separate process: {args.threads} threads, each with its own keep-alive
        `http.client` connection. Database connections are kept between requests as in
        production: `CONN_MAX_AGE = {conn[0]}`, `CONN_HEALTH_CHECKS = {conn[1]}`
        (`bench/tiles_settings.py`, as `config/settings/production.py`).

        | tiles | side | tiles/s | ours / side (tiles/s) | median (ms) | p95 (ms) | errors |
        |---|---|---:|---:|---:|---:|---:|
        {rows(warm_label, w, cells)}
        {rows(uncached_label, load["uncached"], cells)}

        Each side's time split into two segments, run ours, plain, no-auth, no-auth, plain,
        ours. Warm: {w["ours"]["tiles"]:,}, {w["plain"]["tiles"]:,} and
        {w["noauth"]["tiles"]:,} tiles; the cache's Redis database held {load["keys"][0]} keys
        before and {load["keys"][1]} after (nothing rendered). Uncached: the cache flushed
        before each segment. Server errors logged: {load["server_errors"]}. Client and server
        share the machine's {os.cpu_count()} cores.
        """


if __name__ == "__main__":
    sys.exit(main())
