"""Fixtures shared by every app's tests."""

import io
import os
import time
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image
from rest_framework.test import APIClient

SHARED_DATA = Path(__file__).resolve().parent.parent / "shared" / "data"
NUCLEI = SHARED_DATA / "nuclei"


def blobs_image(shape=(96, 128), centers=((30, 30), (30, 80), (70, 50)), radius=12) -> np.ndarray:
    """Bright discs on a dark, slightly noisy background (uint8)."""
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    image = np.full(shape, 20, np.float32)
    for r, c in centers:
        image[(rows - r) ** 2 + (cols - c) ** 2 <= radius**2] = 200
    noise = np.random.default_rng(0).normal(0, 4, shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def blobs() -> np.ndarray:
    return blobs_image()


@pytest.fixture
def blobs_png(blobs) -> bytes:
    return png_bytes(blobs)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def nuclei_dir() -> Path:
    if not NUCLEI.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"test data missing: {NUCLEI}")
        pytest.skip(f"test data not found at {NUCLEI}")
    return NUCLEI


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("alice", password="pw-alice-123")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user("bob", password="pw-bob-123")


def token_client(user) -> APIClient:
    from rest_framework.authtoken.models import Token

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def api_client(user) -> APIClient:
    return token_client(user)


@pytest.fixture
def other_client(other_user) -> APIClient:
    return token_client(other_user)


@pytest.fixture
def eager_celery():
    """Run tasks in-process (unit and API tests; the integration test uses a real worker)."""
    from config.celery import app

    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield app
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous


@pytest.fixture
def celery_worker_process(media_root, tmp_path):
    """A real Celery worker on both queues, sharing this test's database, media and Redis.

    Yields the path of its log. Integration tests use it with ``transaction=True`` so the
    worker sees committed rows; nothing about Celery, Redis or PostgreSQL is mocked.
    """
    import redis
    from django.conf import settings

    from tests.helpers import processes

    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    worker = processes.start_worker(
        processes.service_env(media_root, tmp_path), tmp_path / "worker.log"
    )
    yield worker.log
    worker.stop()


def token_session(user) -> requests.Session:
    """A requests session authenticated as ``user``, for integration tests over real HTTP."""
    from rest_framework.authtoken.models import Token

    http = requests.Session()
    http.headers["Authorization"] = f"Token {Token.objects.create(user=user).key}"
    return http


def poll(http, url, worker_log: Path, done, timeout_s: float, interval_s: float = 0.5):
    """GET ``url`` until ``done(response)``; after ``timeout_s``, fail with the worker's log."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = http.get(url, timeout=10)
        if done(response):
            return response
        time.sleep(interval_s)
    pytest.fail(f"{url} not done after {timeout_s}s; worker log:\n{worker_log.read_text()[-4000:]}")
