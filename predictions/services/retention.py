"""How long finished jobs are kept: ``manage.py purge_jobs`` and the optional scheduled purge."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from predictions.models import FINISHED_STATUSES, PredictionJob
from predictions.services import jobs

AGE = re.compile(r"^(\d+(?:\.\d+)?)([dhm])$")
UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_age(text: str) -> timedelta:
    """``30d``, ``12h`` or ``90m``."""
    match = AGE.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not an age such as 30d, 12h or 90m")
    return timedelta(**{UNITS[match[2]]: float(match[1])})


def ended_before(age: timedelta) -> datetime:
    return timezone.now() - age


def expired_jobs(before: datetime) -> QuerySet[PredictionJob]:
    """Finished jobs that ended (or, lacking an end time, were created) before ``before``."""
    return (
        PredictionJob.objects.filter(status__in=FINISHED_STATUSES)
        .annotate(ended=Coalesce("completed_at", "created_at"))
        .filter(ended__lt=before)
    )


def purge(before: datetime) -> int:
    """Delete every expired job with its files; returns how many were deleted."""
    count = 0
    for job_id in expired_jobs(before).values_list("pk", flat=True).iterator():
        jobs.delete_job(job_id)
        count += 1
    return count
