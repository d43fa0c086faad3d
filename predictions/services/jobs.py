"""The life of a prediction job: create, segment, measure, then completed, failed or cancelled.

Tasks call these functions; they hold the Django side (rows and storage) and hand arrays to
the plain services. Steps run under a lease (see ``leases``): whatever a step computes, it
stores only inside ``leases.fenced``, so a redelivered, cancelled or deleted job never gets
files written behind its back.
"""

from __future__ import annotations

import io
import logging
import re
import tempfile
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models.fields.files import FieldFile
from django.utils import timezone

from predictions.models import ACTIVE_STATUSES, Batch, JobStage, JobStatus, PredictionJob
from predictions.services import axes, engines, images, leases, outputs, tiled_outputs, tiling
from predictions.signals import job_completed

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

# Result file on disk -> (job field, storage name pattern).
RESULT_FILES = {
    outputs.MASKS: ("result_masks", "results/masks/masks_{id}.npy"),
    outputs.FLOWS: ("result_flows", "results/flows/flows_{id}.npy"),
    outputs.OVERLAY: ("result_segmented_images", "results/segmented/segmented_{id}.png"),
    outputs.OVERLAY_TIFF: ("result_segmented_images", "results/segmented/segmented_{id}.tif"),
    outputs.CELLS_ZIP: ("result_tif_archive", "results/tif_archive/individual_cells_{id}.zip"),
    outputs.METRICS: ("result_metrics", "results/metrics/metrics_{id}.json"),
    outputs.SHAPE_ANALYSIS: ("result_shape_analysis", "results/metrics/shape_analysis_{id}.json"),
    outputs.GEOJSON: ("result_geojson", "results/geojson/cells_{id}.geojson"),
    outputs.ROIS: ("result_rois", "results/rois/rois_{id}.zip"),
    outputs.OME_LABELS: ("result_ome_labels", "results/labels/labels_{id}.ome.tif"),
    outputs.METRICS_CSV: ("result_metrics_csv", "results/metrics/metrics_{id}.csv"),
    outputs.SEG: ("result_seg", "results/seg/{id}_seg.npy"),
}
SEGMENTATION_WORK = "results/work/segmentation_{id}.npz"
MAX_STEM = 60


class JobFinished(Exception):
    """The job has already ended; there is nothing left to cancel."""


@dataclass(frozen=True)
class JobRequest:
    """What a job is asked to do, resolved against its image (``options.resolve``).

    ``channels`` are the image channels given to the engine; None: all of them (a plain image).
    """

    model_type: str
    params: engines.SegmentationParams = engines.DEFAULTS
    reading: axes.AxesRequest = images.NO_REQUEST
    channels: tuple[int, ...] | None = None
    tiled: bool = False


@dataclass(frozen=True)
class Upload:
    """An uploaded file, validated: what its header says it is decides how it is stored."""

    file: UploadedFile[bytes]
    info: images.ImageInfo


def create_job(
    owner: User,
    image: Upload,
    request: JobRequest,
    masks: Upload | None = None,
    batch: Batch | None = None,
) -> PredictionJob:
    """Save the row (pending) and queue its work once the transaction commits."""
    job = PredictionJob(
        owner=owner,
        batch=batch,
        input_image_name=_display_name(image.file.name),
        input_masks_name=_display_name(masks.file.name) if masks else "",
        model_type=request.model_type,
        diameter=request.params.diameter,
        flow_threshold=request.params.flow_threshold,
        cellprob_threshold=request.params.cellprob_threshold,
        min_size=request.params.min_size,
        **_reading_fields(request.reading),
        channels=list(request.channels) if request.channels is not None else None,
        nuclear_channel=request.params.nuclear_channel,
        do_3D=request.params.do_3D,
        anisotropy=request.params.anisotropy,
        stitch_threshold=request.params.stitch_threshold,
        image_metadata=image_metadata(image.info.layout),
        tiled=request.tiled,
        block_size=settings.CELLSERVE_BLOCK_SIZE if request.tiled else None,
        block_overlap=tiling.block_overlap(request.params.diameter) if request.tiled else None,
        stage=JobStage.MEASURE if masks else JobStage.SEGMENT,
        lease_expires_at=leases.pickup_deadline(),  # sent again if the web process dies first
        stored_bytes=image.file.size + (masks.file.size if masks else 0),  # type: ignore[operator]  # django-stubs: UploadedFile.size is Optional; an upload's is set
    )
    job.input_image.save(stored_name(image), image.file, save=False)
    if masks:
        job.input_masks.save(stored_name(masks), masks.file, save=False)
    try:
        job.save()
    except Exception:
        for field in (job.input_image, job.input_masks):
            if field.name:  # what FieldFile's truth test checks; narrows it to str
                field.storage.delete(field.name)
        raise
    transaction.on_commit(lambda: send(job.pk, job.stage, 1))
    return job


