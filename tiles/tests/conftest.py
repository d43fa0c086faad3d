import io

import numpy as np
import pytest
import tifffile
from django.core.files.base import ContentFile

from conftest import blobs_image, png_bytes
from depth_images.services import ingest
from depth_images.synthetic import csv_bytes
from predictions import tasks as prediction_tasks
from predictions.models import PredictionJob
from tiles import tasks


def blobs_grid(shape=(600, 700), spacing=50, radius=14) -> np.ndarray:
    """Bright discs on a dark background, more than one tile in each direction."""
    centers = [
        (y, x)
        for y in range(spacing // 2, shape[0], spacing)
        for x in range(spacing // 2, shape[1], spacing)
    ]
    return blobs_image(shape, centers, radius)


def tiff16_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, (array.astype(np.uint16) * 40 + 1000).astype(np.uint16))
    return buffer.getvalue()


def run_job(owner, content: bytes, name: str) -> PredictionJob:
    """A watershed job run start to finish in this process, then its tiles built."""
    job = PredictionJob.objects.create(
        owner=owner, model_type="watershed", input_image=ContentFile(content, name=name)
    )
    prediction_tasks.segment_job(str(job.pk))
    tasks.build_job_tiles(str(job.pk))
    job.refresh_from_db()
    return job


@pytest.fixture
def large_job(user, eager_celery) -> PredictionJob:
    return run_job(user, png_bytes(blobs_grid()), "grid.png")


@pytest.fixture
def small_job(user, eager_celery) -> PredictionJob:
    return run_job(user, png_bytes(blobs_image()), "blobs.png")


@pytest.fixture
def job16(user, eager_celery) -> PredictionJob:
    return run_job(user, tiff16_bytes(blobs_grid()), "grid16.tif")


@pytest.fixture
def depth_dataset(user, eager_celery):
    upload = ContentFile(csv_bytes(600, seed=3), name="depth.csv")
    outcome = ingest.upload(user, "core-1", upload)
    tasks.build_dataset_tiles(str(outcome.dataset.pk))
    return outcome.dataset
