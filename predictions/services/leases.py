"""Which worker holds a job, for how long, and which writes it may still make.

A worker claims a job for one delivery (``attempt``) and gets a lease: a random token and an
expiry that a heartbeat thread renews. Every write of results happens inside ``fenced``, under
the job's row lock and only while the token is still the job's. So a worker that lost its lease
(it stalled, the job was cancelled or deleted, the watchdog handed it to another worker) can
finish computing but never store anything. The watchdog re-queues jobs whose lease expired and
fails them after ``CELLSERVE_MAX_ATTEMPTS``; the broker's visibility timeout decides nothing.

A job waiting in a queue, unheld, has a pickup deadline in the same column instead
(``pickup_deadline``): past it, the watchdog sends the same attempt again, since its message
may be lost; that costs no attempt, and whichever of the two messages comes first claims it.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.db.models import F, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from predictions.models import JobStage, JobStatus, PredictionJob

logger = logging.getLogger(__name__)


class LeaseLost(Exception):
    """The job was cancelled, deleted or handed to another worker: drop this work."""


@dataclass(frozen=True)
class Lease:
    job_id: uuid.UUID
    token: uuid.UUID
    attempt: int


@dataclass(frozen=True)
class Requeue:
    """A job the watchdog put back in the queue: the task to send, for which attempt."""

    job_id: uuid.UUID
    stage: str
    attempt: int


def lease_duration() -> timedelta:
    return timedelta(seconds=settings.CELLSERVE_LEASE_S)


def pickup_deadline() -> datetime:
    """When a step sent now, and not yet taken by a worker, is sent again."""
    return timezone.now() + timedelta(seconds=settings.CELLSERVE_PICKUP_S)


def claim(job_id: uuid.UUID | str, attempt: int, task_id: str = "") -> Lease | None:
    """Take a pending job for delivery ``attempt``; None for a stale or repeated message.

    A message is current only while the job waits for exactly this attempt, so a message the
    broker delivers again (or one the watchdog replaced) finds nothing to do.
    """
    now = timezone.now()
    token = uuid.uuid4()
    updated = PredictionJob.objects.filter(
        pk=job_id, status=JobStatus.PENDING, attempts=attempt - 1
    ).update(
        status=JobStatus.PROCESSING,
        attempts=attempt,
        lease_token=token,
        lease_expires_at=now + lease_duration(),
        task_id=task_id,
        started_at=Coalesce(F("started_at"), Value(now)),
    )
    if not updated:
        return None
    logger.info("job %s: attempt %d claimed", job_id, attempt)
    return Lease(uuid.UUID(str(job_id)), token, attempt)


def claim_waiting(job_id: uuid.UUID | str, attempt: int, task_id: str = "") -> Lease | None:
    """Take a job that waits, unheld, for its next step (a tiled job's stitching), or that the
    watchdog put back; None for a stale or repeated message."""
    token = uuid.uuid4()
    now = timezone.now()
    updated = PredictionJob.objects.filter(
        pk=job_id,
        status__in=(JobStatus.PENDING, JobStatus.PROCESSING),
        lease_token__isnull=True,
        attempts=attempt - 1,
    ).update(
        status=JobStatus.PROCESSING,
        attempts=attempt,
        lease_token=token,
        lease_expires_at=now + lease_duration(),
        task_id=task_id,
        started_at=Coalesce(F("started_at"), Value(now)),
    )
    return Lease(uuid.UUID(str(job_id)), token, attempt) if updated else None


def resume(job_id: uuid.UUID | str, attempt: int, token: str, task_id: str = "") -> Lease | None:
    """Continue a job whose previous step handed over its lease; None when it was lost."""
    lease = Lease(uuid.UUID(str(job_id)), uuid.UUID(token), attempt)
    return lease if renew(lease, task_id=task_id) else None


def renew(lease: Lease, **changes: Any) -> bool:
    """Push the expiry forward; False once the lease is no longer this holder's."""
    return bool(
        PredictionJob.objects.filter(
            pk=lease.job_id, lease_token=lease.token, status=JobStatus.PROCESSING
        ).update(lease_expires_at=timezone.now() + lease_duration(), **changes)
    )


def held_job(lease: Lease) -> PredictionJob:
    """The job's row while the lease is held (no lock); LeaseLost otherwise."""
    job = _held(PredictionJob.objects.all(), lease)
    if job is None:
        raise LeaseLost(f"job {lease.job_id} is no longer held by attempt {lease.attempt}")
    return job


def _held(rows: QuerySet[PredictionJob], lease: Lease) -> PredictionJob | None:
    return rows.filter(
        pk=lease.job_id, lease_token=lease.token, status=JobStatus.PROCESSING
    ).first()


@contextmanager
def fenced(lease: Lease) -> Iterator[PredictionJob]:
    """The job's row, locked, while the lease is still held; LeaseLost otherwise.

    Deletion, cancellation and the watchdog take the same lock, so results are stored either
    completely before they act, or not at all.
    """
    with transaction.atomic():
        job = _held(PredictionJob.objects.select_for_update(), lease)
        if job is None:
            raise LeaseLost(f"job {lease.job_id} is no longer held by attempt {lease.attempt}")
        yield job


class Heartbeat:
    """Renews a lease from a background thread while the worker computes.

    ``renewal`` pushes the lease on and says whether it is still held (a job's or a block's).
    """

    def __init__(self, renewal: Callable[[], bool], interval_s: float, name: str):
        self.renewal = renewal
        self.name = name
        self.interval_s = interval_s
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{name}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval_s):
                if not self.renewal():
                    logger.warning("%s: lease lost; its results will be dropped", self.name)
                    self.lost.set()
                    return
        except Exception:
            # A database outage must not kill the worker; the lease simply runs out.
            logger.exception("%s: heartbeat failed", self.name)
        finally:
            connections.close_all()  # this thread's own connections


