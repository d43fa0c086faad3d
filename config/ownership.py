"""Who may read a row: its owner, and staff (the admin and its tile viewer read every row).

Every view, selector and download finds rows through ``readable``; another user's row is
then indistinguishable from a missing one (a 404), in lists, lookups and files alike.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet

M = TypeVar("M", bound=Model)


def readable(model: type[M], user: Any) -> QuerySet[M]:
    """The rows of ``model`` (which has an ``owner``) that ``user`` may read."""
    rows = model._default_manager.all()
    if user is None or not user.is_authenticated:
        return rows.none()
    if user.is_staff:
        return rows
    return rows.filter(owner=user)


def readable_row(model: type[M], user: Any, pk: Any) -> M | None:
    """The row ``pk`` if ``user`` may read it; None if it is missing, not theirs, or malformed."""
    try:
        return readable(model, user).filter(pk=pk).first()
    except (ValueError, ValidationError):
        return None
