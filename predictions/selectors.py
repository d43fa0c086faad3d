"""Reads of prediction jobs on behalf of a user; who may read what is ``config.ownership``."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from config.ownership import readable, readable_row
from predictions.models import PredictionJob
from predictions.services.jobs import RESULT_FILES

FILE_FIELDS = ("input_image", "input_masks", *(field for field, _ in RESULT_FILES.values()))


def jobs_for(user: Any) -> QuerySet[PredictionJob]:
    """The jobs ``user`` may read."""
    return readable(PredictionJob, user)


def job_for(user: Any, pk: Any) -> PredictionJob | None:
    """The job ``pk`` if ``user`` may read it; None if it is missing, not theirs, or not a UUID."""
    return readable_row(PredictionJob, user, pk)


def job_with_file(user: Any, name: str) -> tuple[PredictionJob, str] | None:
    """The readable job that stores ``name``, and which of its fields holds it."""
    match = Q()
    for field in FILE_FIELDS:
        match |= Q(**{field: name})
    job = jobs_for(user).filter(match).first() if name else None
    if job is None:
        return None
    return job, next(field for field in FILE_FIELDS if getattr(job, field).name == name)
