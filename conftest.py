"""Fixtures shared by every app's tests; helpers live in ``tests.helpers``."""

from pathlib import Path

import numpy as np
import pytest
from django.db.models.signals import post_save
from rest_framework.test import APIClient

from depth_images.models import DepthDataset
from predictions.models import PredictionJob
from predictions.signals import job_completed
from tests.helpers import data, jobs
from tests.helpers.http import token_client
from tests.helpers.images import blobs_grid, blobs_image, png_bytes, tiff16_bytes
from tiles import signals as tile_signals

# The receivers that queue tile builds. Off unless a test asks for ``build_tiles`` (or starts
# real processes): building pyramids is the slowest thing most tests would do, for nothing.
TILE_BUILD_RECEIVERS = [
    (post_save, tile_signals.queue_input_tiles, PredictionJob, "tiles_job_created"),
    (job_completed, tile_signals.queue_result_tiles, None, "tiles_job_completed"),
    (post_save, tile_signals.queue_dataset_tiles, DepthDataset, "tiles_dataset_saved"),
]


@pytest.fixture(autouse=True)
def _tile_builds_only_on_request(request):
    if "build_tiles" in request.fixturenames or request.node.get_closest_marker("integration"):
        yield
        return
    for signal, receiver, sender, uid in TILE_BUILD_RECEIVERS:
        signal.disconnect(receiver, sender=sender, dispatch_uid=uid)
    yield
    for signal, receiver, sender, uid in TILE_BUILD_RECEIVERS:
        signal.connect(receiver, sender=sender, dispatch_uid=uid)


# Segmented and tiled once per session (``prepared_jobs``); each test that uses one gets its own
# rows and file copies through ``tests.helpers.jobs.completed_job``.
PREPARED = {
    "large": (png_bytes(blobs_grid()), "grid.png"),
    "small": (png_bytes(blobs_image()), "blobs.png"),
    "16-bit": (tiff16_bytes(blobs_grid()), "grid16.tif"),
}


class PreparedJobs(dict):
    """Each prepared job is made on first use: a worker that never asks for one never builds it."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def __missing__(self, key: str) -> jobs.PreparedJob:
        content, name = PREPARED[key]
        self[key] = jobs.prepare(self.root / key, content, name)
        return self[key]


@pytest.fixture(scope="session")
def prepared_jobs(tmp_path_factory) -> PreparedJobs:
    return PreparedJobs(tmp_path_factory.mktemp("prepared-jobs"))


@pytest.fixture
def build_tiles() -> None:
    """Tile pyramids are built as in production: queued by the signals when rows change."""


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
    return data.require(data.NUCLEI)


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("alice", password="pw-alice-123")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user("bob", password="pw-bob-123")


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
