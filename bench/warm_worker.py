"""Two Cellpose-SAM jobs through a real Celery worker on the embedded defaults: the second does not
load the model again. The checkpoint has random weights (speed does not depend on them)."""

import io
import re
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import serve
from bench.serve import bench_user, setup_django, token

PARAMS, QUICK = {"size": 256}, {"size": 64}


class Benchmark:
    def setup(self, params: dict) -> None:
        import torch
        from cellpose.vit import CPSAM

        self.size, self.tmp = params["size"], tempfile.TemporaryDirectory(prefix="bench-worker-")
        work = self.workdir = Path(self.tmp.name)
        (work / "models").mkdir()
        torch.manual_seed(0)
        torch.save(CPSAM(dtype=torch.float32).state_dict(), work / "models" / "cpsam")
        env = {"CELERY_BROKER_DIR": str(work / "broker"), "MEDIA_ROOT": str(work / "media")}
        env |= {"CELLPOSE_LOCAL_MODELS_PATH": str(work / "models"), "CELLPOSE_MODEL": "cpsam"}
        setup_django(url=f"sqlite:///{work / 'db.sqlite3'}", **env)
        self.worker = serve.start(serve.WORKER, work / "worker.log")

    def teardown(self) -> None:
        serve.stop(self.worker)

    def processing_time(self, seed: int) -> float:
        from django.core.files.uploadedfile import SimpleUploadedFile
        from django.test import Client
        from PIL import Image

        from predictions.models import JobStatus, PredictionJob

        rng, size = np.random.default_rng(seed), self.size
        image, (rows, cols) = rng.normal(30, 5, (size, size)), np.mgrid[:size, :size]
        for r, c in rng.integers(10, size - 10, (size // 8, 2)):
            image[(rows - r) ** 2 + (cols - c) ** 2 < 64] = 200
        png = io.BytesIO()
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(png, format="PNG")
        upload = SimpleUploadedFile(f"bench{seed}.png", png.getvalue(), content_type="image/png")
        client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Token {token(bench_user())}")
        form = {"input_image": upload, "model_type": "cpsam", "diameter": 30}  # defaults otherwise
        response = client.post("/api/v1/predictions/", form)
        assert response.status_code == 201, response.content
        job = PredictionJob.objects.get(pk=response.json()["id"])
        for _ in range(1800):  # 15 minutes at most
            job.refresh_from_db()
            assert job.status != JobStatus.FAILED, job.error_message
            if job.status == JobStatus.COMPLETED:
                return job.processing_time
            time.sleep(0.5)
        raise TimeoutError(f"job {job.pk} did not finish in 15 minutes")

    def track_jobs(self, results: dict) -> dict:
        first, second = self.processing_time(1), self.processing_time(2)
        log = (self.workdir / "worker.log").read_text()
        loads = re.findall(r"loaded Cellpose-SAM on (\S+) in ([\d.]+)s", log)
        device, load_s = loads[0] if loads else ("?", "nan")
        jobs = {"first": first, "second": second, "load": float(load_s)}
        return jobs | {"device": device, "loads": len(loads)}
