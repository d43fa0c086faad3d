"""The seed's result files, re-created: one full-image ``masks == label`` per cell, every time.

The reference ``test_seed_reference`` holds ``outputs.write_results`` to, and the baseline that
``bench/postprocess.py`` times. Each stage is what the seed did: ``regionprops`` on a full-image
binary mask per cell for the metrics, again per cell for the TIFF ZIP, and a full-image blend
per cell for the overlay (with our colours, so the pixels can be compared). It keeps our ZIP
and PNG levels (1): the comparison is of algorithms, not codec settings.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image
from skimage import measure as skmeasure
from skimage.segmentation import find_boundaries

from predictions.services import exports, labels, outputs

GRID_SPACING = 40  # pixels between cell centres before jitter
JITTER = 8
RADII = (5.0, 20.0)
HOLE_CHANCE = 0.06  # for each cell whose minor radius is at least 9 px
MIN_CELL_AREA = 30  # fragments left by overlapping neighbours below this are dropped


def synthetic(size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(image, masks): a uint16 intensity image and a uint16 label image, labels 1..n.

    Rotated ellipses on a jittered grid; later cells are cut by earlier ones, so many touch,
    and a few have a hole.
    """
    rng = np.random.default_rng(seed)
    masks = np.zeros((size, size), np.uint32)
    centres = np.arange(GRID_SPACING / 2, size, GRID_SPACING)
    label = 0
    for grid_y in centres:
        for grid_x in centres:
            label += 1
            centre = grid_y + rng.uniform(-JITTER, JITTER), grid_x + rng.uniform(-JITTER, JITTER)
            _paint_ellipse(masks, label, centre, rng)
    area = np.bincount(masks.ravel(), minlength=label + 1)
    keep = np.flatnonzero(area >= MIN_CELL_AREA)
    keep = keep[keep > 0]
    relabel = np.zeros(label + 1, np.uint16)
    relabel[keep] = np.arange(1, keep.size + 1)
    masks = relabel[masks]

    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    background = 900 + 500 * np.sin(2 * np.pi * 1.3 * xx) * np.cos(2 * np.pi * 0.9 * yy)
    brightness = rng.uniform(3000, 40000, keep.size + 1).astype(np.float32)
    brightness[0] = 0
    noise = rng.normal(0, 200, (size, size)).astype(np.float32)
    image = np.clip(background + brightness[masks] + noise, 0, 65535).astype(np.uint16)
    return image, masks


def _paint_ellipse(
    masks: np.ndarray, label: int, centre: tuple[float, float], rng: np.random.Generator
) -> None:
    y, x = centre
    ry, rx = rng.uniform(*RADII, size=2)
    theta = rng.uniform(0, np.pi)
    reach = math.ceil(max(ry, rx)) + 1
    y0, y1 = max(0, int(y) - reach), min(masks.shape[0], int(y) + reach + 2)
    x0, x1 = max(0, int(x) - reach), min(masks.shape[1], int(x) + reach + 2)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    dy, dx = yy - y, xx - x
    u = dx * np.cos(theta) + dy * np.sin(theta)
    v = -dx * np.sin(theta) + dy * np.cos(theta)
    inside = (u / rx) ** 2 + (v / ry) ** 2 <= 1
    if min(rx, ry) >= 9 and rng.random() < HOLE_CHANCE:
        inside &= (u / (0.35 * rx)) ** 2 + (v / (0.35 * ry)) ** 2 > 1
    window = masks[y0:y1, x0:x1]
    # First painted wins: later neighbours are cut and touch the earlier cell.
    window[inside & (window == 0)] = label


def touching_cells(masks: np.ndarray) -> int:
    """How many cells share an edge with another cell."""
    touching: set[int] = set()
    for a, b in ((masks[:, :-1], masks[:, 1:]), (masks[:-1, :], masks[1:, :])):
        contact = (a != b) & (a > 0) & (b > 0)
        touching.update(np.unique(a[contact]).tolist(), np.unique(b[contact]).tolist())
    return len(touching)


