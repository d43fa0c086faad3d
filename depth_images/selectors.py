"""Reads of depth datasets on behalf of a user; who may read what is ``config.ownership``."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from config.ownership import readable, readable_row
from depth_images.models import DepthDataset


def datasets_for(user: Any) -> QuerySet[DepthDataset]:
    """The depth datasets ``user`` may read."""
    return readable(DepthDataset, user)


def dataset_for(user: Any, pk: Any) -> DepthDataset | None:
    """The dataset ``pk`` if ``user`` may read it; None when it is missing, not theirs, or bad."""
    return readable_row(DepthDataset, user, pk)


def own_dataset_named(user: Any, name: str) -> DepthDataset | None:
    """``user``'s own dataset called ``name`` (names are unique per owner, not across owners)."""
    return datasets_for(user).filter(owner=user, name=name).first()