def _reading_fields(reading: axes.AxesRequest) -> dict[str, Any]:
    return {name: getattr(reading, name) for name in READING_FIELDS}


READING_FIELDS = ("channel_axis", "z_axis", "t_index", "series", "pixel_size_um", "z_step_um")


def image_metadata(layout: axes.Layout) -> dict[str, Any]:
    """What the file holds, as the API reports it."""
    planes, height, width, channels = layout.shape
    return {
        "axes": layout.axes,
        "shape": {"Z": planes, "Y": height, "X": width, "C": channels},
        "channel_names": list(axes.channel_names(layout)),
        "pixel_size_um": layout.pixel_size_um,
        "z_step_um": layout.z_step_um,
    }


def stored_name(upload: Upload) -> str:
    """A safe ASCII file name with the extension of what the file really is."""
    stem = Path(upload.file.name or "").stem
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", ascii_stem).strip("._-")[:MAX_STEM] or "image"
    return safe + upload.info.extension


def _display_name(name: str | None) -> str:
    return (name or "")[:255]


def send(job_id: uuid.UUID, stage: str, attempt: int) -> None:
    """Queue the task a job needs next, remembering its id so a cancel can revoke it."""
    from predictions import tasks

    task: Any = {JobStage.MEASURE: tasks.finish_job, JobStage.STITCH: tasks.stitch_job}.get(
        JobStage(stage), tasks.segment_job
    )
    result = task.apply_async((str(job_id), attempt))
    # Only on the row still waiting for this very message: one claimed meanwhile (or moved on
    # to its blocks) keeps its own task and deadline.
    PredictionJob.objects.filter(
        pk=job_id,
        status__in=(JobStatus.PENDING, JobStatus.PROCESSING),
        lease_token__isnull=True,
        attempts=attempt - 1,
        stage=stage,
    ).update(task_id=result.id)


def load_image(job: PredictionJob) -> images.Canonical:
    with job.input_image.open("rb") as handle:
        return images.read_image(
            io.BytesIO(handle.read()),
            max_pixels=settings.CELLSERVE_MAX_IMAGE_PIXELS,
            max_channels=settings.CELLSERVE_MAX_CHANNELS,
            request=job_reading(job),
        )


def job_reading(job: PredictionJob) -> axes.AxesRequest:
    """How the job reads its input: the reading options it was created with."""
    return axes.AxesRequest(**{name: getattr(job, name) for name in READING_FIELDS})


def segmentation_params(job: PredictionJob) -> engines.SegmentationParams:
    return engines.SegmentationParams(
        diameter=job.diameter,
        flow_threshold=job.flow_threshold,
        cellprob_threshold=job.cellprob_threshold,
        min_size=job.min_size,
        do_3D=job.do_3D,
        anisotropy=job.anisotropy,
        stitch_threshold=job.stitch_threshold,
        nuclear_channel=job.nuclear_channel,
    )


def segment(lease: leases.Lease) -> None:
    """Run the job's engine and keep masks and flows for the measuring step; a tiled job
    sends its blocks instead."""
    job = leases.held_job(lease)
    if job.tiled:
        tiling.start(lease)
        return
    image = load_image(job).select(job.channels)
    result = engines.get_engine(job.model_type).segment(image, segmentation_params(job))
    buffer = io.BytesIO()
    np.savez(buffer, masks=result.masks, flows=result.flows)
    with leases.fenced(lease):
        _replace(SEGMENTATION_WORK.format(id=job.id), buffer)
        # Waiting in the measuring queue holds no lease: a long queue must not cost attempts.
        PredictionJob.objects.filter(pk=job.pk).update(
            stage=JobStage.MEASURE, lease_expires_at=None
        )


