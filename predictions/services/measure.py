"""Per-cell measurements in one vectorized pass over a label image.

The seed's field names are the API; they are defined here once, so the metrics JSON,
the results endpoint and the shape analysis always agree.

A 2D label image is (Y, X); a 3D one is (Z, Y, X) and gets the 3D fields (volume, surface
area, sphericity, ...) instead of the 2D ones. Physical units (µm) are optional columns,
computed from the same passes when ``measure_cells`` is given a pixel size; per-channel
intensity features are a separate table (``intensity_table``) that merges row for row.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull
from skimage.measure import marching_cubes, mesh_surface_area, regionprops_table

# Properties that need each cell's own pixels (hulls, holes, contours) come from
# regionprops; our field name -> regionprops column.
PER_REGION_FIELDS = {
    "perimeter": "perimeter",
    "convex_area": "area_convex",
    "filled_area": "area_filled",
    "euler_number": "euler_number",
}
INTEGER_FIELDS = frozenset(
    {
        "cell_id",
        "bbox_min_row",
        "bbox_min_col",
        "bbox_max_row",
        "bbox_max_col",
        "euler_number",
        "bbox_min_plane",
        "bbox_max_plane",
    }
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

# The 3D counterparts, for a (Z, Y, X) label image.
INDIVIDUAL_FIELDS_3D = (
    "cell_id",
    "volume",
    "surface_area",
    "centroid_x",
    "centroid_y",
    "centroid_z",
    "sphericity",
    "solidity",
    "extent",
    "equivalent_diameter",
    "bbox_min_plane",
    "bbox_min_row",
    "bbox_min_col",
    "bbox_max_plane",
    "bbox_max_row",
    "bbox_max_col",
)
SHAPE_FIELDS_3D = (
    "cell_id",
    "volume",
    "surface_area",
    "sphericity",
    "solidity",
    "extent",
    "equivalent_diameter",
    "major_axis_length",
    "minor_axis_length",
)

# Columns ``measure_cells`` adds when given a pixel size (µm, µm², µm³).
PHYSICAL_FIELDS = (
    "area_um2",
    "perimeter_um",
    "equivalent_diameter_um",
    "major_axis_length_um",
    "minor_axis_length_um",
    "centroid_x_um",
    "centroid_y_um",
)
PHYSICAL_FIELDS_3D = (
    "volume_um3",
    "surface_area_um2",
    "equivalent_diameter_um",
    "major_axis_length_um",
    "minor_axis_length_um",
    "centroid_z_um",
    "centroid_y_um",
    "centroid_x_um",
)

# CellProfiler's names: column ``Intensity_<feature>_<channel>``.
INTENSITY_FEATURES = (
    "MeanIntensity",
    "MedianIntensity",
    "StdIntensity",
    "MinIntensity",
    "MaxIntensity",
    "IntegratedIntensity",
)

CellTable = dict[str, np.ndarray]


def measure_cells(
    masks: np.ndarray, *, pixel_size_um: float | None = None, z_step_um: float | None = None
) -> CellTable:
    """Every field of every cell, as columns; rows are in ascending label order.

    Values match scikit-image's ``regionprops`` definitions. Area, centroid, bounding
    box and the inertia-tensor fields come from one pass of ``np.bincount`` over the
    foreground; only the fields that need a cell's own pixels go through regionprops.

    A (Z, Y, X) image gets the 3D fields (``_measure_cells_3d``). With ``pixel_size_um``
    the table also has the ``PHYSICAL_FIELDS`` (or ``PHYSICAL_FIELDS_3D``) columns; the
    other columns are the same as without it. ``z_step_um`` is the plane spacing of a 3D
    image (the pixel size when omitted); a 2D image has square pixels and ignores it.
    """
    spacing = _spacing(masks.ndim, pixel_size_um, z_step_um)
    if masks.ndim == 3:
        return _measure_cells_3d(masks, spacing)
    if masks.ndim != 2:
        raise ValueError(f"expected a (Y, X) or (Z, Y, X) label image, got shape {masks.shape}")
    labels = np.unique(masks)
    labels = labels[labels > 0]
    columns = _moment_fields(masks, labels)
    columns |= _bbox_fields(ndimage.find_objects(masks), labels)
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
    if spacing is not None:
        columns |= _physical_fields_2d(columns, spacing[-1])
    return columns


def _spacing(
    ndim: int, pixel_size_um: float | None, z_step_um: float | None
) -> tuple[float, ...] | None:
    """Voxel size per axis in µm, (Y, X) or (Z, Y, X); None when no pixel size was given."""
    if pixel_size_um is None:
        if z_step_um is not None:
            raise ValueError("z_step_um needs pixel_size_um")
        return None
    z_step = pixel_size_um if z_step_um is None else z_step_um
    for name, value in (("pixel_size_um", pixel_size_um), ("z_step_um", z_step)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    if ndim == 3:
        return (float(z_step), float(pixel_size_um), float(pixel_size_um))
    return (float(pixel_size_um), float(pixel_size_um))


def _physical_fields_2d(columns: CellTable, pixel_um: float) -> CellTable:
    """Square pixels: every 2D field scales by the one pixel size (its square for area).

    Centroids are pixel-centre coordinates times the pixel size, as regionprops' spacing."""
    return {
        "area_um2": columns["area"] * pixel_um**2,
        "perimeter_um": columns["perimeter"] * pixel_um,
        "equivalent_diameter_um": columns["equivalent_diameter"] * pixel_um,
        "major_axis_length_um": columns["major_axis_length"] * pixel_um,
        "minor_axis_length_um": columns["minor_axis_length"] * pixel_um,
        "centroid_x_um": columns["centroid_x"] * pixel_um,
        "centroid_y_um": columns["centroid_y"] * pixel_um,
    }


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


