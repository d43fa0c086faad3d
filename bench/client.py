"""The Python client (``cellserve``) against the seed's own ``batch_predict`` /
``wait_for_completion`` loops with ``requests``, on the same 50 DSB dev images, through gunicorn
and one real Celery worker on PostgreSQL and Redis: wall time per image from the first upload to
the last file downloaded (masks and CSV of every job), polling both at 0.5 s."""

import shutil
import tempfile
import time
from pathlib import Path

import requests
from cellserve import Client

from bench import serve
from tests.helpers.data import NUCLEI_DEV, require

PARAMS, QUICK = {"images": 50, "repeat": 3}, {"images": 6, "repeat": 1}
REDIS_URL = "redis://127.0.0.1:6379/11"
DATABASE = "postgres://postgres@127.0.0.1:5432/cellserve_bench_client"
RATIOS = {"client_ratio": ("client_s_per_image", "seed_s_per_image")}
POLL_S = 0.5
FIELDS = {"model_type": "watershed"}
WORKER = ["celery", "-A", "config", "worker", "-Q", "gpu,default", "--pool", "prefork",
          "--concurrency", "2", "-l", "WARNING"]  # fmt: skip


class Benchmark:
    def setup(self, params: dict) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="bench-client-")
        work = Path(self.tmp.name)
        env = {"REDIS_URL": REDIS_URL, "CACHE_URL": REDIS_URL, "MEDIA_ROOT": str(work / "m")}
        env |= {"CELLSERVE_JOB_CREATE_RATE": "100000/minute"}
        serve.setup_django("config.settings.testing", url=DATABASE, fresh=True, **env)
        self.token = serve.token(serve.bench_user())
        gunicorn = ["-c", "config/gunicorn.py", "config.wsgi:application"]
        self.web, port = serve.gunicorn(gunicorn, work / "web.log", WEB_CONCURRENCY="2")
        self.worker = serve.start(WORKER, work / "worker.log")
        self.url = f"http://127.0.0.1:{port}"
        sources = sorted(p for p in require(NUCLEI_DEV).glob("*.png"))
        self.images = []
        for index in range(params["images"]):
            copy = work / "in" / f"{index:03d}_{sources[index % len(sources)].name}"
            copy.parent.mkdir(exist_ok=True)
            shutil.copy(sources[index % len(sources)], copy)
            self.images.append(copy)
        self.out = work / "out"
        time.sleep(5)  # the worker's start

    def teardown(self) -> None:
        serve.stop(self.worker)
        serve.stop(self.web)

    def time_seed(self) -> float:
        """The seed's README loops, plus downloading what the client downloads."""
        http = requests.Session()
        http.headers["Authorization"] = f"Token {self.token}"
        api = f"{self.url}/api/v1"
        started = time.perf_counter()
        ids = []
        for path in self.images:
            with path.open("rb") as handle:
                answer = http.post(
                    f"{api}/predictions/", files={"input_image": handle}, data=FIELDS
                )
            ids.append(answer.json()["id"])
        waiting = set(ids)
        while waiting:
            for job_id in list(waiting):
                status = http.get(f"{api}/predictions/{job_id}/status/").json()["status"]
                if status in ("completed", "failed", "cancelled"):
                    waiting.discard(job_id)
            time.sleep(POLL_S)
        target = self._fresh_out()
        for job_id in ids:
            for action in ("download_masks", "download_csv"):
                body = http.get(f"{api}/predictions/{job_id}/{action}/").content
                (target / f"{job_id}_{action}").write_bytes(body)
        return (time.perf_counter() - started) / len(self.images)

    def time_client(self) -> float:
        client = Client(self.url, self.token)
        started = time.perf_counter()
        batch = client.submit_batch(self.images, **FIELDS)
        client.wait_batch(batch["id"], poll_s=POLL_S, progress=False)
        target = self._fresh_out()
        for job in client.batch(batch["id"])["jobs"]:
            client.download(job["id"], target / job["id"], ["masks", "csv"])
        return (time.perf_counter() - started) / len(self.images)

    def _fresh_out(self) -> Path:
        shutil.rmtree(self.out, ignore_errors=True)
        self.out.mkdir()
        return self.out

    def track_per_image(self, results: dict) -> dict:
        return {"seed_s_per_image": results["seed"], "client_s_per_image": results["client"]}
