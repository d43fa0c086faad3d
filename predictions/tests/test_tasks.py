"""The job lifecycle in one process (eager Celery): claims, leases, the watchdog, cancel.

The real-worker versions (a killed worker, a process that dies on every delivery, a lost
broker) are in tests/test_faults.py.
"""

from datetime import timedelta

import pytest
from billiard.exceptions import WorkerLostError
from celery.signals import task_failure
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from predictions import tasks
from predictions.models import JobStage, JobStatus, PredictionJob
from predictions.services import jobs, leases
from tests.helpers.factories import PredictionJobFactory

pytestmark = pytest.mark.django_db


def stored_names(media_root) -> set[str]:
    return {str(p.relative_to(media_root)) for p in media_root.rglob("*") if p.is_file()}


def test_unreadable_stored_input_ends_failed_with_the_reason(eager_celery):
    job = PredictionJobFactory(input_image=ContentFile(b"garbage", name="x.png"))
    tasks.segment_job(str(job.id), 1)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "not a PNG, JPEG or TIFF" in job.error_message
    assert job.processing_time is not None
    assert not job.result_masks
    assert job.lease_token is None
    assert job.lease_expires_at is None


def test_a_job_runs_once_and_redelivered_messages_change_nothing(eager_celery):
    job = PredictionJobFactory()
    tasks.segment_job(str(job.id), 1)
    job.refresh_from_db()
    assert (job.status, job.attempts, job.num_cells_detected) == (JobStatus.COMPLETED, 1, 3)
    completed_at, masks_name = job.completed_at, job.result_masks.name

    # The broker delivers the same messages again (acks_late): nothing is claimed or written.
    tasks.segment_job(str(job.id), 1)
    tasks.finish_job(str(job.id), 1)
    job.refresh_from_db()
    assert (job.completed_at, job.result_masks.name, job.attempts) == (
        completed_at,
        masks_name,
        1,
    )


def test_a_deleted_job_is_skipped(eager_celery, media_root):
    job = PredictionJobFactory()
    job_id = str(job.id)
    before = stored_names(media_root)
    job.delete()
    tasks.segment_job(job_id, 1)
    tasks.finish_job(job_id, 1)
    assert not PredictionJob.objects.filter(pk=job_id).exists()
    assert stored_names(media_root) == before  # no result file was written for it


def expire_lease(job: PredictionJob, attempts: int, stage: str = JobStage.SEGMENT) -> None:
    """The job as a dead worker leaves it: processing, its lease run out."""
    PredictionJob.objects.filter(pk=job.pk).update(
        status=JobStatus.PROCESSING,
        attempts=attempts,
        stage=stage,
        lease_token=leases.uuid.uuid4(),
        lease_expires_at=timezone.now() - timedelta(seconds=1),
        started_at=timezone.now() - timedelta(minutes=5),
    )


def test_the_watchdog_requeues_a_job_whose_worker_died(eager_celery):
    job = PredictionJobFactory()
    expire_lease(job, attempts=1)
    tasks.watchdog()
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED
    assert job.attempts == 2
    assert job.num_cells_detected == 3


def test_the_watchdog_resumes_from_the_measuring_step(eager_celery):
    job = PredictionJobFactory()
    # Segmentation stored, then the worker died before measuring.
    lease = leases.claim(job.pk, 1)
    jobs.segment(lease)
    expire_lease(job, attempts=1, stage=JobStage.MEASURE)
    tasks.watchdog()
    job.refresh_from_db()
    assert (job.status, job.attempts, job.num_cells_detected) == (JobStatus.COMPLETED, 2, 3)


def test_a_job_out_of_attempts_fails_with_the_reason(eager_celery, settings):
    settings.CELLSERVE_MAX_ATTEMPTS = 3
    job = PredictionJobFactory()
    expire_lease(job, attempts=3)
    tasks.watchdog()
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "the worker stopped while processing this job 3 times (out of memory?)" in (
        job.error_message
    )
    assert job.processing_time >= 300
    assert job.lease_token is None


def test_a_live_lease_is_left_alone(eager_celery):
    job = PredictionJobFactory()
    lease = leases.claim(job.pk, 1)
    tasks.watchdog()
    job.refresh_from_db()
    assert (job.status, job.attempts, job.lease_token) == (JobStatus.PROCESSING, 1, lease.token)


def test_a_stale_message_after_a_requeue_does_nothing(eager_celery):
    job = PredictionJobFactory()
    leases.claim(job.pk, 1)
    expire_lease(job, attempts=1)
    requeued, failed = leases.requeue_expired()
    assert [(r.job_id, r.attempt) for r in requeued] == [(job.pk, 2)]
    assert failed == []
    tasks.segment_job(str(job.id), 1)  # the first delivery, redelivered late
    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.PENDING, 1)