def _number(value) -> float | None:
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def _cell_fields(label: int, props) -> tuple[dict, dict]:
    """One cell's row of the metrics document and of the shape analysis."""
    major, minor = props.axis_major_length, props.axis_minor_length
    min_row, min_col, max_row, max_col = props.bbox
    centroid_y, centroid_x = props.centroid
    head = {
        "cell_id": int(label),
        "area": _number(props.area),
        "perimeter": _number(props.perimeter),
    }
    shared = {
        "aspect_ratio": _number(major / minor) if minor > 0 else None,
        "eccentricity": _number(props.eccentricity),
        "solidity": _number(props.solidity),
        "extent": _number(props.extent),
        "equivalent_diameter": _number(props.equivalent_diameter_area),
    }
    individual = {
        **head,
        "centroid_x": _number(centroid_x),
        "centroid_y": _number(centroid_y),
        **shared,
        "bbox_min_row": int(min_row),
        "bbox_min_col": int(min_col),
        "bbox_max_row": int(max_row),
        "bbox_max_col": int(max_col),
    }
    shape = {
        **head,
        **shared,
        "orientation": _number(props.orientation),
        "major_axis_length": _number(major),
        "minor_axis_length": _number(minor),
        "convex_area": _number(props.area_convex),
        "filled_area": _number(props.area_filled),
        "euler_number": int(props.euler_number),
    }
    return individual, shape


def documents(masks: np.ndarray) -> tuple[dict, dict]:
    """The metrics and shape-analysis documents, one full-image regionprops per cell."""
    rows = [
        _cell_fields(label, skmeasure.regionprops((masks == label).astype(np.uint8))[0])
        for label in np.unique(masks)[1:]
    ]
    individual = [row for row, _ in rows]
    areas = [cell["area"] for cell in individual]
    ratios = [cell["aspect_ratio"] for cell in individual if cell["aspect_ratio"] is not None]
    summary = {
        "total_cells": len(individual),
        "average_area": float(np.mean(areas)) if areas else None,
        "min_area": float(np.min(areas)) if areas else None,
        "max_area": float(np.max(areas)) if areas else None,
        "average_aspect_ratio": float(np.mean(ratios)) if ratios else None,
    }
    return (
        {"summary": summary, "individual_metrics": individual},
        {"shape_analysis": [shape for _, shape in rows]},
    )


def cells_zip(image: np.ndarray, masks: np.ndarray, target: Path) -> None:
    """The seed's ``_create_individual_segments``, with our compresslevel."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zip_file:
        for mask_id in np.unique(masks)[1:]:
            cell_mask = (masks == mask_id).astype(np.uint8)
            bbox = skmeasure.regionprops(cell_mask)[0].bbox
            cell_img = image[bbox[0] : bbox[2], bbox[1] : bbox[3]]
            masked_cell = cell_img * cell_mask[bbox[0] : bbox[2], bbox[1] : bbox[3]]
            tif_buffer = io.BytesIO()
            tifffile.imwrite(tif_buffer, masked_cell.astype(np.uint16))
            zip_file.writestr(f"cell_{int(mask_id):04d}.tif", tif_buffer.getvalue())


def overlay(image: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Our colours and blend, applied one full-image ``masks == label`` at a time."""
    rgb = exports.display_rgb(image)
    colours = labels.label_colors(int(masks.max()))
    alpha = exports.OVERLAY_ALPHA
    for label in np.unique(masks)[1:]:
        region = masks == label
        tint = colours[label].astype(np.float32)
        rgb[region] = (rgb[region] * (1 - alpha) + tint * alpha).astype(np.uint8)
    rgb[find_boundaries(masks, mode="inner")] = 255
    return rgb


def save_png(rgb: np.ndarray, target: Path) -> None:
    Image.fromarray(rgb).save(target, format="PNG", compress_level=1)


def write_json(document: dict, target: Path) -> None:
    target.write_text(json.dumps(document, allow_nan=False))


def write_results(directory: Path, image: np.ndarray, masks: np.ndarray) -> None:
    """Every result file the seed wrote (no flows), under ``outputs``' file names."""
    directory.mkdir(parents=True)
    np.save(directory / outputs.MASKS, masks)
    save_png(overlay(image, masks), directory / outputs.OVERLAY)
    cells_zip(image, masks, directory / outputs.CELLS_ZIP)
    metrics, shapes = documents(masks)
    write_json(metrics, directory / outputs.METRICS)
    write_json(shapes, directory / outputs.SHAPE_ANALYSIS)