def _segmentation_inputs(
    job: PredictionJob, image: images.Canonical
) -> tuple[npt.NDArray[np.unsignedinteger[Any]], npt.NDArray[np.float32] | None]:
    if job.has_uploaded_masks:
        with job.input_masks.open("rb") as handle:
            masks = images.decode_labels(
                io.BytesIO(handle.read()),
                image.spatial_shape,
                max_pixels=settings.CELLSERVE_MAX_IMAGE_PIXELS,
            )
        return masks, None
    with default_storage.open(SEGMENTATION_WORK.format(id=job.id), "rb") as handle:
        arrays = np.load(io.BytesIO(handle.read()), allow_pickle=False)
        return images.relabel_sequential(arrays["masks"]), arrays["flows"]


def finish(lease: leases.Lease) -> None:
    """Measure and export, then store every file and mark the job completed, all or nothing."""
    job = leases.held_job(lease)
    image = load_image(job)
    masks, flows = _segmentation_inputs(job, image)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "results"
        result = outputs.write_results(
            directory, image.array, masks, flows, outputs.about(image), identity(job), seg=True
        )
        complete(lease, job, directory, result)


def identity(job: PredictionJob) -> outputs.Identity:
    return outputs.Identity(job.pk, job.input_image_name or Path(job.input_image.name or "").name)


def is_tiled(job_id: uuid.UUID | str) -> bool:
    return PredictionJob.objects.filter(pk=job_id, tiled=True).exists()


def stitch(lease: leases.Lease) -> None:
    """A tiled job's last step: stitch its blocks and write every result in bounded memory."""
    job = leases.held_job(lease)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "results"
        result = tiled_outputs.write_results(
            directory,
            tiling.source(job),
            tiling.plan(job),
            lambda index: tiling.load_block(job.pk, index),
            max_zip_cells=settings.CELLSERVE_MAX_ZIP_CELLS,
            identity=identity(job),
        )
        complete(lease, job, directory, result)


def complete(
    lease: leases.Lease, job: PredictionJob, directory: Path, result: outputs.ResultSummary
) -> None:
    """Store every file in ``directory`` and mark the job completed, all or nothing."""
    with leases.fenced(lease):
        stored = {
            field: _store(directory / filename, pattern.format(id=job.id))
            for filename, (field, pattern) in RESULT_FILES.items()
            if (directory / filename).exists()
        }
        results_bytes = sum(f.stat().st_size for f in directory.iterdir())
        completed_at = timezone.now()
        leases.release(
            job.pk,
            **stored,
            status=JobStatus.COMPLETED,
            error_message="",
            num_cells_detected=result.num_cells,
            mask_shape=list(result.mask_shape),
            metrics_summary=result.summary,
            omitted_outputs=result.omitted,
            completed_at=completed_at,
            processing_time=_elapsed(job, completed_at),
            stored_bytes=job.stored_bytes + results_bytes,
        )
        transaction.on_commit(lambda: _after_end(job.pk, completed=True))


def fail(lease: leases.Lease, message: str) -> None:
    """End the job failed with ``message``, unless it is no longer this lease's to end."""
    with leases.fenced(lease) as job:
        end_failed(job, message)


def end_failed(job: PredictionJob, message: str) -> None:
    """End a job, whose row the caller holds locked, failed with ``message``."""
    now = timezone.now()
    leases.release(
        job.pk,
        status=JobStatus.FAILED,
        error_message=message,
        completed_at=now,
        processing_time=_elapsed(job, now),
    )
    block_tasks = tiling.revoke_blocks(job.pk)
    transaction.on_commit(lambda: _revoke_all(block_tasks, terminate=False))
    transaction.on_commit(lambda: _after_end(job.pk))
    logger.warning("job %s failed: %s", job.pk, message)


def cancel(job_id: uuid.UUID) -> PredictionJob:
    """End a pending or processing job cancelled; its running task, if any, is revoked.

    Raises JobFinished for a job that has already ended.
    """
    with transaction.atomic():
        job = PredictionJob.objects.select_for_update().get(pk=job_id)
        _cancel_locked(job)
    job.refresh_from_db()
    return job


def _cancel_locked(job: PredictionJob) -> None:
    if job.status not in ACTIVE_STATUSES:
        raise JobFinished(f"job is {job.status}; only pending or processing jobs can be cancelled")
    now = timezone.now()
    running = job.status == JobStatus.PROCESSING
    leases.release(
        job.pk,
        status=JobStatus.CANCELLED,
        error_message="cancelled by its owner",
        completed_at=now,
        processing_time=_elapsed(job, now),
    )
    task_id = job.task_id
    block_tasks = tiling.revoke_blocks(job.pk)
    transaction.on_commit(lambda: _revoke(task_id, terminate=running))
    transaction.on_commit(lambda: _revoke_all(block_tasks, terminate=running))
    transaction.on_commit(lambda: _after_end(job.pk))


