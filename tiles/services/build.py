"""Build the files large-image serves, one per layer, and record them as ``TiledImage`` rows.

Every build is idempotent: a layer whose recorded ``built_from`` matches its source is left
alone, so a redelivered task or a second trigger costs one query. Files are written to a
temporary directory first and only then stored, so a crash never leaves a half-written TIFF
behind a row.

A plain 2D gray or colour input is served as it is (or converted to a pyramid); any other
input (channels, planes, axes the job named) is written as an OME-TIFF of its canonical
image, one frame per (plane, channel), and a mask volume as one frame per plane.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.core.files import File
from django.db import transaction
from django.db.models.fields.files import FieldFile

from config.files import local_path
from depth_images.models import DepthDataset
from depth_images.services import store
from predictions.models import JobStatus, PredictionJob
from predictions.services import axes, images
from predictions.services.jobs import job_reading
from predictions.services.labels import label_dtype
from tiles.models import Layer, TiledImage
from tiles.services import pyramid

logger = logging.getLogger(__name__)

JOB_LAYER_FIELDS = {
    Layer.INPUT: "input_image",
    Layer.OVERLAY: "result_segmented_images",
    Layer.MASKS: "result_masks",
}


@dataclass(frozen=True)
class Built:
    path: Path
    width: int
    height: int
    dtype: str
    max_value: int | None = None
    frames: int = 1


def job_layer_field(job: PredictionJob, layer: str) -> FieldFile | None:
    """The stored file a job layer is made from, or None while it does not exist yet."""
    field: FieldFile = getattr(job, JOB_LAYER_FIELDS[Layer(layer)])
    if not field:
        return None
    if layer != Layer.INPUT and job.status != JobStatus.COMPLETED:
        return None
    return field


def source_revision(field: FieldFile) -> str:
    modified = field.storage.get_modified_time(field.name)  # type: ignore[arg-type]  # django-stubs: FieldFile.name is Optional; a stored file has one
    return f"{field.name}@{modified.timestamp():.6f}"


def dataset_revision(dataset: DepthDataset) -> str:
    return f"{dataset.updated_at.isoformat()}:{dataset.row_count}"


def build_job(job: PredictionJob) -> list[TiledImage]:
    """Build every layer of the job that exists and is not up to date."""
    built = []
    current = dict(TiledImage.objects.filter(job=job).values_list("layer", "built_from"))
    for layer in JOB_LAYER_FIELDS:
        field = job_layer_field(job, layer)
        if field is None:
            continue
        revision = source_revision(field)
        if current.get(layer) == revision:
            continue
        try:
            with tempfile.TemporaryDirectory(prefix="cellserve-tiles-") as workdir:
                result = build_layer_file(
                    layer, local_path(field), Path(workdir), reading=job_reading(job)
                )
                recorded = _record(result, revision, job=job, layer=layer)
        except Exception as exc:
            # Recorded, so that the layer answers why instead of "being built" forever.
            logger.exception("could not build the %s tiles of job %s", layer, job.pk)
            reason = f"the {layer} tiles could not be built ({type(exc).__name__}; see the log)"
            recorded = _record_failure(job, layer, revision, reason)
        if recorded is None:
            break  # the job is gone
        built.append(recorded)
    return built


def build_dataset(dataset: DepthDataset) -> TiledImage | None:
    """Stack the dataset's rows, by depth, into one image; None when it has no rows."""
    if dataset.row_count == 0 or dataset.depth_min_key is None or dataset.depth_max_key is None:
        return None
    revision = dataset_revision(dataset)
    if TiledImage.objects.filter(dataset=dataset, built_from=revision).exists():
        return None
    _keys, rows = store.load_range(
        dataset, dataset.depth_min_key, dataset.depth_max_key, dataset.row_count
    )
    with tempfile.TemporaryDirectory(prefix="cellserve-tiles-") as workdir:
        dest = Path(workdir) / "depth.tiff"
        pyramid.write_array(rows, dest, labels=False)
        result = Built(dest, rows.shape[1], rows.shape[0], str(rows.dtype))
        return _record(result, revision, dataset=dataset, layer=Layer.DEPTH)


