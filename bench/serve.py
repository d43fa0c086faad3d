"""Django on a scratch database, the processes benchmarks start (gunicorn, Celery), HTTP load."""

import http.client
import os
import random
import socket
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
DEVELOPMENT = "config.settings.development"
DATABASE_URL = "postgres://postgres@127.0.0.1:5432/cellserve_bench"
WORKER = ["celery", "-A", "config", "worker", "-Q", "gpu,default", "--pool", "solo", "-l", "INFO"]


def start(module_args: list[str], log: Path, **environment: str) -> subprocess.Popen:
    command, env = [sys.executable, "-m", *module_args], os.environ | environment
    with log.open("w") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen) -> None:
    process.terminate()  # gunicorn finishes its requests, a worker its task: give them time
    process.wait(timeout=300)


def gunicorn(args: list[str], log: Path, **environment: str) -> tuple[subprocess.Popen, int]:
    """gunicorn on a free loopback port, once it answers ``/healthz``; and the port."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
    process = start(["gunicorn", *args, "--bind", f"127.0.0.1:{port}"], log, **environment)
    deadline = time.monotonic() + 90
    while send(port, None, ("GET", "/healthz", None, {}))[1] != 200:
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"gunicorn is not answering:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)
    return process, port


def send(port: int, conn, request: tuple) -> tuple[http.client.HTTPConnection | None, int, bytes]:
    """(connection, status, body); a GET on a connection the server closed is retried once."""
    method, path, body, headers = request
    for _ in range(2 if method == "GET" else 1):
        conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return conn, response.status, response.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = None
    return conn, 0, b""


def hammer(port, requests: list[tuple], threads: int, seconds: float, once=False, seed=0):
    """(answers, seconds) of ``threads`` keep-alive connections sending back to back: random
    ``requests`` (method, path, body, headers) until ``seconds`` are up or, ``once``, each once."""
    queue, deadline = list(reversed(requests)), time.perf_counter() + seconds

    def client(index: int) -> list[tuple[int, float, bytes]]:  # status (0: none), seconds, body
        rng, conn, answers = random.Random(seed + index), None, []  # noqa: S311 (not a secret)
        while time.perf_counter() < deadline:
            try:
                request = queue.pop() if once else rng.choice(requests)
            except IndexError:  # once, and every request sent
                break
            started = time.perf_counter()
            conn, status, body = send(port, conn, request)
            answers.append((status, time.perf_counter() - started, body if status == 201 else b""))
        return answers

    began = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        answers = [answer for done in pool.map(client, range(threads)) for answer in done]
    return answers, time.perf_counter() - began


def stats(answers: list[tuple[int, float, bytes]], seconds: float) -> dict:
    statuses = Counter(status for status, _, _ in answers)
    median, p95 = np.percentile([latency * 1e3 for _, latency, _ in answers], [50, 95])
    out = {"median": median, "p95": p95, "per_s": len(answers) / seconds, "ok": statuses[200]}
    return out | {"errors": len(answers) - statuses[200], "answers": str(dict(statuses))}


def setup_django(settings=DEVELOPMENT, *, url=DATABASE_URL, fresh=False, migrate=True, **env: str):
    """Django on the database at ``url`` (created if missing; dropped first if ``fresh``), migrated,
    in this process's environment: every server or worker a benchmark starts shares it."""
    if url.startswith("postgres"):
        server, name = url.rsplit("/", 1)
        with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
            database = sql.Identifier(name)
            if fresh:
                connection.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(database))
            exists = "SELECT FROM pg_database WHERE datname = %s"
            if not connection.execute(exists, [name]).rowcount:
                connection.execute(sql.SQL("CREATE DATABASE {}").format(database))
    os.environ.update(DJANGO_SETTINGS_MODULE=settings, DATABASE_URL=url, REDIS_URL="")
    os.environ.update(CELLSERVE_ALLOW_ANONYMOUS="false", **env)
    import django
    from django.core.management import call_command

    django.setup()
    if migrate:
        call_command("migrate", verbosity=0)


def bench_user():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get_or_create(username="bench")[0]


def token(user) -> str:
    from rest_framework.authtoken.models import Token

    return Token.objects.get_or_create(user=user)[0].key