def _bbox_fields(slices: list[Any], labels: np.ndarray, ndim: int = 2) -> CellTable:
    """bbox_min_* / bbox_max_* (stop, exclusive) per axis, from ``ndimage.find_objects``."""
    axes = ("plane", "row", "col")[-ndim:]
    boxes = np.array(
        [[(s.start, s.stop) for s in slices[i - 1]] for i in labels], dtype=np.int64
    ).reshape(labels.size, ndim, 2)
    return {f"bbox_min_{axis}": boxes[:, k, 0] for k, axis in enumerate(axes)} | {
        f"bbox_max_{axis}": boxes[:, k, 1] for k, axis in enumerate(axes)
    }


def _measure_cells_3d(masks: np.ndarray, spacing: tuple[float, ...] | None) -> CellTable:
    """The 3D fields of a (Z, Y, X) label image, rows in ascending label order.

    Volume, centroid, bounding box and the axis lengths come from one bincount pass over
    the foreground, as in 2D. Surface area and the convex hull need a cell's own voxels:
    they are computed on the cell's crop from ``find_objects`` (``_crop_fields_3d``).
    Volume, centroid, bbox, extent, equivalent diameter, axis lengths and solidity are
    regionprops' 3D values (solidity: ``_convex_voxel_count``); surface area is the
    marching-cubes mesh area and sphericity is derived from it (``_sphericity``).
    """
    labels = np.unique(masks)
    labels = labels[labels > 0]
    slices = ndimage.find_objects(masks)
    columns: CellTable = {"cell_id": labels.astype(np.int64)}
    columns |= _moment_fields_3d(masks, labels, spacing)
    columns |= _bbox_fields(slices, labels, ndim=3)
    columns |= _crop_fields_3d(masks, labels, slices, spacing)
    volume = columns["volume"]
    box_volume = np.ones(labels.size, np.int64)
    for axis in ("plane", "row", "col"):
        box_volume *= columns[f"bbox_max_{axis}"] - columns[f"bbox_min_{axis}"]
    columns["extent"] = volume / box_volume
    columns["equivalent_diameter"] = _sphere_diameter(volume)
    columns["solidity"] = volume / columns["convex_volume"]
    columns["sphericity"] = _sphericity(volume, columns["surface_area"])
    if spacing is not None:
        volume_um3 = volume * math.prod(spacing)
        columns["volume_um3"] = volume_um3
        columns["equivalent_diameter_um"] = _sphere_diameter(volume_um3)
    return columns


