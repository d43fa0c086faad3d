"""Uploads into depth datasets: small files in the request, large ones through a worker.

Whatever the path, a file is read and written in one transaction that a problem anywhere in
it rolls back, so a refused upload leaves the dataset's rows as they were.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from depth_images.models import DatasetStatus, DepthDataset
from depth_images.services import depth_csv, store
from depth_images.services.store import IngestResult

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)


class DatasetBusy(Exception):
    """An upload into the dataset is still waiting for (or running in) a worker."""


@dataclass(frozen=True)
class UploadOutcome:
    dataset: DepthDataset
    created: bool
    result: IngestResult | None  # None: queued for a worker


def upload(owner: User, name: str, file: UploadedFile[bytes]) -> UploadOutcome:
    """Ingest ``file`` into the owner's dataset ``name`` (created on first use).

    Raises DepthCSVError for a bad file (for a large file, only a bad header is seen here;
    the rest is checked by the worker) and DatasetBusy while an earlier upload is queued.
    """
    if file.size > settings.CELLSERVE_MAX_UPLOAD_BYTES:
        raise depth_csv.DepthCSVError(
            f"the file is {file.size:,} bytes, above the limit of "
            f"{settings.CELLSERVE_MAX_UPLOAD_BYTES:,} bytes"
        )
    handle: BinaryIO = file.file  # type: ignore[assignment]  # django-stubs: File.file is IO | None; an upload's is a binary file
    handle.seek(0)
    if file.size > settings.CELLSERVE_DEPTH_SYNC_MAX_BYTES:
        depth_csv.read_header(handle)
        with transaction.atomic():
            dataset, created = _locked(owner, name)
            _queue(dataset, file)
        return UploadOutcome(dataset, created, None)
    with transaction.atomic():
        dataset, created = _locked(owner, name)
        result = store.ingest(dataset, handle)
    return UploadOutcome(dataset, created, result)


def ingest_path(
    owner: User, name: str, handle: BinaryIO, progress: Callable[[int], None] | None = None
) -> IngestResult:
    """Ingest an open file into the owner's dataset in this process (the import command)."""
    with transaction.atomic():
        dataset, _ = _locked(owner, name)
        return store.ingest(dataset, handle, progress)


def _locked(owner: User, name: str) -> tuple[DepthDataset, bool]:
    dataset, created = DepthDataset.objects.select_for_update().get_or_create(
        owner=owner, name=name
    )
    if dataset.is_busy:
        raise DatasetBusy(
            f"dataset {name!r} is {dataset.status}: an earlier upload is still being ingested; "
            "try again once it is ready or failed"
        )
    return dataset, created


def _queue(dataset: DepthDataset, file: UploadedFile[bytes]) -> None:
    from depth_images import tasks

    dataset.pending_file.save(f"{dataset.pk}.csv", file, save=False)
    dataset.status, dataset.error_message = DatasetStatus.PENDING, ""
    dataset.save()
    transaction.on_commit(lambda: tasks.ingest_dataset.delay(str(dataset.pk)))


def claim(dataset_id: str) -> bool:
    """Mark a queued upload processing; False when there is none (done, gone, redelivered)."""
    return bool(
        DepthDataset.objects.filter(
            pk=dataset_id, status__in=[DatasetStatus.PENDING, DatasetStatus.PROCESSING]
        )
        .exclude(pending_file="")
        .update(status=DatasetStatus.PROCESSING)
    )


def ingest_queued(dataset_id: str) -> IngestResult:
    """Parse the dataset's pending file and store it; the file is removed on success."""
    with transaction.atomic():
        dataset = DepthDataset.objects.select_for_update().get(pk=dataset_id)
        name = dataset.pending_file.name
        with dataset.pending_file.open("rb") as handle:
            result = store.ingest(dataset, handle)  # type: ignore[arg-type]  # django-stubs: a FieldFile proxies a binary file but is no BinaryIO
        DepthDataset.objects.filter(pk=dataset_id).update(pending_file="")
    dataset.pending_file.storage.delete(name)  # type: ignore[arg-type]  # django-stubs: FieldFile.name is Optional; a pending file has one
    return result


def fail(dataset_id: str, message: str) -> None:
    """End a queued upload refused: the message is shown; rows stay as they were."""
    dataset = DepthDataset.objects.filter(pk=dataset_id).first()
    if dataset is None:
        return
    name = dataset.pending_file.name
    DepthDataset.objects.filter(pk=dataset_id).update(
        status=DatasetStatus.FAILED, error_message=message, pending_file=""
    )
    if name:
        dataset.pending_file.storage.delete(name)
    logger.warning("upload into depth dataset %s failed: %s", dataset_id, message)


def delete_dataset(dataset: DepthDataset) -> None:
    name = dataset.pending_file.name
    dataset.delete()
    if name:
        dataset.pending_file.storage.delete(name)


def user_message(exc: BaseException) -> str:
    if isinstance(exc, depth_csv.DepthCSVError):
        return str(exc)
    return f"internal error during ingest ({type(exc).__name__}: {exc})"
