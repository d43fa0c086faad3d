"""Thin Celery task: ingest a large upload queued by the API.

Acknowledged late, so a worker that dies mid-ingest hands the upload to another; the
ingest is one transaction, so the rerun starts from rows as they were.
"""

import logging

from celery import shared_task

from depth_images.services import ingest

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def ingest_dataset(dataset_id: str) -> None:
    if not ingest.claim(dataset_id):
        logger.info("depth dataset %s has no queued upload; nothing to do", dataset_id)
        return
    try:
        ingest.ingest_queued(dataset_id)
    except Exception as exc:
        logger.exception("ingest into depth dataset %s failed", dataset_id)
        ingest.fail(dataset_id, ingest.user_message(exc))
