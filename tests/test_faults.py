"""Jobs survive faults: real workers, beat, gunicorn, Redis and PostgreSQL, nothing mocked.

- the worker's main process is killed (SIGKILL) mid-job, then a new worker starts;
- the process running a job dies on every delivery (a poison image);
- the worker loses its broker mid-job (a private redis-server, stopped and started again).

Faults are injected by tests.helpers.fault_hooks, keyed on the uploaded file's name. Leases are
short here (4 s) and the watchdog runs every second, so each test takes seconds, not minutes.
"""

import time

import pytest

from tests.helpers import processes
from tests.helpers.http import token_session
from tests.helpers.images import blobs_image, png_bytes

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
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
            self.http = token_session(django_user_model.objects.create_user("dora"))

        def env(self, **extra):
            broker = {"REDIS_URL": self.broker} if self.broker else {}
            return processes.service_env(media_root, tmp_path, **FAST_LEASES, **broker, **extra)

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

        def submit(self, name: str) -> str:
            response = self.http.post(
                f"http://127.0.0.1:{self.port}/api/v1/predictions/",
                files={"input_image": (name, png_bytes(blobs_image()), "image/png")},
                data={"model_type": "watershed", "min_size": "5"},
                timeout=30,
            )
            assert response.status_code == 201, response.text
            return response.json()["id"]

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


def test_a_job_whose_worker_is_killed_completes_on_a_new_worker(cluster):
    cluster.web()
    cluster.beat()
    first = cluster.worker("worker-1")  # solo pool: the main process runs the job
    job_id = cluster.submit("slow-cells.png")
    assert cluster.wait_for(job_id, ("processing",))["attempts"] == 1

    first.kill()
    cluster.worker("worker-2")
    done = cluster.wait_for(job_id, ("completed", "failed"))
    assert done["status"] == "completed", done
    assert done["attempts"] == 2
    assert done["num_cells_detected"] == 3


def test_a_job_that_kills_its_process_every_time_fails_after_max_attempts(cluster):
    cluster.web()
    cluster.beat()
    worker = cluster.worker("worker", pool="prefork", concurrency=1)
    job_id = cluster.submit("die-cells.png")
    done = cluster.wait_for(job_id, ("completed", "failed"))
    assert done["status"] == "failed", done
    assert done["attempts"] == 3, done
    assert "stopped while processing this job 3 times (out of memory?)" in done["error_message"]
    assert worker.popen.poll() is None  # the worker itself lives on, and serves other jobs
    healthy = cluster.submit("cells.png")
    assert cluster.wait_for(healthy, ("completed", "failed"))["status"] == "completed"


def test_a_job_completes_when_the_worker_loses_its_broker_mid_job(cluster, tmp_path):
    port = processes.free_port()
    redis_dir, redis_log = tmp_path / "redis", tmp_path / "redis.log"
    broker = cluster.keep(processes.start_redis(port, redis_dir, redis_log))
    cluster.broker = f"redis://127.0.0.1:{port}/0"
    cluster.web()
    cluster.beat()
    cluster.worker("worker")
    job_id = cluster.submit("slow-cells.png")
    cluster.wait_for(job_id, ("processing",))

    broker.stop()  # SIGTERM: Redis writes its append-only file and exits
    time.sleep(3)  # the worker's connection is gone while it computes
    cluster.keep(processes.start_redis(port, redis_dir, tmp_path / "redis-2.log"))

    done = cluster.wait_for(job_id, ("completed", "failed"))
    assert done["status"] == "completed", done
    # The lease lives in PostgreSQL, so the outage cost no attempt.
    assert done["num_cells_detected"] == 3
    assert done["attempts"] == 1
