"""Jobs survive faults: real workers, beat, gunicorn, Redis and PostgreSQL, nothing mocked.

- the worker's main process is killed (SIGKILL) mid-job, then a new worker starts;
- the process running a job dies on every delivery (a poison image);
- the worker loses its broker mid-job (a private redis-server, stopped and started again).

Faults are injected by tests.helpers.fault_hooks, keyed on the uploaded file's name; the
processes come from the ``cluster`` fixture (tests/conftest.py).
"""

import time

import pytest

from tests.helpers import processes

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


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
