import pytest
from django.core.files.base import ContentFile

from predictions import tasks
from predictions.models import JobStatus
from predictions.tests.factories import PredictionJobFactory

pytestmark = pytest.mark.django_db


def test_unreadable_stored_input_ends_failed_with_the_reason(eager_celery):
    job = PredictionJobFactory(input_image=ContentFile(b"garbage", name="x.png"))
    tasks.segment_job(str(job.id))
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "not a PNG, JPEG or TIFF" in job.error_message
    assert job.processing_time is not None and not job.result_masks


def test_finished_jobs_are_not_run_again(eager_celery):
    job = PredictionJobFactory()
    tasks.segment_job(str(job.id))
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED
    completed_at, masks_name = job.completed_at, job.result_masks.name

    # A redelivered message (acks_late) for a finished job changes nothing.
    tasks.segment_job(str(job.id))
    tasks.finish_job(str(job.id))
    job.refresh_from_db()
    assert (job.completed_at, job.result_masks.name) == (completed_at, masks_name)


def test_a_deleted_job_is_skipped(eager_celery):
    job = PredictionJobFactory()
    job_id = str(job.id)
    job.delete()
    tasks.segment_job(job_id)  # no error, nothing to do


def test_retry_after_a_crash_between_steps_completes(eager_celery):
    """A worker that died after segmenting leaves the job processing; a rerun finishes it."""
    job = PredictionJobFactory(status=JobStatus.PROCESSING)
    tasks.segment_job(str(job.id))
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED and job.num_cells_detected == 3
