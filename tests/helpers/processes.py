"""Real processes for integration tests: Celery workers and beat, gunicorn, a private Redis.

Each shares the test's PostgreSQL database (tests using them need ``transaction=True``) and
media folder. Nothing is mocked; every process is stopped by the PID this module started.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.helpers.data import ROOT


@dataclass
class Process:
    popen: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or a lost node would."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=20)

    def stop(self, timeout_s: float = 20) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_env(media_root: Path, tmp_path: Path, **overrides: str) -> dict[str, str]:
    """The environment of a process that shares this test's database, media and Redis."""
    from django.conf import settings
    from django.db import connection

    db = connection.settings_dict
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.testing",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "MEDIA_ROOT": str(media_root),
        # No weights on test machines: cpsam jobs must fail with instructions, not hang.
        "CELLPOSE_LOCAL_MODELS_PATH": str(tmp_path / "models"),
        "CELLPOSE_MODEL": "cpsam-missing",
        "PYTHONUNBUFFERED": "1",
        **overrides,
    }


def _spawn(args: list[str], env: dict[str, str], log: Path) -> Process:
    with log.open("w") as out:
        popen = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    return Process(popen, log)


def start_worker(
    env: dict[str, str],
    log: Path,
    *,
    queues: str = "gpu,default",
    pool: str = "solo",
    concurrency: int = 1,
) -> Process:
    return _spawn(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queues,
         "--pool", pool, "--concurrency", str(concurrency), "--without-gossip",
         "--without-mingle", "-n", f"test-{uuid.uuid4().hex[:8]}@%h", "--loglevel", "INFO"],
        env, log,
    )  # fmt: skip


def start_beat(env: dict[str, str], log: Path, schedule: Path) -> Process:
    return _spawn(
        [sys.executable, "-m", "celery", "-A", "config", "beat", "-s", str(schedule),
         "--loglevel", "INFO"],
        env, log,
    )  # fmt: skip


def start_web(env: dict[str, str], log: Path, port: int, workers: int = 1) -> Process:
    """gunicorn with the production configuration file, on the testing settings."""
    process = _spawn(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application"],
        {**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers)},
        log,
    )
    wait_until(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), 60, process)
    return process


def start_redis(port: int, directory: Path, log: Path) -> Process:
    """A private redis-server that persists every write, so a restart keeps its queues."""
    directory.mkdir(parents=True, exist_ok=True)
    process = _spawn(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "yes", "--appendfsync", "always", "--dir", str(directory)],
        dict(os.environ), log,
    )  # fmt: skip
    wait_until(lambda: _redis_answers(port), 20, process)
    return process


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _redis_answers(port: int) -> bool:
    import redis

    try:
        return bool(redis.Redis(port=port, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def wait_until(condition, timeout_s: float, process: Process | None = None, interval_s=0.2):
    """Poll ``condition`` until it holds; fail with the process's log after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        if process is not None and process.popen.poll() is not None:
            raise AssertionError(f"process exited ({process.popen.returncode}):\n{process.tail()}")
        time.sleep(interval_s)
    log = process.tail() if process else ""
    raise AssertionError(f"not true after {timeout_s}s\n{log}")
