"""Local estimates for large 2D images: a threshold, a class spread and a diameter per window.

A slide is not one image statistically: staining, illumination, focus and even magnification (in
a mosaic) change from region to region, so one Otsu threshold and one diameter for the whole
image fail. Issue 12 measured AP@0.5 0.05 on a mosaic of the DSB fluorescence images that scores
0.6 image by image. Cellpose answers with ``tile_norm_blocksize`` (percentiles per tile); the
watershed engine estimates its two global quantities per window instead:

- The image is cut into square grid cells of ``CELL`` pixels; a *window* is 2 x 2 grid cells, so
  windows overlap by half and their centres lie on the grid's inner corners.
- One ``bincount`` pass gives every grid cell's histogram of sqrt(intensity) (the space in which
  ``watershed.foreground_logit`` thresholds); a window's histogram is the sum of its four.
- Pixels that are exactly 0 are left out of the histograms: the padding around a scan and
  between a mosaic's fields is 0, and would pass for the background class (the image's darkest
  tail, which the normalisation clips to 0, is left out with it, which moves nothing).
- Per window, Otsu's threshold and the spread of its two classes (a quarter of the gap between
  the class means, as in ``foreground_logit``).
- A window *holds objects* when its class means differ by at least ``MIN_CONTRAST`` of the
  image's normalised range (Otsu splits pure background too, into two halves of its noise) and
  its objects are neither a trace nor nearly all of it. Other windows take the estimates of the
  nearest window that holds objects.
- Thresholds and spreads are interpolated bilinearly between window centres, so the
  foreground logit is continuous across the image.
- The diameter of a window is ``watershed``'s estimate (twice the median inscribed radius) over
  the components of the local foreground whose centroid lies in it; a grid cell takes the median
  of its windows' diameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from scipy import ndimage as ndi

FloatArray = npt.NDArray[np.float64]

CELL = 128  # grid cell side in pixels; windows are twice that
# Images whose sides both hold at least this many grid cells are estimated locally; smaller
# ones are one region already (every DSB image is), and their global estimate is the local one.
MIN_CELLS = 8
BINS = 256  # histogram bins over sqrt(intensity) in [0, 1]
MIN_CONTRAST = 0.05  # between class means, in the image's normalised intensity
MIN_OBJECT_SHARE, MAX_OBJECT_SHARE = 0.01, 0.9
MIN_COVERAGE = 0.25  # of a window's pixels inside the image, for its histogram to count
MIN_COMPONENTS = 3  # in a window, for its own diameter estimate
# Regions segmented with one diameter: grid cells whose diameters round to the same step of this
# geometric ladder. Steps of 25% change the smoothing and seed scales little.
SCALE_STEP = 1.25


def wanted(shape: tuple[int, ...]) -> bool:
    """Whether a 2D image is large enough for local estimates."""
    return len(shape) == 2 and min(shape) >= MIN_CELLS * CELL


@dataclass(frozen=True)
class Thresholds:
    """Per-window estimates on the (rows - 1, cols - 1) grid of windows, in sqrt(intensity)."""

    threshold: FloatArray
    spread: FloatArray
    holds_objects: npt.NDArray[np.bool_]

    @property
    def any_objects(self) -> bool:
        return bool(self.holds_objects.any())

    def filled(self) -> Thresholds:
        """Windows without objects take the estimates of the nearest window with objects."""
        nearest = _nearest(self.holds_objects)
        return Thresholds(self.threshold[nearest], self.spread[nearest], self.holds_objects)

    def logit(self, stabilised: np.ndarray, origin: tuple[int, int] = (0, 0)) -> FloatArray:
        """(value - threshold) / spread per pixel of ``stabilised`` (sqrt intensity), which
        lies at ``origin`` (row, column) in the image the grid was estimated on."""
        threshold = interpolate(self.threshold, stabilised.shape, origin)
        spread = interpolate(self.spread, stabilised.shape, origin)
        return (stabilised - threshold) / spread


def window_thresholds(stabilised: np.ndarray) -> Thresholds:
    """Otsu per window of a 2D sqrt(intensity) image with values in [0, 1], over its pixels
    above 0: the padding around a scan and between a mosaic's fields is exactly 0 (as is the
    darkest tail, which the normalisation clips) and would pass for a second class."""
    hist = window_histograms(stabilised, stabilised > 0)
    counts = hist.sum(axis=-1)
    centres = (np.arange(BINS) + 0.5) / BINS
    total = np.maximum(counts, 1)[..., None]
    weight = np.cumsum(hist, axis=-1) / total  # share at or below each bin
    first_moment = np.cumsum(hist * centres, axis=-1) / total
    mean = first_moment[..., -1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mean * weight - first_moment) ** 2 / (weight * (1 - weight))
    between = np.nan_to_num(between[..., :-1], nan=0.0, posinf=0.0)
    split = np.argmax(between, axis=-1)[..., None]
    below = np.take_along_axis(weight, split, -1)[..., 0]
    low_sum = np.take_along_axis(first_moment, split, -1)[..., 0]
    mean = mean[..., 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        low = low_sum / below
        high = (mean - low_sum) / (1 - below)
    contrast = np.nan_to_num(high) ** 2 - np.nan_to_num(low) ** 2  # back in intensity
    holds = (
        (counts >= MIN_COVERAGE * (2 * CELL) ** 2)
        & (contrast >= MIN_CONTRAST)
        & (1 - below >= MIN_OBJECT_SHARE)
        & (1 - below <= MAX_OBJECT_SHARE)
    )
    threshold = (split[..., 0] + 1) / BINS
    spread = np.maximum(np.nan_to_num(high - low) / 4.0, 1e-6)
    return Thresholds(threshold.astype(np.float64), spread, holds)


def window_histograms(values: np.ndarray, counted: np.ndarray) -> npt.NDArray[np.int64]:
    """(rows - 1, cols - 1, BINS) histograms of the 2 x 2-cell windows of a [0, 1] image, over
    the pixels where ``counted`` is True."""
    rows, cols = grid_shape(values.shape)
    bins = np.minimum((np.clip(values, 0.0, 1.0) * BINS).astype(np.intp), BINS - 1)
    row_cell = (np.arange(values.shape[0]) // CELL)[:, None]
    col_cell = (np.arange(values.shape[1]) // CELL)[None, :]
    index = (row_cell * cols + col_cell) * BINS + bins
    cells = np.bincount(index[counted], minlength=rows * cols * BINS).reshape(rows, cols, BINS)
    return cast(
        npt.NDArray[np.int64], cells[:-1, :-1] + cells[1:, :-1] + cells[:-1, 1:] + cells[1:, 1:]
    )


def grid_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """Grid cells per side (the last one may be partial)."""
    return -(-shape[0] // CELL), -(-shape[1] // CELL)


def interpolate(
    grid: np.ndarray, shape: tuple[int, ...], origin: tuple[int, int] = (0, 0)
) -> FloatArray:
    """Bilinear values of a per-window grid at every pixel of a (rows, cols) crop at ``origin``.

    Window (i, j) is centred on the grid corner ((i + 1) * CELL, (j + 1) * CELL); pixels outside
    the outermost centres take the nearest centre's value.
    """
    along_rows = _along(grid, np.arange(shape[0]) + origin[0], axis=0)
    return _along(along_rows, np.arange(shape[1]) + origin[1], axis=1)


def _along(grid: np.ndarray, pixels: np.ndarray, axis: int) -> FloatArray:
    position = np.clip((pixels + 0.5) / CELL - 1.0, 0.0, grid.shape[axis] - 1)
    lower = np.minimum(np.floor(position).astype(np.intp), grid.shape[axis] - 1)
    upper = np.minimum(lower + 1, grid.shape[axis] - 1)
    fraction = position - lower
    shape = [1, 1]
    shape[axis] = -1
    fraction = fraction.reshape(shape)
    return cast(
        FloatArray,
        np.take(grid, lower, axis=axis) * (1 - fraction)
        + np.take(grid, upper, axis=axis) * fraction,
    )


def cell_diameters(
    components: np.ndarray,
    radii: np.ndarray,
    areas: np.ndarray,
    windows: tuple[int, int],
    estimate: Callable[[np.ndarray, np.ndarray], float],
) -> FloatArray | None:
    """The nucleus diameter of every grid cell: the median of its windows' diameters.

    ``components`` labels the local foreground 1..n; ``radii`` and ``areas`` are theirs, and
    ``estimate(radii, areas)`` turns a window's components into a diameter. Windows with fewer
    than ``MIN_COMPONENTS`` take the nearest estimated window's; None when no window has enough.
    """
    rows, cols = centroid_cells(components, radii.size)
    diameters = np.full(windows, np.nan)
    for (row, col), members in per_window(rows, cols, windows).items():
        if members.size >= MIN_COMPONENTS:
            diameters[row, col] = estimate(radii[members], areas[members])
    known = np.isfinite(diameters)
    if not known.any():
        return None
    diameters = diameters[_nearest(known)]
    # Grid cell (r, c) is covered by windows (r - 1 .. r, c - 1 .. c), those that exist.
    padded = np.pad(diameters, 1, constant_values=np.nan)
    covering = [
        padded[dr : dr + windows[0] + 1, dc : dc + windows[1] + 1] for dr in (0, 1) for dc in (0, 1)
    ]
    return cast(FloatArray, np.nanmedian(np.stack(covering), axis=0))


@dataclass(frozen=True)
class Regions:
    """Connected grid cells of one diameter step: ``ids`` labels the grid 1..n, ``diameters[i]``
    is region i + 1's median diameter and ``cells[i]`` its bounding box in grid cells."""

    ids: npt.NDArray[np.intp]
    diameters: tuple[float, ...]
    cells: tuple[tuple[slice, slice], ...]

    def pixels(self, index: int, shape: tuple[int, ...], margin: int) -> tuple[slice, slice]:
        """Region ``index``'s bounding box in an image of ``shape``, grown by ``margin`` px."""
        rows, cols = self.cells[index]
        return (
            slice(max(rows.start * CELL - margin, 0), min(rows.stop * CELL + margin, shape[0])),
            slice(max(cols.start * CELL - margin, 0), min(cols.stop * CELL + margin, shape[1])),
        )

    def of_pixels(self, crop: tuple[slice, slice]) -> npt.NDArray[np.intp]:
        """The region id of every pixel of a crop."""
        rows = np.arange(crop[0].start, crop[0].stop) // CELL
        cols = np.arange(crop[1].start, crop[1].stop) // CELL
        return cast(npt.NDArray[np.intp], self.ids[rows[:, None], cols[None, :]])


