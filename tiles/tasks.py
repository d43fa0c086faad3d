"""Thin Celery tasks: load the row, build its tile files, done.

Both are idempotent (an up-to-date layer is skipped), so ``acks_late`` redelivery and the
repeated triggers of a job's life (created, then completed) are cheap.
"""

import logging

from celery import shared_task

from depth_images.models import DatasetStatus, DepthDataset
from predictions.models import PredictionJob
from tiles.services import build

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def build_job_tiles(job_id: str) -> None:
    job = PredictionJob.objects.filter(pk=job_id).first()
    if job is None:
        logger.info("job %s is gone; no tiles to build", job_id)
        return
    build.build_job(job)


@shared_task(acks_late=True)
def build_dataset_tiles(dataset_id: str) -> None:
    dataset = DepthDataset.objects.filter(pk=dataset_id, status=DatasetStatus.READY).first()
    if dataset is None:
        logger.info("depth dataset %s is gone or not ready; no tiles to build", dataset_id)
        return
    build.build_dataset(dataset)