def heartbeat(lease: Lease) -> Heartbeat:
    return Heartbeat(lambda: renew(lease), settings.CELLSERVE_LEASE_S / 4, f"job {lease.job_id}")


def expire(job_id: uuid.UUID | str) -> None:
    """End a lease now, because its worker process is known to be dead."""
    PredictionJob.objects.filter(pk=job_id, status=JobStatus.PROCESSING).update(
        lease_expires_at=timezone.now()
    )


def waiting(job_id: uuid.UUID, **changes: Any) -> int:
    """Unheld, waiting in a queue, until its pickup deadline; with ``changes``."""
    return PredictionJob.objects.filter(pk=job_id).update(
        lease_token=None, lease_expires_at=pickup_deadline(), **changes
    )


def release(job_id: uuid.UUID, **changes: Any) -> int:
    """Clear the lease fields along with ``changes`` (the job's final state)."""
    return PredictionJob.objects.filter(pk=job_id).update(
        lease_token=None, lease_expires_at=None, **changes
    )


def requeue_expired(now: datetime | None = None) -> tuple[list[Requeue], list[uuid.UUID]]:
    """Put back every job whose lease expired, failing those out of attempts, and send again
    every unheld one past its pickup deadline.

    Returns the jobs to send again and the ids of the jobs failed. Rows another watchdog (or a
    worker storing results) holds are skipped, so several watchdogs never double a job.
    """
    now = now or timezone.now()
    requeued, failed = [], []
    with transaction.atomic():
        expired = (
            PredictionJob.objects.select_for_update(skip_locked=True)
            .filter(status__in=(JobStatus.PENDING, JobStatus.PROCESSING), lease_expires_at__lt=now)
            .only("pk", "attempts", "stage", "started_at", "lease_token")
        )
        for job in expired:
            if job.lease_token is None:  # the attempt its lost message carried
                # The next deadline is set under the row lock: two watchdogs send it once.
                waiting(job.pk)
                requeued.append(Requeue(job.pk, job.stage, job.attempts + 1))
            elif job.attempts >= settings.CELLSERVE_MAX_ATTEMPTS:
                _fail_lost(job, now)
                failed.append(job.pk)
            else:
                waiting(job.pk, status=JobStatus.PENDING, task_id="")
                requeued.append(Requeue(job.pk, job.stage, job.attempts + 1))
    for job_id in failed:
        logger.warning("job %s failed: its worker stopped too often", job_id)
    return requeued, failed


def _fail_lost(job: PredictionJob, now: datetime) -> None:
    times = "once" if job.attempts == 1 else f"{job.attempts} times"
    release(
        job.pk,
        status=JobStatus.FAILED,
        error_message=(
            f"the worker stopped while processing this job {times} (out of memory?); "
            "it was not retried again"
        ),
        completed_at=now,
        processing_time=(now - job.started_at).total_seconds() if job.started_at else None,
    )


def first_stage(job: PredictionJob) -> str:
    return JobStage.MEASURE if job.has_uploaded_masks else JobStage.SEGMENT
