"""Per-user limits on jobs: how many may run at once, and how much they may store.

Checked while the user's row is locked, so two uploads arriving together cannot both slip
under a limit. The creation rate is DRF's throttle (``job_create`` scope) in the API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Sum

from predictions.models import ACTIVE_STATUSES, PredictionJob

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class LimitExceeded(Exception):
    """A limit refuses the request; ``retry_after`` (seconds) when waiting helps."""

    retry_after: int | None = None


class TooManyActiveJobs(LimitExceeded):
    def __init__(self, active: int):
        self.retry_after = settings.CELLSERVE_ACTIVE_JOBS_RETRY_S
        super().__init__(
            f"you have {active} jobs pending or processing, the most allowed at once "
            f"(CELLSERVE_MAX_ACTIVE_JOBS={settings.CELLSERVE_MAX_ACTIVE_JOBS}); "
            "retry once some have finished"
        )


class StorageQuotaExceeded(LimitExceeded):
    def __init__(self, used: int, incoming: int):
        quota = settings.CELLSERVE_STORAGE_QUOTA_BYTES
        super().__init__(
            f"your jobs store {used:,} bytes; {incoming:,} more would exceed your quota of "
            f"{quota:,} bytes (CELLSERVE_STORAGE_QUOTA_BYTES); delete jobs to make room"
        )


def check_new_job(owner: User, incoming_bytes: int) -> None:
    """Raise a LimitExceeded when ``owner`` may not add a job of ``incoming_bytes`` now.

    Call inside the transaction that creates the job.
    """
    get_user_model().objects.select_for_update().filter(pk=owner.pk).exists()
    owned = PredictionJob.objects.filter(owner=owner)
    active = owned.filter(status__in=ACTIVE_STATUSES).count()
    if active >= settings.CELLSERVE_MAX_ACTIVE_JOBS:
        raise TooManyActiveJobs(active)
    used = owned.aggregate(total=Sum("stored_bytes"))["total"] or 0
    if used + incoming_bytes > settings.CELLSERVE_STORAGE_QUOTA_BYTES:
        raise StorageQuotaExceeded(used, incoming_bytes)