def _moment_fields_3d(
    masks: np.ndarray, labels: np.ndarray, spacing: tuple[float, ...] | None
) -> CellTable:
    """Volume, centroid and axis lengths of every label, without a per-cell loop."""
    coords = np.nonzero(masks)
    cell = masks[coords].astype(np.intp)
    size = int(labels.max()) + 1 if labels.size else 1
    count = np.bincount(cell, minlength=size).astype(np.float64)
    safe_count = np.where(count > 0, count, 1)
    centres = [np.bincount(cell, axis, size) / safe_count for axis in coords]
    # Second pass on centred coordinates: subtracting means of large sums loses precision.
    deltas = [axis - centre[cell] for axis, centre in zip(coords, centres, strict=True)]
    volume = count[labels]
    covariance = np.empty((labels.size, 3, 3))
    for i, j in itertools.combinations_with_replacement(range(3), 2):
        second = np.bincount(cell, deltas[i] * deltas[j], size)[labels] / volume
        covariance[:, i, j] = covariance[:, j, i] = second
    major, minor = _axis_lengths_3d(covariance)
    columns = {
        "volume": volume,
        "centroid_z": centres[0][labels],
        "centroid_y": centres[1][labels],
        "centroid_x": centres[2][labels],
        "major_axis_length": major,
        "minor_axis_length": minor,
    }
    if spacing is not None:
        scale = np.asarray(spacing)
        # Anisotropic voxels: the covariance of the physically scaled coordinates is
        # S C S; its axes are not the voxel-unit axes times any single factor.
        major_um, minor_um = _axis_lengths_3d(covariance * np.outer(scale, scale))
        columns |= {
            "major_axis_length_um": major_um,
            "minor_axis_length_um": minor_um,
            "centroid_z_um": columns["centroid_z"] * scale[0],
            "centroid_y_um": columns["centroid_y"] * scale[1],
            "centroid_x_um": columns["centroid_x"] * scale[2],
        }
    return columns


