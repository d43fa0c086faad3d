"""Reads of prediction jobs on behalf of a user: who may see what is decided here."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from predictions.models import PredictionJob
from predictions.services.jobs import RESULT_FILES

FILE_FIELDS = ("input_image", "input_masks", *(field for field, _ in RESULT_FILES.values()))


def readable_jobs(user) -> QuerySet[PredictionJob]:
    """The jobs ``user`` may read: their own, and every job for staff (the admin)."""
    if user.is_staff:
        return PredictionJob.objects.all()
    return PredictionJob.objects.filter(owner=user)


def job_with_file(user, name: str) -> tuple[PredictionJob, str] | None:
    """The readable job that stores ``name``, and which of its fields holds it."""
    match = Q()
    for field in FILE_FIELDS:
        match |= Q(**{field: name})
    job = readable_jobs(user).filter(match).first() if name else None
    if job is None:
        return None
    return job, next(field for field in FILE_FIELDS if getattr(job, field).name == name)
