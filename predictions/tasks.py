"""Thin Celery tasks: claim the job, call the job services under a lease, record the outcome.

Segmentation runs on the ``gpu`` queue; measuring, exporting, notifying and the watchdog on
``default``. Every job task carries the delivery (``attempt``) it was sent for: a message the
broker delivers again, or one the watchdog has replaced, finds the job no longer waiting for
it and does nothing.
"""

import logging
from datetime import timedelta

from billiard.exceptions import WorkerLostError
from celery import shared_task
from celery.signals import task_failure
from django.conf import settings

from predictions.models import PredictionJob
from predictions.services import jobs, leases, notify, retention, tiling

logger = logging.getLogger(__name__)


def _run(lease: leases.Lease, step, description: str) -> bool:
    """Run one job step while a heartbeat holds the lease; errors end the job failed."""
    try:
        with leases.heartbeat(lease):
            step(lease)
    except leases.LeaseLost as exc:
        logger.info("%s of job %s dropped: %s", description, lease.job_id, exc)
        return False
    except Exception as exc:
        logger.exception("%s of job %s failed", description, lease.job_id)
        try:
            jobs.fail(lease, jobs.user_message(exc))
        except leases.LeaseLost:
            logger.info("job %s was taken away before its failure was recorded", lease.job_id)
        return False
    return True


@shared_task(bind=True, acks_late=True)
def segment_job(self, job_id: str, attempt: int = 1) -> None:
    lease = leases.claim(job_id, attempt, self.request.id or "")
    if lease is None:
        logger.info("job %s is not waiting for attempt %d; nothing to do", job_id, attempt)
        return
    if _run(lease, jobs.segment, "segmentation") and not jobs.is_tiled(job_id):
        finish_job.delay(job_id, attempt, str(lease.token))


@shared_task(bind=True, acks_late=True)
def segment_block(self, job_id: str, index: int, attempt: int = 1) -> None:
    """One block of a tiled job; the last block to finish sends the stitching."""
    lease = tiling.claim_block(job_id, index, attempt, self.request.id or "")
    if lease is None:
        logger.info("block %d of job %s is not waiting for attempt %d", index, job_id, attempt)
        return
    try:
        with tiling.block_heartbeat(lease):
            tiling.segment_block(lease)
    except leases.LeaseLost as exc:
        logger.info("block %d of job %s dropped: %s", index, job_id, exc)
    except Exception as exc:
        logger.exception("block %d of job %s failed", index, job_id)
        tiling.retry_or_fail_block(lease, jobs.user_message(exc))


@shared_task(bind=True, acks_late=True)
def stitch_job(self, job_id: str, attempt: int = 1) -> None:
    """Stitch a tiled job's blocks, measure and export: sent once, when its last block is in."""
    lease = leases.claim_waiting(job_id, attempt, self.request.id or "")
    if lease is None:
        logger.info("job %s is not waiting for stitching attempt %d", job_id, attempt)
        return
    _run(lease, jobs.stitch, "stitching")


@shared_task(bind=True, acks_late=True)
def finish_job(self, job_id: str, attempt: int = 1, token: str | None = None) -> None:
    """Measure and export; ``token`` is the lease the segmentation step handed over."""
    task_id = self.request.id or ""
    if token is None:
        lease = leases.claim(job_id, attempt, task_id)
    else:
        lease = leases.resume(job_id, attempt, token, task_id)
    if lease is None:
        logger.info("job %s is not waiting for this measuring step; nothing to do", job_id)
        return
    _run(lease, jobs.finish, "measuring")


@task_failure.connect
def _expire_lease_of_lost_process(sender=None, exception=None, args=None, **kwargs) -> None:
    """A pool process died mid-job (killed, out of memory): let the watchdog act now."""
    if not isinstance(exception, WorkerLostError) or not args:
        return
    if sender in (segment_job, finish_job, stitch_job):
        leases.expire(args[0])
    elif sender is segment_block:
        tiling.expire_block(args[0], args[1])


@shared_task
def watchdog() -> None:
    """Re-queue jobs and blocks whose worker stopped renewing their lease (failing those out of
    attempts) or that no worker took in time, and stitch tiled jobs whose blocks are all in."""
    requeued, _failed = leases.requeue_expired()
    for job in requeued:
        logger.warning(
            "job %s: lease expired or never taken; sent as attempt %d", job.job_id, job.attempt
        )
        jobs.send(job.job_id, job.stage, job.attempt)
    if blocks := tiling.requeue_expired_blocks():
        logger.warning("%d block(s) with an expired lease or never taken re-sent or failed", blocks)
    if stalled := tiling.stitch_finished():
        logger.warning("%d job(s) with every block done sent to stitching", stalled)


@shared_task
def purge_old_jobs() -> None:
    """Delete finished jobs older than CELLSERVE_PURGE_AFTER_DAYS (scheduled when it is set)."""
    days = settings.CELLSERVE_PURGE_AFTER_DAYS
    if days:
        count = retention.purge(retention.ended_before(timedelta(days=days)))
        logger.info("purged %d job(s) that ended more than %g days ago", count, days)


@shared_task(bind=True, acks_late=True, max_retries=None)
def notify_job(self, job_id: str) -> None:
    """POST the finished job to MODAL_ENDPOINT_URL, retrying with exponential backoff.

    Every attempt is recorded; whatever the receiver does, the job itself is not touched.
    """
    job = PredictionJob.objects.filter(pk=job_id).first()
    url = settings.MODAL_ENDPOINT_URL
    if job is None or not url:
        return
    delivery = notify.deliver(job, url, jobs.notification_payload(job))
    if not delivery.succeeded and delivery.attempt < settings.WEBHOOK_MAX_ATTEMPTS:
        raise self.retry(countdown=settings.WEBHOOK_BACKOFF_S * 2 ** (delivery.attempt - 1))