def build_layer_file(
    layer: str, source: Path, workdir: Path, *, reading: axes.AxesRequest = images.NO_REQUEST
) -> Built:
    """The file large-image serves for a job layer made from ``source``, written in ``workdir``.

    ``reading`` is how the job reads its input (the axes it named); only the input uses it.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    dest = workdir / f"{layer}.tiff"
    if layer == Layer.MASKS:
        # Memory-mapped: a tiled job's masks are slide-sized, and vips reads them in strips.
        return _build_masks(np.load(source, mmap_mode="r", allow_pickle=False), dest)
    if layer == Layer.INPUT:
        info = _probe(source, reading)
        if not is_plain(info.layout):
            return _build_frames(source, reading, workdir / f"{layer}.ome.tiff")
    else:
        info = _probe(source, images.NO_REQUEST)
    height, width = info.shape[:2]
    dtype = str(info.dtype)
    if not pyramid.needs_pyramid(width, height):
        return Built(source, width, height, dtype)
    pyramid.convert_file(source, dest)
    return Built(dest, width, height, dtype)


def is_plain(layout: axes.Layout) -> bool:
    """One gray or colour plane stored as such, which large-image reads as it is.

    Anything else needs the canonical reading: channels or planes, axes the job named, or an
    axis the reader dropped (a single time point).
    """
    gray_or_rgb = layout.shape[3] == 1 or layout.is_rgb
    return layout.axes in ("YX", "YXS") and not layout.take and gray_or_rgb


def _build_frames(source: Path, reading: axes.AxesRequest, dest: Path) -> Built:
    image = images.read_image(source, max_pixels=2**63, max_channels=2**31, request=reading)
    planes, height, width, channels = image.layout.shape
    volume = np.moveaxis(image.data, -1, 1)  # (Z, C, Y, X): channels vary fastest by frame
    layout = image.layout
    pyramid.write_frames(
        volume if layout.is_stack else volume[0],
        dest,
        axes="ZCYX" if layout.is_stack else "CYX",
        labels=False,
        channel_names=image.channel_names,
        pixel_size_um=layout.pixel_size_um,
        z_step_um=layout.z_step_um,
    )
    return Built(dest, width, height, str(image.data.dtype), frames=planes * channels)


def _build_masks(masks: np.ndarray, dest: Path) -> Built:
    """A (Y, X) label image as today; a (Z, Y, X) volume as one frame per plane."""
    max_label = int(masks.max(initial=0))
    dtype = label_dtype(max_label)
    labels = masks if masks.dtype == dtype else masks.astype(dtype)
    height, width = labels.shape[-2:]
    if labels.ndim == 2:
        pyramid.write_array(labels, dest, labels=True)
        return Built(dest, width, height, str(labels.dtype), max_label)
    dest = dest.with_suffix(".ome.tiff")
    pyramid.write_frames(labels, dest, axes="ZYX", labels=True)
    return Built(dest, width, height, str(labels.dtype), max_label, frames=labels.shape[0])


def _probe(path: Path, reading: axes.AxesRequest) -> images.ImageInfo:
    # From the header: large-image's PIL reader refuses some valid shapes (2 x 5000 pixels).
    with path.open("rb") as handle:
        return images.probe_image(handle, max_pixels=2**63, max_channels=2**31, request=reading)


def _record_failure(job: PredictionJob, layer: str, revision: str, error: str) -> TiledImage | None:
    with transaction.atomic():
        if not PredictionJob.objects.select_for_update().filter(pk=job.pk).exists():
            return None
        tiled, _ = TiledImage.objects.update_or_create(
            job=job,
            layer=layer,
            defaults={"built_from": revision, "error": error, "width": 0, "height": 0},
        )
    return tiled


def _record(
    result: Built, revision: str, *, layer: str, **owner: PredictionJob | DepthDataset
) -> TiledImage | None:
    """Store the file and point the layer's row at it; the replaced file goes after commit.

    The job or dataset row is locked first: deleting it takes the same lock, so either the
    tile file is recorded before the delete (which then removes it) or never stored at all.
    """
    suffix = result.path.suffix or ".tiff"
    owner_object = next(iter(owner.values()))
    owner_id = owner_object.pk
    with transaction.atomic():
        if not type(owner_object).objects.select_for_update().filter(pk=owner_id).exists():
            logger.info("%s was deleted while its %s tiles were built", owner_id, layer)
            return None
        tiled, created = TiledImage.objects.select_for_update().get_or_create(
            **owner,
            layer=layer,
            defaults={"built_from": revision, "width": 0, "height": 0},
        )
        if not created and tiled.built_from == revision and tiled.file:
            return tiled  # another worker finished the same build first
        old_name = tiled.file.name if not created else ""
        with result.path.open("rb") as handle:
            tiled.file.save(f"{owner_id}_{layer}{suffix}", File(handle), save=False)
        tiled.built_from = revision
        tiled.width, tiled.height = result.width, result.height
        tiled.dtype, tiled.max_value = result.dtype, result.max_value
        tiled.frames = result.frames
        tiled.error = ""
        try:
            tiled.save()
        except Exception:
            tiled.file.storage.delete(tiled.file.name)  # type: ignore[arg-type]  # django-stubs: FieldFile.name is Optional; the file was just saved (the row never pointed at it)
            raise
        if old_name and old_name != tiled.file.name:
            storage = tiled.file.storage
            transaction.on_commit(lambda: storage.delete(old_name))
    logger.info("built %s tiles for %s: %s", layer, owner_id, tiled.file.name)
    return tiled
