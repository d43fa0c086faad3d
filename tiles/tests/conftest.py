import pytest
from django.core.files.base import ContentFile

from depth_images.services import ingest
from depth_images.synthetic import csv_bytes
from predictions.models import PredictionJob
from tests.helpers import jobs
from tiles import tasks


@pytest.fixture
def large_job(user, prepared_jobs) -> PredictionJob:
    return jobs.completed_job(user, prepared_jobs["large"])


@pytest.fixture
def small_job(user, prepared_jobs) -> PredictionJob:
    return jobs.completed_job(user, prepared_jobs["small"])


@pytest.fixture
def job16(user, prepared_jobs) -> PredictionJob:
    return jobs.completed_job(user, prepared_jobs["16-bit"])


@pytest.fixture
def depth_dataset(user, eager_celery):
    upload = ContentFile(csv_bytes(600, seed=3), name="depth.csv")
    outcome = ingest.upload(user, "core-1", upload)
    tasks.build_dataset_tiles(str(outcome.dataset.pk))
    return outcome.dataset
