"""Real processes for the integration tests: workers, beat, gunicorn and Redis, on demand.

Leases are short here (4 s) and the watchdog runs every second, so each fault test takes
seconds, not minutes. Faults are injected by tests.helpers.fault_hooks, keyed on the uploaded
file's name.
"""

import time

import pytest

from tests.helpers import processes
from tests.helpers.http import token_session
from tests.helpers.images import blobs_image, png_bytes

TIMEOUT_S = 120
FAST_LEASES = {
    "CELLSERVE_LEASE_S": "4",
    "CELLSERVE_WATCHDOG_INTERVAL_S": "1",
    "CELLSERVE_MAX_ATTEMPTS": "3",
    "CELLSERVE_TEST_WORKER_IMPORTS": "tests.helpers.fault_hooks",
    "CELLSERVE_TEST_SLOW_S": "12",
}


@pytest.fixture
def cluster(media_root, tmp_path, django_user_model):  # noqa: C901 - a class of small methods
    """Start processes on demand; stop every one of them afterwards."""

    class Cluster:
        def __init__(self):
            self.started: list[processes.Process] = []
            self.broker = None
            self.env_overrides: dict[str, str] = {}
            self.http = token_session(django_user_model.objects.create_user("dora"))

        def env(self, **extra):
            broker = {"REDIS_URL": self.broker} if self.broker else {}
            settings = FAST_LEASES | self.env_overrides | broker | extra
            return processes.service_env(media_root, tmp_path, **settings)

        def keep(self, process):
            self.started.append(process)
            return process

        def worker(self, name: str, **options):
            log = tmp_path / f"{name}.log"
            return self.keep(processes.start_worker(self.env(), log, **options))

        def beat(self):
            log, schedule = tmp_path / "beat.log", tmp_path / "beat-schedule"
            return self.keep(processes.start_beat(self.env(), log, schedule))

        def web(self):
            self.port = processes.free_port()
            return self.keep(processes.start_web(self.env(), tmp_path / "web.log", self.port))

        def submit(self, name: str, content: bytes | None = None, **data: str) -> str:
            response = self.http.post(
                f"http://127.0.0.1:{self.port}/api/v1/predictions/",
                files={"input_image": (name, content or png_bytes(blobs_image()))},
                data={"model_type": "watershed", "min_size": "5", **data},
                timeout=30,
            )
            assert response.status_code == 201, response.text
            return response.json()["id"]

        def post(self, job_id: str, action: str) -> dict:
            url = f"http://127.0.0.1:{self.port}/api/v1/predictions/{job_id}/{action}/"
            return self.http.post(url, timeout=10).json()

        def get(self, job_id: str, action: str) -> bytes:
            url = f"http://127.0.0.1:{self.port}/api/v1/predictions/{job_id}/{action}/"
            response = self.http.get(url, timeout=30)
            assert response.status_code == 200, response.text[:300]
            return response.content

        def status(self, job_id: str) -> dict:
            url = f"http://127.0.0.1:{self.port}/api/v1/predictions/{job_id}/status/"
            return self.http.get(url, timeout=10).json()

        def wait_for(self, job_id: str, statuses: tuple[str, ...]) -> dict:
            deadline = time.monotonic() + TIMEOUT_S
            while time.monotonic() < deadline:
                body = self.status(job_id)
                if body["status"] in statuses:
                    return body
                time.sleep(0.3)
            logs = "\n".join(f"--- {p.log.name}\n{p.tail()}" for p in self.started)
            pytest.fail(f"job {job_id} not {statuses} after {TIMEOUT_S}s: {body}\n{logs}")

    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    cluster = Cluster()
    yield cluster
    for process in reversed(cluster.started):
        process.stop()
