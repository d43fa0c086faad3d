"""Thin Celery tasks: load the row, call the job services, record the outcome.

Segmentation runs on the ``gpu`` queue; measuring and exporting on ``default``.
Tasks acknowledge late, so a worker that dies mid-job hands the job to another;
each step checks the row's status first, so running twice does no harm.
"""

import logging

from celery import shared_task
from django.conf import settings

from predictions.models import JobStatus, PredictionJob, WebhookDelivery
from predictions.services import jobs, notify

logger = logging.getLogger(__name__)


def enqueue_job(job_id) -> None:
    job = PredictionJob.objects.get(pk=job_id)
    if job.has_uploaded_masks:
        finish_job.delay(str(job_id))
    else:
        segment_job.delay(str(job_id))


def _load_active(job_id) -> PredictionJob | None:
    job = PredictionJob.objects.filter(pk=job_id).first()
    if job is None or job.is_finished:
        logger.info("job %s is gone or already finished; nothing to do", job_id)
        return None
    return job


def _attempt(job: PredictionJob, step, description: str) -> bool:
    """Run one job step; any error ends the job failed with a readable reason."""
    try:
        step(job)
    except Exception as exc:
        logger.exception("%s of job %s failed", description, job.pk)
        jobs.fail(job.pk, jobs.user_message(exc))
        return False
    return True


@shared_task(acks_late=True)
def segment_job(job_id: str) -> None:
    job = _load_active(job_id)
    if job is None or not jobs.start(job):
        return
    if _attempt(job, jobs.segment, "segmentation"):
        finish_job.delay(job_id)


@shared_task(acks_late=True)
def finish_job(job_id: str) -> None:
    job = _load_active(job_id)
    if job is None:
        return
    if job.status == JobStatus.PENDING and not jobs.start(job):
        return
    _attempt(job, jobs.finish, "measuring")


@shared_task(bind=True, acks_late=True, max_retries=None)
def notify_job(self, job_id: str) -> None:
    """POST the finished job to MODAL_ENDPOINT_URL, retrying with exponential backoff.

    Every attempt is recorded; whatever the receiver does, the job itself is not touched.
    """
    job = PredictionJob.objects.filter(pk=job_id).first()
    url = settings.MODAL_ENDPOINT_URL
    if job is None or not url:
        return
    attempt_number = job.deliveries.count() + 1
    attempt = notify.post(
        url,
        notify.encode(jobs.notification_payload(job)),
        settings.MODAL_WEBHOOK_SECRET,
        settings.WEBHOOK_TIMEOUT_S,
    )
    WebhookDelivery.objects.create(
        job=job,
        attempt=attempt_number,
        url=url,
        status_code=attempt.status_code,
        error=attempt.error,
        succeeded=attempt.ok,
        duration_s=attempt.duration_s,
    )
    if not attempt.ok and attempt_number < settings.WEBHOOK_MAX_ATTEMPTS:
        raise self.retry(countdown=settings.WEBHOOK_BACKOFF_S * 2 ** (attempt_number - 1))
