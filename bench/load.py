"""Job submission under load (gunicorn, a Celery worker, Redis, PostgreSQL) and an audit, against
the same body with an unknown ``model_type``, parsed and refused before anything is written."""

import io
import json
import re
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import redis
from PIL import Image
from urllib3 import encode_multipart_formdata

from bench import serve

PARAMS, QUICK = {"seconds": 60.0, "clients": 8}, {"seconds": 4.0}
REDIS_URL = "redis://127.0.0.1:6379/11"  # the bench's own: the tests use 12-15
DATABASE = "postgres://postgres@127.0.0.1:5432/cellserve_bench_load"
UNLIMITED = {"CELLSERVE_JOB_CREATE_RATE": "1000000/minute", "CELLSERVE_MAX_ACTIVE_JOBS": "1000000"}
RATIOS = {f"{s}_ratio": (f"jobs_{s}", f"refused_{s}") for s in ("per_s", "median", "p95")}


class Benchmark:
    def setup(self, params: dict) -> None:
        self.params, self.tmp = params, tempfile.TemporaryDirectory(prefix="bench-load-")
        self.workdir = work = Path(self.tmp.name)
        env = {"REDIS_URL": REDIS_URL, "CACHE_URL": REDIS_URL, "MEDIA_ROOT": str(work / "media")}
        serve.setup_django("config.settings.testing", url=DATABASE, fresh=True, **env, **UNLIMITED)
        redis.Redis.from_url(REDIS_URL).flushdb()
        self.token, log = serve.token(serve.bench_user()), work / "web.log"
        gunicorn = ["-c", "config/gunicorn.py", "config.wsgi:application"]
        self.web, self.port = serve.gunicorn(gunicorn, log, WEB_CONCURRENCY="2")
        self.worker = serve.start(serve.WORKER, work / "worker.log")

    def teardown(self) -> None:
        serve.stop(self.web)
        serve.stop(self.worker)

    def submit(self, model_type: str, seconds: float) -> tuple[list, float]:
        rows, cols = np.mgrid[:96, :128]
        image = np.full((96, 128), 20, np.uint8)
        for r, c in ((30, 30), (30, 80), (70, 50)):
            image[(rows - r) ** 2 + (cols - c) ** 2 <= 144] = 200
        png = io.BytesIO()
        Image.fromarray(image).save(png, format="PNG")
        fields = {"input_image": ("cells.png", png.getvalue(), "image/png"), "min_size": "5"}
        body, content_type = encode_multipart_formdata(fields | {"model_type": model_type})
        headers = {"Authorization": f"Token {self.token}", "Content-Type": content_type}
        request = ("POST", "/api/v1/predictions/", body, headers)
        return serve.hammer(self.port, [request], self.params["clients"], seconds)

    def audit(self, created: list[str]) -> dict:
        """Once the worker has run every job: lost, unexpected, unfinished and repeated ones."""
        from predictions.models import ACTIVE_STATUSES, JobStatus, PredictionJob

        started = time.monotonic()
        while PredictionJob.objects.filter(status__in=ACTIVE_STATUSES).exists():
            assert time.monotonic() - started < 1800, "jobs still queued after 30 minutes"
            time.sleep(1)
        drained_s = time.monotonic() - started
        rows = PredictionJob.objects.values_list("pk", "status", "attempts")
        jobs = {str(pk): (status, attempts) for pk, status, attempts in rows}
        log = (self.workdir / "worker.log").read_text()
        claims = Counter(re.findall(r"job ([0-9a-f-]{36}): attempt \d+ claimed", log))
        out = {"drained_s": drained_s, "created": len(created), "job_rows": len(jobs)}
        out |= {"lost": len(set(created) - set(jobs)), "unexpected": len(set(jobs) - set(created))}
        out["not_completed"] = sum(status != JobStatus.COMPLETED for status, _ in jobs.values())
        out["more_attempts"] = sum(attempts != 1 for _, attempts in jobs.values())
        return out | {"claimed_twice": sum(claims[pk] != 1 for pk in jobs)}

    def track_submission(self, results: dict) -> dict:
        self.submit("no-such-model", 3)  # both gunicorn workers warmed up
        refused = self.submit("no-such-model", self.params["seconds"] / 4)
        jobs = self.submit("watershed", self.params["seconds"])
        created = [json.loads(body)["id"] for status, _, body in jobs[0] if status == 201]
        return self.audit(created) | {"refused": serve.stats(*refused), "jobs": serve.stats(*jobs)}