def test_a_worker_that_lost_its_lease_stores_nothing(eager_celery, media_root):
    job = PredictionJobFactory()
    lease = leases.claim(job.pk, 1)
    expire_lease(job, attempts=1)  # another token now: the watchdog's view of a stalled worker
    before = stored_names(media_root)
    with pytest.raises(leases.LeaseLost):
        jobs.segment(lease)
    assert stored_names(media_root) == before


def test_cancel_a_pending_job_then_its_message_does_nothing(eager_celery):
    job = PredictionJobFactory()
    cancelled = jobs.cancel(job.pk)
    assert cancelled.status == JobStatus.CANCELLED
    assert cancelled.completed_at
    tasks.segment_job(str(job.id), 1)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert not job.result_masks


def test_cancel_a_processing_job_fences_its_worker(eager_celery, media_root):
    job = PredictionJobFactory()
    lease = leases.claim(job.pk, 1)
    jobs.cancel(job.pk)
    before = stored_names(media_root)
    with pytest.raises(leases.LeaseLost):
        jobs.segment(lease)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert stored_names(media_root) == before


def test_a_finished_job_cannot_be_cancelled(eager_celery):
    job = PredictionJobFactory()
    tasks.segment_job(str(job.id), 1)
    with pytest.raises(jobs.JobFinished, match="job is completed"):
        jobs.cancel(job.pk)


def test_deleting_a_processing_job_leaves_no_file(
    eager_celery, media_root, django_capture_on_commit_callbacks
):
    job = PredictionJobFactory()
    lease = leases.claim(job.pk, 1)
    jobs.segment(lease)  # the work file exists now
    assert default_storage.exists(jobs.SEGMENTATION_WORK.format(id=job.pk))
    with django_capture_on_commit_callbacks(execute=True):
        jobs.delete_job(job.pk)
    with pytest.raises(leases.LeaseLost):
        jobs.finish(lease)  # the worker comes back after the delete
    assert stored_names(media_root) == set()


def test_a_dead_pool_process_expires_the_lease_at_once(eager_celery):
    job = PredictionJobFactory()
    leases.claim(job.pk, 1)
    task_failure.send(
        sender=tasks.segment_job,
        task_id="t",
        exception=WorkerLostError("Worker exited prematurely: signal 9 (SIGKILL)"),
        args=[str(job.pk), 1],
        kwargs={},
    )
    job.refresh_from_db()
    assert job.lease_expires_at <= timezone.now()
    requeued, _ = leases.requeue_expired()
    assert [r.job_id for r in requeued] == [job.pk]


def _pickup_due(job, seconds: float) -> None:
    """Set the job's pickup deadline ``seconds`` from now (negative: passed)."""
    due = timezone.now() + timedelta(seconds=seconds)
    PredictionJob.objects.filter(pk=job.pk).update(lease_expires_at=due)


def test_a_job_whose_message_was_lost_is_sent_again_at_no_cost(eager_celery):
    job = PredictionJobFactory()
    _pickup_due(job, -1)  # no worker took it in CELLSERVE_PICKUP_S: its message is gone
    tasks.watchdog()
    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.COMPLETED, 1)


def test_a_queued_job_within_its_pickup_deadline_is_left_alone(eager_celery):
    job = PredictionJobFactory()
    _pickup_due(job, 60)
    assert leases.requeue_expired() == ([], [])
    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.PENDING, 0)


def test_a_requeued_job_waits_with_a_new_pickup_deadline(settings):
    settings.CELLSERVE_PICKUP_S = 600
    job = PredictionJobFactory()
    leases.claim(job.pk, 1)
    expire_lease(job, attempts=1)
    requeued, _ = leases.requeue_expired()
    assert [r.attempt for r in requeued] == [2]
    job.refresh_from_db()
    left = (job.lease_expires_at - timezone.now()).total_seconds()
    assert job.lease_token is None
    assert 590 < left <= 600
    assert leases.requeue_expired() == ([], [])  # not sent twice


def test_a_send_records_its_task_only_on_the_row_waiting_for_it(monkeypatch):
    sent = type("Sent", (), {"id": "t"})
    monkeypatch.setattr(tasks.segment_job, "apply_async", lambda *args, **kwargs: sent)
    waiting, claimed = PredictionJobFactory(), PredictionJobFactory()
    leases.claim(claimed.pk, 1, task_id="mine")
    jobs.send(waiting.pk, JobStage.SEGMENT, 1)
    jobs.send(claimed.pk, JobStage.SEGMENT, 1)  # a duplicate arriving after the claim
    waiting.refresh_from_db()
    claimed.refresh_from_db()
    assert (waiting.task_id, claimed.task_id) == ("t", "mine")