def _axis_lengths_3d(covariance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Major and minor axis lengths of each (3, 3) covariance, as regionprops in 3D.

    regionprops' inertia tensor is trace(C) I - C; with its eigenvalues ev0 >= ev1 >= ev2,
    the ellipsoid of the same second moments has axes sqrt(10 (ev0 + ev1 - ev2)) and
    sqrt(10 (-ev0 + ev1 + ev2)) (the same expressions, so flat cells round alike).
    """
    if covariance.shape[0] == 0:
        return np.zeros(0), np.zeros(0)
    trace = np.trace(covariance, axis1=1, axis2=2)
    tensor = trace[:, None, None] * np.eye(3) - covariance
    ev = np.clip(np.linalg.eigvalsh(tensor), 0, None)[:, ::-1]
    major = np.sqrt(np.clip(10 * (ev[:, 0] + ev[:, 1] - ev[:, 2]), 0, None))
    minor = np.sqrt(np.clip(10 * (-ev[:, 0] + ev[:, 1] + ev[:, 2]), 0, None))
    return major, minor


def _crop_fields_3d(
    masks: np.ndarray, labels: np.ndarray, slices: list[Any], spacing: tuple[float, ...] | None
) -> CellTable:
    """Surface area and convex volume: the per-cell loop, each on the cell's own crop."""
    surface = np.empty(labels.size)
    surface_um = np.empty(labels.size)
    convex_volume = np.empty(labels.size)
    scale = np.asarray(spacing if spacing is not None else (1.0, 1.0, 1.0))
    for row, label in enumerate(labels.tolist()):
        cell = masks[slices[label - 1]] == label
        verts, faces = _cell_mesh(cell)
        surface[row] = mesh_surface_area(verts, faces)
        # marching_cubes(spacing=...) only scales the vertices: one mesh serves both.
        if spacing is not None:
            surface_um[row] = mesh_surface_area(verts * scale, faces)
        convex_volume[row] = _convex_voxel_count(cell)
    columns = {"surface_area": surface, "convex_volume": convex_volume}
    if spacing is not None:
        columns["surface_area_um2"] = surface_um
    return columns


def _cell_mesh(cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Marching-cubes mesh (vertices in voxel units, faces) of a boolean crop.

    The crop is padded with background so the surface closes where the cell touches the
    crop's (or the image's) edge, and so even a one-voxel cell has a 3 x 3 x 3 volume."""
    padded = np.pad(cell, 1).astype(np.float32)
    verts, faces, _, _ = marching_cubes(padded, level=0.5)
    return np.asarray(verts, np.float64), np.asarray(faces)


# skimage's offsets: each voxel centre is represented by the centres of its six faces.
_DIAMOND = np.concatenate([np.eye(3), -np.eye(3)]) / 2
_HULL_TOLERANCE = 1e-10


def _convex_voxel_count(cell: np.ndarray) -> float:
    """Voxels of the crop whose centres lie in the cell's convex hull: regionprops' 3D
    ``area_convex`` (skimage's ``convex_hull_image``), the denominator of its solidity.

    As skimage, the hull is that of the voxel centres offset by +-0.5 along each axis, and
    a centre is inside when every facet's ``normal . x + offset < 1e-10``. The offsets
    make every cell's points span 3D, so a flat, collinear or one-voxel cell needs no
    fallback (skimage's own first hull, of the bare centres, fails on those). Only the two
    end voxels of each (z, y) row can give hull vertices; and each row of the crop meets
    the hull in one interval of x, so voxels are counted per row, not tested one by one.
    """
    z, y = np.nonzero(cell.any(axis=2))
    first = cell.argmax(axis=2)[z, y]
    last = cell.shape[2] - 1 - cell[:, :, ::-1].argmax(axis=2)[z, y]
    ends = np.stack([np.tile(z, 2), np.tile(y, 2), np.concatenate([first, last])], axis=1)
    equations = ConvexHull(_distinct((ends[:, None, :] + _DIAMOND).reshape(-1, 3))).equations
    rows_z, rows_y = (axis.ravel() for axis in np.indices(cell.shape[:2]))
    # Rows in chunks: the rows x facets arrays stay near 8 MB each, however large the cell.
    step = max(1, 1_000_000 // len(equations))
    return float(
        sum(
            _hull_row_counts(equations, rows_z[i : i + step], rows_y[i : i + step], cell.shape[2])
            for i in range(0, rows_z.size, step)
        )
    )


def _distinct(points: np.ndarray) -> np.ndarray:
    """The distinct rows of half-integer ``points`` (neighbours share face centres).

    Each point becomes one integer key: a 1D unique is far cheaper than ``unique(axis=0)``.
    """
    twice = np.rint(2 * points).astype(np.int64) + 1  # >= 0: points are >= -0.5
    span = twice.max(axis=0) + 1
    keys = (twice[:, 0] * span[1] + twice[:, 1]) * span[2] + twice[:, 2]
    return points[np.unique(keys, return_index=True)[1]]


def _hull_row_counts(equations: np.ndarray, z: np.ndarray, y: np.ndarray, width: int) -> int:
    """How many centres x = 0 .. width - 1 of the rows (z, y) are inside the hull."""
    normal_x = equations[:, 2]
    # Inside every facet: normal_x * x + rest < 0.
    rest = (
        z[:, None] * equations[:, 0] + y[:, None] * equations[:, 1] + equations[:, 3]
    ) - _HULL_TOLERANCE
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = -rest / normal_x
    above = np.max(np.where(normal_x < 0, bound, -np.inf), axis=1, initial=-np.inf)
    below = np.min(np.where(normal_x > 0, bound, np.inf), axis=1, initial=np.inf)
    first = np.maximum(np.floor(above) + 1, 0)  # strictly above
    last = np.minimum(np.ceil(below) - 1, width - 1)  # strictly below
    parallel_outside = np.any((normal_x == 0) & (rest >= 0), axis=1)
    return int(np.where(parallel_outside, 0, np.clip(last - first + 1, 0, None)).sum())


def _sphere_diameter(volume: np.ndarray) -> np.ndarray:
    """Diameter of the sphere of the same volume, (6 V / pi) ** (1 / 3)."""
    return np.cbrt(6 * volume / np.pi)


def _sphericity(volume: np.ndarray, surface: np.ndarray) -> np.ndarray:
    """pi^(1/3) (6 V)^(2/3) / A: 1 for a sphere. In voxel units, so it assumes cubic voxels.

    A relative measure: the marching-cubes surface of a binary mask is faceted, so a
    digital ball of radius 5 to 20 voxels scores about 0.91-0.92; and a cell of a few
    voxels encloses less than its voxel count (one voxel meshes to an octahedron of
    volume 1/6), so it can score above 1 (one voxel: 2.79)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        sphericity: np.ndarray = np.cbrt(np.pi) * np.cbrt(6 * volume) ** 2 / surface
    return sphericity


def aspect_ratio(major: np.ndarray, minor: np.ndarray) -> np.ndarray:
    """Major / minor axis; NaN (null in JSON) for one-pixel-thin cells whose minor axis is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(minor > 0, major / np.where(minor > 0, minor, 1), np.nan)


class _CellVoxels(NamedTuple):
    """The foreground grouped by cell, in label order: cell k's flat voxel indices are
    ``voxels[starts[k]:starts[k] + counts[k]]``, and ``segment`` is each voxel's k."""

    voxels: np.ndarray
    segment: np.ndarray
    starts: np.ndarray
    counts: np.ndarray


def intensity_fields(channel_names: Sequence[str]) -> tuple[str, ...]:
    """The columns of ``intensity_table``: per channel, in ``INTENSITY_FEATURES`` order."""
    return tuple(
        f"Intensity_{feature}_{name}" for name in channel_names for feature in INTENSITY_FEATURES
    )


def intensity_table(
    masks: np.ndarray, intensity: np.ndarray, channel_names: Sequence[str]
) -> CellTable:
    """Per-cell intensity features of every channel; rows as ``measure_cells`` (label order).

    ``intensity`` has shape ``masks.shape + (len(channel_names),)``: channel last, 2D or
    3D, any real dtype. Values accumulate in float64. The foreground is grouped by cell
    once (one sort of the labels) and every channel reuses that grouping: sums, extremes
    and the centred second moment are ``reduceat`` over the cells' runs, and the median
    comes from one sort per channel. Std is the population std (ddof=0), as regionprops.
    """
    names = _check_intensity(masks, intensity, channel_names)
    if not names:  # nothing to measure (and no (-1, 0) reshape of a size-0 array)
        return {}
    cells = _cell_voxels(masks)
    flat = intensity.reshape(-1, len(names))
    columns: CellTable = {}
    for k, name in enumerate(names):
        features = _channel_features(flat[cells.voxels, k], cells)
        columns |= {f"Intensity_{feature}_{name}": features[feature] for feature in features}
    return columns


def _check_intensity(
    masks: np.ndarray, intensity: np.ndarray, channel_names: Sequence[str]
) -> list[str]:
    names = list(channel_names)
    expected = (*masks.shape, len(names))
    if intensity.shape != expected:
        raise ValueError(
            f"intensity must have shape {expected} (the labels' shape, then one channel per "
            f"name), got {intensity.shape}"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"channel names must be unique, got {names}")
    if intensity.dtype.kind not in "biuf":
        raise ValueError(f"intensity must be real-valued, got dtype {intensity.dtype}")
    return names


def _cell_voxels(masks: np.ndarray) -> _CellVoxels:
    flat = masks.ravel()
    voxels = np.flatnonzero(flat > 0)
    labels = flat[voxels]
    # numpy's stable sort of 8- or 16-bit integers is a radix sort: linear in the voxels.
    order = np.argsort(labels, kind="stable")
    voxels, labels = voxels[order], labels[order]
    first = np.ones(labels.size, bool)
    first[1:] = labels[1:] != labels[:-1]
    starts = np.flatnonzero(first)
    counts = np.diff(np.append(starts, labels.size))
    return _CellVoxels(voxels, np.repeat(np.arange(starts.size), counts), starts, counts)


def _channel_features(values: np.ndarray, cells: _CellVoxels) -> CellTable:
    """``INTENSITY_FEATURES`` of one channel's foreground values (in ``cells`` order)."""
    if cells.starts.size == 0:  # reduceat cannot reduce over no runs
        return {feature: np.zeros(0) for feature in INTENSITY_FEATURES}
    as_float = values.astype(np.float64)
    total = np.add.reduceat(as_float, cells.starts)
    mean = total / cells.counts
    # Second pass on centred values, as numpy's std: E[x²] - E[x]² cancels catastrophically.
    centred = as_float - mean[cells.segment]
    std = np.sqrt(np.add.reduceat(centred * centred, cells.starts) / cells.counts)
    return {
        "MeanIntensity": mean,
        "MedianIntensity": _cell_medians(values, cells),
        "StdIntensity": std,
        "MinIntensity": np.minimum.reduceat(values, cells.starts).astype(np.float64),
        "MaxIntensity": np.maximum.reduceat(values, cells.starts).astype(np.float64),
        "IntegratedIntensity": total,
    }


def _cell_medians(values: np.ndarray, cells: _CellVoxels) -> np.ndarray:
    """Each cell's median, as np.median: the mean of the two middle values of an even count."""
    ordered = _sorted_within_cells(values, cells.segment)
    lower = ordered[cells.starts + (cells.counts - 1) // 2]
    upper = ordered[cells.starts + cells.counts // 2]
    median: np.ndarray = (lower + upper) / 2
    if values.dtype.kind == "f":
        # np.median is NaN for a cell with any NaN; the sort would move NaNs to the end.
        median[np.logical_or.reduceat(np.isnan(values), cells.starts)] = np.nan
    return median


def _sorted_within_cells(values: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """``values`` (grouped by ``segment``, ascending) sorted within each cell, as float64.

    Values of at most 32 bits get an order-preserving 32-bit code, packed under the
    segment index into one uint64 key: a single plain sort then orders by (cell, value),
    several times faster than lexsort. 64-bit values fall back to lexsort.
    """
    codes = _order_codes(values)
    if codes is None:
        return values[np.lexsort((values, segment))].astype(np.float64)
    keys = (segment.astype(np.uint64) << np.uint64(32)) | codes
    keys.sort()
    return _decode_order_codes(keys & np.uint64(0xFFFFFFFF), values.dtype)


def _order_codes(values: np.ndarray) -> np.ndarray | None:
    """uint64 codes below 2**32 that sort as ``values`` do; None for 64-bit values."""
    kind, size = values.dtype.kind, values.dtype.itemsize
    if size > 4:
        return None
    if kind in "bu":
        return values.astype(np.uint64)
    if kind == "i":
        return (values.astype(np.int64) + 2**31).astype(np.uint64)
    bits = values.astype(np.float32).view(np.uint32).astype(np.uint64)
    # IEEE-754 bits sort as the floats once negatives have every bit flipped, and
    # positives only the sign bit.
    negative = (bits >> np.uint64(31)).astype(bool)
    return np.where(negative, bits ^ np.uint64(0xFFFFFFFF), bits | np.uint64(0x80000000))


def _decode_order_codes(codes: np.ndarray, dtype: np.dtype[Any]) -> np.ndarray:
    if dtype.kind in "bu":
        return codes.astype(np.float64)
    if dtype.kind == "i":
        return (codes.astype(np.int64) - 2**31).astype(np.float64)
    positive = (codes >> np.uint64(31)).astype(bool)
    bits = np.where(positive, codes ^ np.uint64(0x80000000), codes ^ np.uint64(0xFFFFFFFF))
    return bits.astype(np.uint32).view(np.float32).astype(np.float64)


def intensity_summary(
    table: CellTable, channel_names: Sequence[str]
) -> dict[str, dict[str, float | None]]:
    """Per channel: the mean over cells of the cell means and of the integrated intensities,
    and the extremes over all cells; None where there are no cells (or a NaN)."""
    summary = {}
    for name in channel_names:
        column = {feature: table[f"Intensity_{feature}_{name}"] for feature in INTENSITY_FEATURES}
        summary[name] = {
            "mean_intensity": _statistic(column["MeanIntensity"], np.mean),
            "mean_integrated_intensity": _statistic(column["IntegratedIntensity"], np.mean),
            "min_intensity": _statistic(column["MinIntensity"], np.min),
            "max_intensity": _statistic(column["MaxIntensity"], np.max),
        }
    return summary


def _statistic(column: np.ndarray, reduce: Callable[[np.ndarray], Any]) -> float | None:
    """``reduce(column)`` as a JSON number: None for no cells, NaN or inf."""
    if column.size == 0:
        return None
    value = float(reduce(column))
    return value if math.isfinite(value) else None


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


def is_3d(table: CellTable) -> bool:
    """Whether ``table`` was measured from a (Z, Y, X) label image."""
    return "volume" in table


def summarize(table: CellTable) -> dict[str, int | float | None]:
    if is_3d(table):
        return _summarize_3d(table)
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


def _summarize_3d(table: CellTable) -> dict[str, int | float | None]:
    """Volume takes area's place; 3D has no aspect ratio, so its shape summary is the mean
    surface area and sphericity instead (all None when there are no cells)."""
    volume = table["volume"]
    sphericity = table["sphericity"][np.isfinite(table["sphericity"])]
    return {
        "total_cells": int(volume.size),
        "average_volume": _statistic(volume, np.mean),
        "min_volume": _statistic(volume, np.min),
        "max_volume": _statistic(volume, np.max),
        "average_surface_area": _statistic(table["surface_area"], np.mean),
        "average_sphericity": _statistic(sphericity, np.mean),
    }


def _physical_summary(table: CellTable) -> dict[str, float | None]:
    """The size summary in µm (None when there are no cells)."""
    if is_3d(table):
        volume = table["volume_um3"]
        return {
            "average_volume_um3": _statistic(volume, np.mean),
            "min_volume_um3": _statistic(volume, np.min),
            "max_volume_um3": _statistic(volume, np.max),
            "average_surface_area_um2": _statistic(table["surface_area_um2"], np.mean),
            "average_equivalent_diameter_um": _statistic(table["equivalent_diameter_um"], np.mean),
        }
    area = table["area_um2"]
    return {
        "average_area_um2": _statistic(area, np.mean),
        "min_area_um2": _statistic(area, np.min),
        "max_area_um2": _statistic(area, np.max),
        "average_equivalent_diameter_um": _statistic(table["equivalent_diameter_um"], np.mean),
    }


def metrics_document(
    table: CellTable, *, channel_names: Sequence[str] = (), physical: bool = False
) -> dict[str, Any]:
    """The body of ``GET predictions/{id}/metrics/``; 2D or 3D fields as the table is.

    The table may carry merged columns. With ``physical`` (``measure_cells`` was given a
    pixel size) each cell also has the physical fields and the summary their sizes; with
    ``channel_names`` (``table | intensity_table(...)``) each cell has the intensity
    fields and the summary ``"channels"``. The plain fields and keys always come first, in
    their order, so a document without either is exactly the seed's.
    """
    three_d = is_3d(table)
    fields: tuple[str, ...] = INDIVIDUAL_FIELDS_3D if three_d else INDIVIDUAL_FIELDS
    summary: dict[str, Any] = summarize(table)
    if physical:
        fields += PHYSICAL_FIELDS_3D if three_d else PHYSICAL_FIELDS
        summary |= _physical_summary(table)
    if channel_names:
        fields += intensity_fields(channel_names)
        summary["channels"] = intensity_summary(table, channel_names)
    return {"summary": summary, "individual_metrics": rows(table, fields)}


def shape_analysis_document(table: CellTable) -> dict[str, Any]:
    """The body of ``GET metrics/shape_analysis/``; 2D or 3D fields as the table is."""
    return {"shape_analysis": rows(table, SHAPE_FIELDS_3D if is_3d(table) else SHAPE_FIELDS)}
