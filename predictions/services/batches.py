"""Batches: many images sent at once with one set of parameters, one job per image.

Each job is an ordinary job (its own status, results and downloads); the batch only groups them:
counts per status, one ZIP of every job's files, one CSV of every cell. A ZIP upload is unpacked
here, member by member, within the same limits as uploads (``unpack_zip``).

Policy for bad files: every file is validated as an upload would be; those that pass become
jobs and those that fail are listed, by name and problem, in the batch's ``rejected``. Only a
batch with no usable file at all is refused whole.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath
from typing import IO, TYPE_CHECKING, Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Count

from predictions.models import FINISHED_STATUSES, Batch, JobStatus, PredictionJob
from predictions.services import interop, jobs, limits

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.db.models.fields.files import FieldFile

# Format name (the client's and ``download_results``' ``formats``) -> the job's file field.
FORMATS = {
    "masks": "result_masks",
    "flows": "result_flows",
    "overlay": "result_segmented_images",
    "cells": "result_tif_archive",
    "metrics": "result_metrics",
    "geojson": "result_geojson",
    "rois": "result_rois",
    "labels": "result_ome_labels",
    "csv": "result_metrics_csv",
    "seg": "result_seg",
}
DEFAULT_FORMATS = ("masks", "metrics", "csv", "geojson", "rois", "labels")
COPY_CHUNK = 1 << 20
SPOOL_IN_MEMORY = 1 << 20
# Members of a ZIP that are not files of the user's: folders' entries and what macOS adds.
SKIPPED_PREFIXES = ("__MACOSX/",)


class BatchError(ValueError):
    """A batch that cannot be taken as a whole; ``param`` is the request field to blame."""

    def __init__(self, message: str, param: str = "input_image"):
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class Rejected:
    name: str
    errors: dict[str, Any]


# --- creating ---------------------------------------------------------------------------------


def create_batch(
    owner: User,
    accepted: Sequence[tuple[jobs.Upload, jobs.JobRequest]],
    rejected: Sequence[Rejected] = (),
) -> Batch:
    """The batch and a job per accepted image, all or nothing; queued once it commits."""
    incoming = sum(upload.file.size or 0 for upload, _ in accepted)
    with transaction.atomic():
        limits.check_new_job(owner, incoming, count=len(accepted))
        batch = Batch.objects.create(owner=owner, rejected=[asdict(r) for r in rejected])
        for upload, request in accepted:
            jobs.create_job(owner, upload, request, batch=batch)
    return batch


def check_count(count: int, most: int) -> None:
    """``most`` is the smaller of CELLSERVE_MAX_BATCH_FILES and CELLSERVE_MAX_ACTIVE_JOBS: a
    batch above the latter could never start, however long its sender waited."""
    if count == 0:
        raise BatchError("send at least one image (input_image), or one ZIP of images")
    if count > most:
        raise BatchError(
            f"{count} files are more than the {most} a batch may hold "
            "(CELLSERVE_MAX_BATCH_FILES, and no more than CELLSERVE_MAX_ACTIVE_JOBS); "
            "send several batches"
        )


ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a first member, or the end of an empty ZIP


def is_zip(upload: UploadedFile[bytes]) -> bool:
    upload.seek(0)
    magic = upload.read(4)
    upload.seek(0)
    return magic in ZIP_MAGIC or (upload.name or "").lower().endswith(".zip")


def unpack_zip(
    upload: UploadedFile[bytes], *, most_files: int, max_member_bytes: int, max_total_bytes: int
) -> tuple[list[UploadedFile[bytes]], list[Rejected]]:
    """The files of a ZIP, each as an upload spooled to disk; members that cannot be taken
    (too large, encrypted, corrupt) are rejected by name. Folders and macOS's metadata are
    skipped; the member's name inside the batch is its path in the ZIP."""
    # Its central directory is parsed whole when it is opened: a million entries would cost
    # gigabytes before any check, so their count is read from the end record first.
    entries = _declared_entries(upload)
    if entries is None:
        raise BatchError(f"{upload.name} is not a readable ZIP (no end of central directory)")
    check_count(entries, most_files)
    try:
        archive = zipfile.ZipFile(upload)
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
        raise BatchError(f"{upload.name} is not a readable ZIP ({exc})") from exc
    members = [m for m in archive.infolist() if not m.is_dir() and not _skipped(m.filename)]
    check_count(len(members), most_files)
    files: list[UploadedFile[bytes]] = []
    rejected, total = [], 0
    try:
        for member in members:
            # Declared sizes count against the budget too: a rejected bomb costs nothing twice.
            total += min(member.file_size, max_member_bytes + 1)
            if total > max_total_bytes:
                raise BatchError(
                    f"the ZIP unpacks to more than {max_total_bytes:,} bytes "
                    "(CELLSERVE_MAX_REQUEST_BYTES); send several batches"
                )
            try:
                files.append(_extract(archive, member, max_member_bytes))
            except BatchError as exc:
                rejected.append(Rejected(member_name(member.filename), {"input_image": [str(exc)]}))
    except BatchError:
        close_all(files)
        raise
    return files, rejected


def close_all(files: Iterable[UploadedFile[bytes]]) -> None:
    for file in files:
        file.close()


EOCD = b"PK\x05\x06"
ZIP64_LOCATOR = b"PK\x06\x07"
EOCD_SEARCH = 22 + 65535  # the end record, and a comment of at most 64 KiB before it


