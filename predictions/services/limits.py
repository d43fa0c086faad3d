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
    def __init__(self, active: int, count: int = 1):
        self.retry_after = settings.CELLSERVE_ACTIVE_JOBS_RETRY_S
        most = settings.CELLSERVE_MAX_ACTIVE_JOBS
        if count == 1:
            said = f"you have {active} jobs pending or processing, the most allowed at once"
        else:
            said = (
                f"{count} more jobs would make {active + count} pending or processing, "
                "more than allowed at once"
            )
        super().__init__(
            f"{said} (CELLSERVE_MAX_ACTIVE_JOBS={most}); retry once some have finished"
        )


class StorageQuotaExceeded(LimitExceeded):
    def __init__(self, used: int, incoming: int):
        quota = settings.CELLSERVE_STORAGE_QUOTA_BYTES
        super().__init__(
            f"your jobs store {used:,} bytes; {incoming:,} more would exceed your quota of "
            f"{quota:,} bytes (CELLSERVE_STORAGE_QUOTA_BYTES); delete jobs to make room"
        )


def check_new_job(owner: User, incoming_bytes: int, count: int = 1) -> None:
    """Raise a LimitExceeded when ``owner`` may not add ``count`` jobs of ``incoming_bytes``
    (in all) now.

    Call inside the transaction that creates the jobs.
    """
    get_user_model().objects.select_for_update().filter(pk=owner.pk).exists()
    owned = PredictionJob.objects.filter(owner=owner)
    active = owned.filter(status__in=ACTIVE_STATUSES).count()
    if active + count > settings.CELLSERVE_MAX_ACTIVE_JOBS:
        raise TooManyActiveJobs(active, count)
    used = owned.aggregate(total=Sum("stored_bytes"))["total"] or 0
    if used + incoming_bytes > settings.CELLSERVE_STORAGE_QUOTA_BYTES:
        raise StorageQuotaExceeded(used, incoming_bytes)