def regions(diameters: FloatArray) -> Regions:
    """Split the grid into connected regions of one diameter step."""
    steps = np.round(np.log(np.maximum(diameters, 1e-6)) / np.log(SCALE_STEP)).astype(np.intp)
    ids = np.zeros(steps.shape, np.intp)
    for step in np.unique(steps):
        labelled, _ = ndi.label(steps == step)
        ids = np.where(labelled > 0, labelled + ids.max(), ids)
    boxes = tuple(cast(tuple[slice, slice], box) for box in ndi.find_objects(ids))
    medians = tuple(
        float(np.median(diameters[box][ids[box] == i])) for i, box in enumerate(boxes, start=1)
    )
    return Regions(ids, medians, boxes)


def centroid_cells(labels: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The grid cell (row, column) of each label's centroid, labels 1..count."""
    rows, cols = centroid_pixels(labels, count)
    return rows // CELL, cols // CELL


def centroid_pixels(labels: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The pixel (row, column) holding each label's centroid, labels 1..count, in one pass."""
    areas = np.maximum(np.bincount(labels.ravel(), minlength=count + 1)[1:], 1)
    rows = np.broadcast_to(np.arange(labels.shape[0])[:, None], labels.shape)
    cols = np.broadcast_to(np.arange(labels.shape[1])[None, :], labels.shape)
    row_sum = np.bincount(labels.ravel(), rows.ravel(), count + 1)
    col_sum = np.bincount(labels.ravel(), cols.ravel(), count + 1)
    return (row_sum[1:] / areas).astype(np.intp), (col_sum[1:] / areas).astype(np.intp)


def per_window(
    cell_rows: np.ndarray, cell_cols: np.ndarray, windows: tuple[int, int]
) -> dict[tuple[int, int], np.ndarray]:
    """The indices of the items whose grid cell each window covers (up to four windows cover a
    cell), for the windows that cover any."""
    index = np.arange(cell_rows.size)
    window_ids, items = [], []
    for dr in (0, 1):
        for dc in (0, 1):
            rows, cols = cell_rows - dr, cell_cols - dc
            inside = (rows >= 0) & (rows < windows[0]) & (cols >= 0) & (cols < windows[1])
            window_ids.append(rows[inside] * windows[1] + cols[inside])
            items.append(index[inside])
    flat, members = np.concatenate(window_ids), np.concatenate(items)
    order = np.argsort(flat, kind="stable")
    flat, members = flat[order], members[order]
    starts = np.flatnonzero(np.r_[True, flat[1:] != flat[:-1]]) if flat.size else flat
    groups = np.split(members, starts[1:]) if flat.size else []
    return {divmod(int(flat[s]), windows[1]): g for s, g in zip(starts, groups, strict=True)}


def _nearest(valid: np.ndarray) -> tuple[np.ndarray, ...]:
    """Index arrays mapping every grid position to the nearest valid one."""
    if valid.all() or not valid.any():
        return tuple(np.indices(valid.shape))
    indices = ndi.distance_transform_edt(~valid, return_distances=False, return_indices=True)
    return tuple(cast(Any, indices))
