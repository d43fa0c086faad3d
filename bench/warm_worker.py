"""A warm worker's second Cellpose-SAM job does not load the model again.

Starts a real Celery worker (embedded defaults: SQLite, filesystem broker, in a temporary
folder), gives it a Cellpose-SAM checkpoint of the real architecture with random weights
(weights cannot be downloaded here; speed does not depend on their values), submits two jobs
one after the other and compares their processing times and the worker's model loads.

    .venv/bin/python -m bench.warm_worker [--size 256]
"""

from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.report import write_section

ROOT = Path(__file__).resolve().parent.parent


def make_checkpoint(path: Path) -> None:
    import torch
    from cellpose.vit import CPSAM

    torch.manual_seed(0)
    torch.save(CPSAM(dtype=torch.float32).state_dict(), path)


def configure(workdir: Path) -> dict[str, str]:
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings.development",
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "CELERY_BROKER_DIR": str(workdir / "broker"),
        "MEDIA_ROOT": str(workdir / "media"),
        "CELLPOSE_LOCAL_MODELS_PATH": str(workdir / "models"),
        "CELLPOSE_MODEL": "cpsam",
        "CELLPOSE_DEVICE": os.environ.get("CELLPOSE_DEVICE", "auto"),
        "REDIS_URL": "",
    }
    os.environ.update(env)
    return env


def submit(owner, size: int, seed: int):
    from django.core.files.base import ContentFile
    from django.db import transaction
    from PIL import Image

    from predictions.services.jobs import JobRequest, create_job

    rng = np.random.default_rng(seed)
    image = rng.normal(30, 5, (size, size))
    rows, cols = np.mgrid[:size, :size]
    for r, c in rng.integers(10, size - 10, (size // 8, 2)):
        image[(rows - r) ** 2 + (cols - c) ** 2 < 64] = 200
    buffer = io.BytesIO()
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(buffer, format="PNG")
    request = JobRequest("cpsam", 30.0, 0.4, 0.0, 15)
    with transaction.atomic():
        return create_job(owner, ContentFile(buffer.getvalue(), name=f"bench{seed}.png"), request)


def wait(job, timeout: float = 900):
    from predictions.models import JobStatus

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.status in (JobStatus.COMPLETED, JobStatus.FAILED):
            return job
        time.sleep(0.5)
    raise SystemExit(f"job {job.id} did not finish in {timeout}s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "models").mkdir()
        make_checkpoint(workdir / "models" / "cpsam")
        env = {**os.environ, **configure(workdir)}
        import django

        django.setup()
        from django.contrib.auth import get_user_model
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        owner = get_user_model().objects.create(username="bench")
        log_path = workdir / "worker.log"
        with log_path.open("w") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "gpu,default",
                 "--pool", "solo", "--loglevel", "INFO"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            first = wait(submit(owner, args.size, 1))
            second = wait(submit(owner, args.size, 2))
        finally:
            worker.terminate()
            worker.wait(timeout=30)
        text = log_path.read_text()
    loads = re.findall(r"loaded Cellpose-SAM on (\S+) in ([\d.]+)s", text)
    if first.status != "completed" or second.status != "completed":
        raise SystemExit(
            f"jobs failed: {first.error_message} {second.error_message}\n{text[-3000:]}"
        )
    device, load_s = loads[0] if loads else ("?", "nan")
    body = (
        "## Warm worker: the model is loaded once per worker process\n\n"
        f"Two Cellpose-SAM jobs ({args.size}x{args.size}, diameter 30) in one real Celery "
        f"worker on `{device}`, checkpoint of the real architecture with random weights.\n\n"
        "| | processing time (s) |\n|---|---:|\n"
        f"| first job (cold: loads the model) | {first.processing_time:.2f} |\n"
        f"| second job (warm) | {second.processing_time:.2f} |\n"
        f"| model load inside the first job | {float(load_s):.2f} |\n\n"
        f"Model loads logged by the worker across both jobs: **{len(loads)}**. On a CPU the "
        "network pass dominates and varies with the (random) flows, so the two job times are "
        "not expected to differ by exactly the load time; the load count is the point."
    )
    print(body)
    write_section("warm-worker", body)
    if len(loads) != 1:
        raise SystemExit(f"expected exactly one model load, saw {len(loads)}")


if __name__ == "__main__":
    main()
