"""Writing a segmentation's result files into a directory, all or nothing."""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from predictions.services import exports, images, interop, measure, outlines
from predictions.services.exports import About

MASKS = "masks.npy"
FLOWS = "flows.npy"
OVERLAY = "segmented.png"
OVERLAY_TIFF = "segmented.tif"  # a tiled job's: a tiled BigTIFF, too large for a PNG
CELLS_ZIP = "individual_cells.zip"
METRICS = "metrics.json"
SHAPE_ANALYSIS = "shape_analysis.json"
# Exports for other tools (interop.py), every one from the same outlines.
GEOJSON = "cells.geojson"
ROIS = "rois.zip"
OME_LABELS = "labels.ome.tif"
METRICS_CSV = "metrics.csv"
SEG = "seg.npy"


@dataclass(frozen=True)
class Identity:
    """Which job and image the files describe (ids in the GeoJSON, columns of the CSV)."""

    job_id: uuid.UUID = field(default_factory=lambda: uuid.UUID(int=0))
    image_name: str = "image"


ANONYMOUS = Identity()  # files written outside a job (tests, benchmarks, the CLI)


@dataclass(frozen=True)
class ResultSummary:
    num_cells: int
    mask_shape: tuple[int, ...]
    summary: dict[str, Any]
    # Outputs left out on purpose -> the reason (e.g. the cells ZIP above its cell limit).
    omitted: dict[str, str] = field(default_factory=dict)


def about(image: images.Canonical) -> About:
    layout = image.layout
    return About(layout.channel_names, layout.pixel_size_um, layout.z_step_um, layout.is_rgb)


def write_results(
    directory: Path,
    image: np.ndarray,
    masks: np.ndarray,
    flows: np.ndarray | None,
    about: About | None = None,
    identity: Identity = ANONYMOUS,
    *,
    seg: bool = False,
) -> ResultSummary:
    """Write every result file of one image into ``directory`` (created; must not exist).

    ``image`` is channel-last with the masks' spatial axes, (Y, X[, C]) or (Z, Y, X[, C]).
    Every cell is measured in every channel, and in physical units when the pixel size is
    known, except in a seed-plain image, whose metrics stay the seed's exactly. ``seg`` adds
    the Cellpose GUI's file (with flows only), which imports cellpose and torch: jobs do,
    the command line leaves it out.
    """
    about = about or About(rgb=exports.has_channels(image, masks) and image.shape[-1] == 3)
    directory.mkdir(parents=True)
    exports.write_npy(masks, directory / MASKS)
    if flows is not None:
        exports.write_npy(flows, directory / FLOWS)
    exports.write_png(exports.render_overlay(image, masks), directory / OVERLAY)
    exports.write_cells_zip(image, masks, directory / CELLS_ZIP, about)
    table = measure.measure_cells(
        masks, pixel_size_um=about.pixel_size_um, z_step_um=about.z_step_um
    )
    names = () if seed_plain(image, masks, about) else channel_names(image, masks, about)
    if names:
        table |= measure.intensity_table(masks, channel_stack(image, masks), names)
    metrics = measure.metrics_document(
        table, channel_names=names, physical=about.pixel_size_um is not None
    )
    _write_json(metrics, directory / METRICS)
    _write_json(measure.shape_analysis_document(table), directory / SHAPE_ANALYSIS)
    write_exports(directory, masks, metrics, identity, about)
    if seg and flows is not None:
        interop.write_seg_npy(directory / SEG, image, masks, flows, identity.image_name)
    return ResultSummary(
        num_cells=len(table["cell_id"]),
        mask_shape=tuple(int(n) for n in masks.shape),
        summary=metrics["summary"],
    )


def write_exports(
    directory: Path,
    masks: np.ndarray,
    metrics: dict[str, Any],
    identity: Identity,
    about: About,
) -> None:
    """The GeoJSON, ROI set, OME-TIFF labels and CSV, from one tracing of the outlines."""
    traced = outlines.trace(masks)
    cells = metrics["individual_metrics"]
    interop.write_geojson(directory / GEOJSON, traced, cells, identity.job_id)
    interop.write_roi_zip(directory / ROIS, traced)
    interop.write_ome_labels(
        directory / OME_LABELS, masks, pixel_size_um=about.pixel_size_um, z_step_um=about.z_step_um
    )
    interop.write_metrics_csv(
        directory / METRICS_CSV, cells, job_id=identity.job_id, image_name=identity.image_name
    )


def seed_plain(image: np.ndarray, masks: np.ndarray, about: About) -> bool:
    """A 2D gray or RGB image that says nothing more (no channel names, no pixel size): what
    the seed takes, so its documents keep the seed's fields, byte for byte."""
    channels = channel_stack(image, masks).shape[-1]
    return (
        masks.ndim == 2
        and (channels == 1 or (channels == 3 and about.rgb))
        and not about.channel_names
        and about.pixel_size_um is None
    )


def channel_stack(image: np.ndarray, masks: np.ndarray) -> np.ndarray:
    return image if exports.has_channels(image, masks) else image[..., None]


def channel_names(image: np.ndarray, masks: np.ndarray, about: About) -> tuple[str, ...]:
    count = channel_stack(image, masks).shape[-1]
    if len(about.channel_names) == count:
        return about.channel_names
    return tuple(f"ch{i}" for i in range(count))


def _write_json(document: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(document, allow_nan=False))


def write_results_atomically(
    target: Path,
    image: np.ndarray,
    masks: np.ndarray,
    flows: np.ndarray | None,
    about: About | None = None,
    identity: Identity = ANONYMOUS,
) -> ResultSummary:
    """Write into a sibling temporary directory, then swap it in: a crash leaves no half result."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        result = write_results(staging / "out", image, masks, flows, about, identity)
        if target.exists():
            shutil.rmtree(target)
        (staging / "out").replace(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result