def _revoke(task_id: str, terminate: bool) -> None:
    """Best effort: the lease already keeps a running task from storing anything."""
    if not task_id:
        return
    from config.celery import app

    try:
        app.control.revoke(task_id, terminate=terminate)
    except Exception as exc:
        logger.warning("could not revoke task %s: %s", task_id, exc)


def _revoke_all(task_ids: list[str], terminate: bool) -> None:
    for task_id in task_ids:
        _revoke(task_id, terminate)


def delete_job(job_id: uuid.UUID) -> None:
    """Delete the row and every file it owns, cancelling the job first if it still runs."""
    with transaction.atomic():
        job = PredictionJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            return
        if job.status in ACTIVE_STATUSES:
            _cancel_locked(job)
            job.refresh_from_db()
        names = [f.name for f in owned_files(job) if f.name] + [SEGMENTATION_WORK.format(id=job.id)]
        job.delete()
        transaction.on_commit(lambda: list(map(default_storage.delete, names)))


def owned_files(job: PredictionJob) -> list[FieldFile]:
    """Every stored file of the job, uploads and results."""
    fields = [
        job.input_image,
        job.input_masks,
        *(getattr(job, f) for f, _ in RESULT_FILES.values()),
    ]
    return [f for f in fields if f]


def _after_end(job_id: uuid.UUID, completed: bool = False) -> None:
    """What follows a job's end, once the row says so: drop the work file, tell listeners."""
    default_storage.delete(SEGMENTATION_WORK.format(id=job_id))
    tiling.delete_block_files(job_id)
    if completed:
        job_completed.send(sender=PredictionJob, job_id=job_id)
    if settings.MODAL_ENDPOINT_URL:
        from predictions import tasks

        tasks.notify_job.delay(str(job_id))


def _elapsed(job: PredictionJob, now: datetime) -> float | None:
    return (now - job.started_at).total_seconds() if job.started_at else None


# Download endpoint -> (job field, attachment name).
DOWNLOADS = {
    "download_segmented_image": ("result_segmented_images", "segmented_{id}.png"),
    "download_individual_cells": ("result_tif_archive", "individual_cells_{id}.zip"),
    "download_masks": ("result_masks", "masks_{id}.npy"),
    "download_flows": ("result_flows", "flows_{id}.npy"),
    "download_geojson": ("result_geojson", "cells_{id}.geojson"),
    "download_rois": ("result_rois", "rois_{id}.zip"),
    "download_labels": ("result_ome_labels", "labels_{id}.ome.tif"),
    "download_csv": ("result_metrics_csv", "metrics_{id}.csv"),
    # The Cellpose GUI opens <image>_seg.npy beside <image>.
    "download_seg": ("result_seg", "{stem}_seg.npy"),
}


def notification_payload(job: PredictionJob) -> dict[str, Any]:
    """What downstream systems learn about a finished job."""
    base = f"{settings.CELLSERVE_PUBLIC_URL.rstrip('/')}/api/v1/predictions/{job.id}/"
    urls = {"status": f"{base}status/", "results": f"{base}results/"}
    if job.status == JobStatus.COMPLETED:
        urls["metrics"] = f"{base}metrics/"
        urls |= {name: f"{base}{name}/" for name, (field, _) in DOWNLOADS.items()
                 if getattr(job, field)}  # fmt: skip
    return {
        "event": f"prediction.{job.status}",
        "job_id": str(job.id),
        "status": job.status,
        "model_type": job.model_type,
        "num_cells": job.num_cells_detected,
        "mask_shape": job.mask_shape,
        "processing_time": job.processing_time,
        "metrics_summary": job.metrics_summary,
        "error_message": job.error_message or None,
        "result_urls": urls,
    }


def _store(path: Path, name: str) -> str:
    with path.open("rb") as handle:
        return _replace(name, handle)


def _replace(name: str, content: BinaryIO) -> str:
    """Save under exactly ``name``, replacing an earlier attempt's file."""
    default_storage.delete(name)
    return default_storage.save(name, File(content, name=Path(name).name))


def user_message(exc: BaseException) -> str:
    """A failed job's reason: our own errors speak for themselves; others name their type."""
    if isinstance(exc, images.ImageError | engines.EngineUnavailable):
        return str(exc)
    return f"internal error during processing ({type(exc).__name__}: {exc})"
