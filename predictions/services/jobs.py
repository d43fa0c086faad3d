"""The life of a prediction job: create, segment, measure, complete or fail.

Tasks call these functions; they hold the Django side (rows and storage) and hand
arrays to the plain services. Each step is idempotent, so a redelivered task is safe.
"""

from __future__ import annotations

import io
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from predictions.models import JobStatus, PredictionJob
from predictions.services import engines, images, outputs
from predictions.signals import job_completed

logger = logging.getLogger(__name__)

# Result file on disk -> (job field, storage name pattern).
RESULT_FILES = {
    outputs.MASKS: ("result_masks", "results/masks/masks_{id}.npy"),
    outputs.FLOWS: ("result_flows", "results/flows/flows_{id}.npy"),
    outputs.OVERLAY: ("result_segmented_images", "results/segmented/segmented_{id}.png"),
    outputs.CELLS_ZIP: ("result_tif_archive", "results/tif_archive/individual_cells_{id}.zip"),
    outputs.METRICS: ("result_metrics", "results/metrics/metrics_{id}.json"),
    outputs.SHAPE_ANALYSIS: ("result_shape_analysis", "results/metrics/shape_analysis_{id}.json"),
}
SEGMENTATION_WORK = "results/work/segmentation_{id}.npz"


@dataclass(frozen=True)
class JobRequest:
    model_type: str
    diameter: float | None
    flow_threshold: float
    cellprob_threshold: float
    min_size: int


def create_job(
    owner, input_image: UploadedFile, request: JobRequest, input_masks: UploadedFile | None = None
) -> PredictionJob:
    """Save the row (pending) and queue its work once the transaction commits."""
    from predictions import tasks

    job = PredictionJob.objects.create(
        owner=owner,
        input_image=input_image,
        input_masks=input_masks or "",
        model_type=request.model_type,
        diameter=request.diameter,
        flow_threshold=request.flow_threshold,
        cellprob_threshold=request.cellprob_threshold,
        min_size=request.min_size,
    )
    transaction.on_commit(lambda: tasks.enqueue_job(job.id))
    return job


def max_pixels() -> int:
    return settings.CELLSERVE_MAX_IMAGE_PIXELS


def load_image(job: PredictionJob) -> np.ndarray:
    with job.input_image.open("rb") as handle:
        return images.decode_image(io.BytesIO(handle.read()), max_pixels())


def start(job: PredictionJob) -> bool:
    """Mark the job processing; False when it has already finished (a redelivered task)."""
    updated = PredictionJob.objects.filter(
        pk=job.pk, status__in=[JobStatus.PENDING, JobStatus.PROCESSING]
    ).update(status=JobStatus.PROCESSING, started_at=timezone.now())
    if updated:
        job.refresh_from_db()
    return bool(updated)


def segment(job: PredictionJob) -> None:
    """Run the job's engine and keep masks and flows for the measuring step."""
    image = load_image(job)
    engine = engines.get_engine(job.model_type)
    params = engines.SegmentationParams(
        diameter=job.diameter,
        flow_threshold=job.flow_threshold,
        cellprob_threshold=job.cellprob_threshold,
        min_size=job.min_size,
    )
    result = engine.segment(image, params)
    buffer = io.BytesIO()
    np.savez(buffer, masks=result.masks, flows=result.flows)
    _replace(SEGMENTATION_WORK.format(id=job.id), buffer)


def _segmentation_inputs(job: PredictionJob, image: np.ndarray):
    if job.has_uploaded_masks:
        with job.input_masks.open("rb") as handle:
            masks = images.decode_labels(io.BytesIO(handle.read()), image.shape[:2], max_pixels())
        return masks, None
    with default_storage.open(SEGMENTATION_WORK.format(id=job.id), "rb") as handle:
        arrays = np.load(io.BytesIO(handle.read()), allow_pickle=False)
        return images.relabel_sequential(arrays["masks"]), arrays["flows"]


def finish(job: PredictionJob) -> None:
    """Measure and export, store every file, then mark the job completed in one update."""
    image = load_image(job)
    masks, flows = _segmentation_inputs(job, image)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "results"
        result = outputs.write_results(directory, image, masks, flows)
        stored = {
            field: _store(directory / filename, pattern.format(id=job.id))
            for filename, (field, pattern) in RESULT_FILES.items()
            if (directory / filename).exists()
        }
    completed_at = timezone.now()
    PredictionJob.objects.filter(pk=job.pk).update(
        **stored,
        status=JobStatus.COMPLETED,
        error_message="",
        num_cells_detected=result.num_cells,
        mask_shape=list(result.mask_shape),
        metrics_summary=result.summary,
        completed_at=completed_at,
        processing_time=(completed_at - job.started_at).total_seconds() if job.started_at else None,
    )
    default_storage.delete(SEGMENTATION_WORK.format(id=job.id))
    job_completed.send(sender=PredictionJob, job_id=job.id)
    _notify_on_commit(job.id)


def delete_job(job: PredictionJob) -> None:
    """Delete the row and every file it owns."""
    files = [job.input_image, job.input_masks, *(getattr(job, f) for f, _ in RESULT_FILES.values())]
    names = [f.name for f in files if f] + [SEGMENTATION_WORK.format(id=job.id)]
    job.delete()
    for name in names:
        default_storage.delete(name)


def fail(job_id, message: str) -> None:
    now = timezone.now()
    job = PredictionJob.objects.get(pk=job_id)
    elapsed = (now - job.started_at).total_seconds() if job.started_at else None
    PredictionJob.objects.filter(pk=job_id).update(
        status=JobStatus.FAILED, error_message=message, completed_at=now, processing_time=elapsed
    )
    default_storage.delete(SEGMENTATION_WORK.format(id=job_id))
    logger.warning("job %s failed: %s", job_id, message)
    _notify_on_commit(job_id)


def _notify_on_commit(job_id) -> None:
    from predictions import tasks

    if settings.MODAL_ENDPOINT_URL:
        transaction.on_commit(lambda: tasks.notify_job.delay(str(job_id)))


# Download endpoint -> (job field, attachment name, content type).
DOWNLOADS = {
    "download_segmented_image": ("result_segmented_images", "segmented_{id}.png", "image/png"),
    "download_individual_cells": (
        "result_tif_archive",
        "individual_cells_{id}.zip",
        "application/zip",
    ),
    "download_masks": ("result_masks", "masks_{id}.npy", "application/octet-stream"),
    "download_flows": ("result_flows", "flows_{id}.npy", "application/octet-stream"),
}


def notification_payload(job: PredictionJob) -> dict:
    """What downstream systems learn about a finished job."""
    base = f"{settings.CELLSERVE_PUBLIC_URL.rstrip('/')}/api/v1/predictions/{job.id}/"
    urls = {"status": f"{base}status/", "results": f"{base}results/"}
    if job.status == JobStatus.COMPLETED:
        urls["metrics"] = f"{base}metrics/"
        urls |= {name: f"{base}{name}/" for name, (field, *_) in DOWNLOADS.items()
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


def _replace(name: str, content) -> str:
    """Save under exactly ``name``, replacing an earlier attempt's file."""
    default_storage.delete(name)
    return default_storage.save(name, File(content, name=Path(name).name))


def user_message(exc: BaseException) -> str:
    """A failed job's reason: our own errors speak for themselves; others name their type."""
    if isinstance(exc, images.ImageError | engines.EngineUnavailable):
        return str(exc)
    return f"internal error during processing ({type(exc).__name__}: {exc})"
