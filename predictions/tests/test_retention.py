from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from predictions.models import JobStatus, PredictionJob
from predictions.services import retention
from tests.helpers.factories import PredictionJobFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30d", timedelta(days=30)), ("12h", timedelta(hours=12)), ("1.5m", timedelta(seconds=90))],
)
def test_ages(text, expected):
    assert retention.parse_age(text) == expected


@pytest.mark.parametrize("text", ["30", "d", "-1d", "1w", "30 days", ""])
def test_bad_ages_are_refused(text):
    with pytest.raises(ValueError, match="is not an age"):
        retention.parse_age(text)


def make_job(status, ended_days_ago):
    job = PredictionJobFactory(status=status)
    PredictionJob.objects.filter(pk=job.pk).update(
        completed_at=timezone.now() - timedelta(days=ended_days_ago) if ended_days_ago else None
    )
    return job


def test_purge_deletes_old_finished_jobs_and_their_files(
    media_root, capsys, django_capture_on_commit_callbacks
):
    old = [make_job(s, 40) for s in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)]
    recent = make_job(JobStatus.COMPLETED, 2)
    running = make_job(JobStatus.PROCESSING, None)
    paths = [media_root / job.input_image.name for job in old]
    assert all(p.exists() for p in paths)

    call_command("purge_jobs", "--older-than", "30d", "--dry-run")
    assert "3 job(s)" in capsys.readouterr().out
    assert PredictionJob.objects.count() == 5

    with django_capture_on_commit_callbacks(execute=True):
        call_command("purge_jobs", "--older-than", "30d")
    assert "deleted 3 job(s)" in capsys.readouterr().out
    assert set(PredictionJob.objects.values_list("pk", flat=True)) == {recent.pk, running.pk}
    assert not any(p.exists() for p in paths)


def test_purge_needs_a_valid_age():
    with pytest.raises(CommandError, match="is not an age"):
        call_command("purge_jobs", "--older-than", "forever")


def test_the_scheduled_purge_follows_the_setting(settings, django_capture_on_commit_callbacks):
    from predictions import tasks

    job = make_job(JobStatus.COMPLETED, 10)
    settings.CELLSERVE_PURGE_AFTER_DAYS = 0
    tasks.purge_old_jobs()
    assert PredictionJob.objects.filter(pk=job.pk).exists()
    settings.CELLSERVE_PURGE_AFTER_DAYS = 7
    tasks.purge_old_jobs()
    assert not PredictionJob.objects.filter(pk=job.pk).exists()
