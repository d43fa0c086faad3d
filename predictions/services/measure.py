"""Per-cell measurements in one vectorized pass over a label image.

The seed's field names are the API; they are defined here once, so the metrics JSON,
the results endpoint and the shape analysis always agree.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import ndimage
from skimage.measure import regionprops_table

# Properties that need each cell's own pixels (hulls, holes, contours) come from
# regionprops; our field name -> regionprops column.
PER_REGION_FIELDS = {
    "perimeter": "perimeter",
    "convex_area": "area_convex",
    "filled_area": "area_filled",
    "euler_number": "euler_number",
}
INTEGER_FIELDS = frozenset(
    {"cell_id", "bbox_min_row", "bbox_min_col", "bbox_max_row", "bbox_max_col", "euler_number"}
)

RESULT_FIELDS = ("cell_id", "area", "perimeter", "aspect_ratio", "eccentricity", "solidity")
INDIVIDUAL_FIELDS = (
    "cell_id",
    "area",
    "perimeter",
    "centroid_x",
    "centroid_y",
    "aspect_ratio",
    "eccentricity",
    "solidity",
    "extent",
    "equivalent_diameter",
    "bbox_min_row",
    "bbox_min_col",
    "bbox_max_row",
    "bbox_max_col",
)
SHAPE_FIELDS = (
    "cell_id",
    "area",
    "perimeter",
    "aspect_ratio",
    "eccentricity",
    "solidity",
    "extent",
    "equivalent_diameter",
    "orientation",
    "major_axis_length",
    "minor_axis_length",
    "convex_area",
    "filled_area",
    "euler_number",
)

CellTable = dict[str, np.ndarray]


def measure_cells(masks: np.ndarray) -> CellTable:
    """Every field of every cell, as columns; rows are in ascending label order.

    Values match scikit-image's ``regionprops`` definitions. Area, centroid, bounding
    box and the inertia-tensor fields come from one pass of ``np.bincount`` over the
    foreground; only the fields that need a cell's own pixels go through regionprops.
    """
    labels = np.unique(masks)
    labels = labels[labels > 0]
    columns = _moment_fields(masks, labels)
    columns |= _bbox_fields(masks, labels)
    per_region = regionprops_table(masks, properties=("label", *PER_REGION_FIELDS.values()))
    columns |= {name: np.asarray(per_region[src]) for name, src in PER_REGION_FIELDS.items()}
    columns["cell_id"] = labels.astype(np.int64)
    columns["solidity"] = columns["area"] / columns["convex_area"]
    box_area = (columns["bbox_max_row"] - columns["bbox_min_row"]) * (
        columns["bbox_max_col"] - columns["bbox_min_col"]
    )
    columns["extent"] = columns["area"] / box_area
    columns["equivalent_diameter"] = np.sqrt(4 * columns["area"] / np.pi)
    columns["aspect_ratio"] = aspect_ratio(
        columns["major_axis_length"], columns["minor_axis_length"]
    )
    return columns


def _moment_fields(masks: np.ndarray, labels: np.ndarray) -> CellTable:
    """Area, centroid and the inertia-tensor fields of every label, without a per-cell loop."""
    rows_idx, cols_idx = np.nonzero(masks)
    cell = masks[rows_idx, cols_idx].astype(np.intp)
    size = int(labels.max()) + 1 if labels.size else 1
    area = np.bincount(cell, minlength=size).astype(np.float64)
    safe_area = np.where(area > 0, area, 1)
    center_r = np.bincount(cell, rows_idx, size) / safe_area
    center_c = np.bincount(cell, cols_idx, size) / safe_area
    # Second pass on centred coordinates: subtracting means of large sums loses precision.
    dr = rows_idx - center_r[cell]
    dc = cols_idx - center_c[cell]
    mu20 = np.bincount(cell, dr * dr, size)[labels]
    mu02 = np.bincount(cell, dc * dc, size)[labels]
    mu11 = np.bincount(cell, dr * dc, size)[labels]
    area = area[labels]
    # regionprops' inertia tensor [[a, b], [b, c]] of the binary region.
    a, b, c = mu02 / area, -mu11 / area, mu20 / area
    tensors = np.stack([np.stack([a, b], -1), np.stack([b, c], -1)], -2)
    eigvals = np.clip(np.linalg.eigvalsh(tensors), 0, None) if labels.size else np.zeros((0, 2))
    minor_ev, major_ev = eigvals[:, 0], eigvals[:, 1]
    return {
        "area": area,
        "centroid_y": center_r[labels],
        "centroid_x": center_c[labels],
        "major_axis_length": 4 * np.sqrt(major_ev),
        "minor_axis_length": 4 * np.sqrt(minor_ev),
        "eccentricity": _eccentricity(major_ev, minor_ev),
        "orientation": _orientation(a, b, c),
    }


def _eccentricity(major_ev: np.ndarray, minor_ev: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(major_ev == 0, 0.0, np.sqrt(1 - minor_ev / major_ev))


def _orientation(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Angle of the major axis, as regionprops defines it (including its a == c case)."""
    diagonal = np.where(b < 0, np.pi / 4, -np.pi / 4)
    return np.where(a - c == 0, diagonal, 0.5 * np.arctan2(-2 * b, c - a))


def _bbox_fields(masks: np.ndarray, labels: np.ndarray) -> CellTable:
    slices = ndimage.find_objects(masks)
    boxes = np.array(
        [(s[0].start, s[1].start, s[0].stop, s[1].stop) for s in (slices[i - 1] for i in labels)],
        dtype=np.int64,
    ).reshape(-1, 4)
    return {
        "bbox_min_row": boxes[:, 0],
        "bbox_min_col": boxes[:, 1],
        "bbox_max_row": boxes[:, 2],
        "bbox_max_col": boxes[:, 3],
    }


def aspect_ratio(major: np.ndarray, minor: np.ndarray) -> np.ndarray:
    """Major / minor axis; NaN (null in JSON) for one-pixel-thin cells whose minor axis is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(minor > 0, major / np.where(minor > 0, minor, 1), np.nan)


def _json_value(name: str, value: Any) -> int | float | None:
    if name in INTEGER_FIELDS:
        return int(value)
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def rows(table: CellTable, fields: tuple[str, ...]) -> list[dict[str, int | float | None]]:
    """The table as JSON-ready dicts, one per cell, with the given fields in order."""
    columns = [table[name].tolist() for name in fields]
    return [
        {name: _json_value(name, value) for name, value in zip(fields, values, strict=True)}
        for values in zip(*columns, strict=True)
    ]


def summarize(table: CellTable) -> dict[str, int | float | None]:
    area = table["area"]
    ratios = table["aspect_ratio"][np.isfinite(table["aspect_ratio"])]
    if area.size == 0:
        return {
            "total_cells": 0,
            "average_area": None,
            "min_area": None,
            "max_area": None,
            "average_aspect_ratio": None,
        }
    return {
        "total_cells": int(area.size),
        "average_area": float(area.mean()),
        "min_area": float(area.min()),
        "max_area": float(area.max()),
        "average_aspect_ratio": float(ratios.mean()) if ratios.size else None,
    }


def metrics_document(table: CellTable) -> dict[str, Any]:
    """The body of ``GET predictions/{id}/metrics/``."""
    return {"summary": summarize(table), "individual_metrics": rows(table, INDIVIDUAL_FIELDS)}


def shape_analysis_document(table: CellTable) -> dict[str, Any]:
    """The body of ``GET metrics/shape_analysis/``."""
    return {"shape_analysis": rows(table, SHAPE_FIELDS)}