def _declared_entries(upload: UploadedFile[bytes]) -> int | None:
    """The entry count the ZIP's end record declares (ZIP64's when present), None if absent."""
    upload.seek(0, 2)
    size = upload.tell()
    upload.seek(max(0, size - EOCD_SEARCH))
    tail = upload.read()
    upload.seek(0)
    at = tail.rfind(EOCD)
    if at < 0 or len(tail) < at + 22:
        return None
    entries = int.from_bytes(tail[at + 10 : at + 12], "little")
    locator = tail.rfind(ZIP64_LOCATOR, 0, at)
    if entries == 0xFFFF and locator >= 0:
        record = int.from_bytes(tail[locator + 8 : locator + 16], "little")
        upload.seek(record + 32)
        entries = int.from_bytes(upload.read(8), "little")
        upload.seek(0)
    return entries


def member_name(name: str) -> str:
    """A member's file name alone, whichever separator its ZIP used (Windows ZIPs: \\)."""
    return PurePosixPath(name.replace("\\", "/")).name


def _skipped(name: str) -> bool:
    return name.startswith(SKIPPED_PREFIXES) or member_name(name).startswith(".")


def _extract(archive: zipfile.ZipFile, member: zipfile.ZipInfo, most: int) -> UploadedFile[bytes]:
    """Copy one member out, never more than ``most`` bytes whatever its header claims."""
    if member.flag_bits & 0x1:
        raise BatchError("is encrypted")
    if member.file_size > most:
        raise BatchError(f"unpacks to more than {most:,} bytes (the upload limit)")
    # On disk past 1 MiB: hundreds of members must not sit in memory together.
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - owned by the upload
    size = 0
    try:
        with archive.open(member) as source:
            while chunk := source.read(COPY_CHUNK):
                size += len(chunk)
                if size > most:  # whatever its header claimed
                    raise BatchError(f"unpacks to more than {most:,} bytes (the upload limit)")
                spool.write(chunk)
    except BatchError:
        spool.close()
        raise
    except Exception as exc:  # zlib, lzma, bz2, unsupported methods: the member, not the batch
        spool.close()
        raise BatchError(f"cannot be read from the ZIP ({type(exc).__name__}: {exc})") from exc
    spool.seek(0)
    return UploadedFile(spool, name=member_name(member.filename), size=size)


# --- reading ----------------------------------------------------------------------------------


def progress(batch: Batch) -> dict[str, Any]:
    """Counts per status, how many have finished, and the jobs themselves."""
    rows = batch.jobs.order_by()
    counts = dict(rows.values_list("status").annotate(n=Count("id")))
    by_status = {status: counts.get(status, 0) for status in JobStatus.values}
    total = sum(by_status.values())
    finished = sum(by_status[s] for s in FINISHED_STATUSES)
    return {
        "total": total,
        "counts": by_status,
        "finished": finished,
        "progress": finished / total if total else 1.0,
        "done": finished == total,
    }


def parse_formats(raw: str | None) -> tuple[str, ...]:
    if raw is None:
        return DEFAULT_FORMATS
    names = tuple(dict.fromkeys(name.strip() for name in raw.split(",") if name.strip()))
    unknown = [name for name in names if name not in FORMATS]
    if unknown or not names:
        raise BatchError(
            f"unknown format(s) {', '.join(unknown) or '(none given)'}; choose from "
            f"{', '.join(FORMATS)}",
            "formats",
        )
    return names


def archive_entries(
    batch_jobs: Iterable[PredictionJob], formats: Sequence[str]
) -> Iterator[tuple[str, FieldFile]]:
    """(name in the ZIP, stored file) of every completed job's chosen files: a folder per job,
    named after its image and the start of its id (two images may share a name)."""
    for job in batch_jobs:
        if job.status != JobStatus.COMPLETED:
            continue
        stem = PurePosixPath(member_name(job.input_image_name or "image")).stem.strip(".")
        folder = f"{stem or 'image'}_{str(job.id)[:8]}"
        for name in formats:
            field = getattr(job, FORMATS[name])
            if field:
                yield f"{folder}/{PurePosixPath(field.name).name}", field


class _Chunks(io.RawIOBase):
    """A write-only stream that hands back what was written since the last ``take``."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.buffer += data
        return len(data)

    def take(self) -> bytes:
        chunk, self.buffer = bytes(self.buffer), bytearray()
        return chunk


def stream_zip(entries: Iterable[tuple[str, FieldFile]]) -> Iterator[bytes]:
    """A ZIP of ``entries`` written as it is sent: never more than a chunk in memory."""
    out = _Chunks()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, field in entries:
            with field.open("rb") as source, archive.open(name, "w", force_zip64=True) as target:
                while chunk := source.read(COPY_CHUNK):
                    target.write(chunk)
                    yield out.take()
            yield out.take()
    yield out.take()


def metrics_csv(batch_jobs: Sequence[PredictionJob]) -> Iterator[str]:
    """Every cell of every completed job, one row each: the columns of all jobs together
    (a job with more channels has more intensity columns), read job by job."""
    done = [job for job in batch_jobs if job.status == JobStatus.COMPLETED and job.result_metrics]
    fields: dict[str, None] = {}
    for job in done:  # the columns first, as a job's own CSV has them: every cell's fields
        fields |= interop.csv_fields(_cells(job))
    line = _Line()
    yield line.row(["job_id", "image", *fields])
    for job in done:
        for cell in _cells(job):
            values = [str(job.id), job.input_image_name]
            yield line.row([*values, *(interop.csv_value(cell.get(f)) for f in fields)])


def _cells(job: PredictionJob) -> list[dict[str, Any]]:
    with job.result_metrics.open("rb") as handle:
        cells: list[dict[str, Any]] = json.load(handle)["individual_metrics"]
    return cells


class _Line:
    """csv's quoting, one row at a time."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer)

    def row(self, values: Sequence[str]) -> str:
        self.buffer.seek(0)
        self.buffer.truncate()
        self.writer.writerow(values)
        return self.buffer.getvalue()
