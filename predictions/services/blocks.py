"""Whole-slide images in blocks: plan, windowed reads, a cheap emptiness test, stitching.

A large 2D image is cut into blocks (:func:`plan_blocks`). Each block owns its *core*, and the
cores tile the image without overlap; it is segmented on its *window*, the core grown by
``overlap`` pixels on each side (clipped to the image), read alone from the file
(:func:`read_window`). A block whose window is flat (:func:`has_foreground`) is skipped. The
blocks' label images are then stitched, block by block, into one global label image
(:func:`stitch`), usually a memory-mapped ``masks.npy``, and measured in windows
(:func:`measure_blocks`).

Stitching rule (the blocks are taken in plan order, row-major):

1. *Ownership.* A block keeps only the cells it owns: a cell touching an edge of its window that
   is not an image border is cut and dropped (the neighbour sees it whole, as long as
   ``overlap`` is at least the largest cell's diameter; two diameters are recommended), and of
   the rest it keeps those whose centroid lies in its core. Cores are half-open
   (``start <= centroid < stop``, in pixel-centre coordinates), so a centroid that lies exactly
   on a core boundary belongs to one block only: the one below or to the right.
2. *Duplicates.* When the blocks' segmentations disagree, one cell may be owned by two blocks.
   An owned cell that overlaps a cell already stitched with IoU >= ``iou_threshold`` (0.5), or
   whose overlap covers at least half of the smaller of the two, is the same cell: the one whose
   centroid is farther from the nearest edge of its block's window that is not an image border
   (better centred) is kept; on a tie the earlier one. A new cell that loses to any earlier one
   is dropped; otherwise it replaces every earlier cell it duplicates.
3. *Numbering.* A kept cell gets the next global label, in block order, then in ascending order
   of its local id. A cell that replaces earlier ones takes over the lowest of their labels; when
   it replaced several (a cell one block split in two), the labels left unused are closed up by
   one renumbering pass over the image, so the labels are always exactly 1..N.
4. *Pixels.* A cell's pixels are written where no earlier cell claimed them: where two
   different cells overlap, the earlier one keeps the pixels. A cell left with no pixel at all
   is dropped.

Cellpose's ``distributed_segmentation`` differs: it crops each block's labels back to the block
(its overlap only gives the model context) and merges labels that touch across block faces, so
a cell cut by a face is joined from two pieces, and two different cells touching across a face
may be joined too. Here, a cell is taken whole from one block, the one whose core holds its
centroid, and nothing is merged: two touching nuclei on either side of a seam stay two cells.
The price is that a cell larger than the overlap allows (no window holds it whole) is lost.

Memory: one block at a time, its labels and the global labels of its window (where the already
stitched neighbours' cells lie), plus a few numbers per cell; the global image is only ever
touched through ``masks_out``, window by window. The caller allocates ``masks_out`` zero-filled
(a new ``np.lib.format.open_memmap`` is), with an unsigned dtype wide enough for the cells:
uint32 in production, whatever the count. :attr:`StitchResult.dtype` is ``label_dtype(N)``, the
narrowest type that holds the result, for exports that want it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import numpy.typing as npt
import tifffile
import zarr
from scipy import ndimage

from predictions.services import images, measure
from predictions.services.axes import AxesRequest, Layout
from predictions.services.images import ImageError
from predictions.services.labels import label_dtype

Window = tuple[slice, slice]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

DEFAULT_IOU_THRESHOLD = 0.5
# Two owned cells are also the same cell when their overlap covers this much of the smaller.
CONTAINED_FRACTION = 0.5


@dataclass(frozen=True)
class Block:
    """One block of a plan: ``core`` is the region it owns, ``window`` the region it reads."""

    index: int
    core: Window
    window: Window

    @property
    def origin(self) -> tuple[int, int]:
        """The window's top-left pixel in image coordinates."""
        return (int(self.window[0].start), int(self.window[1].start))

    @property
    def shape(self) -> tuple[int, int]:
        """The window's shape: that of the block's image and of its labels."""
        rows, cols = self.window
        return (int(rows.stop - rows.start), int(cols.stop - cols.start))


def plan_blocks(shape: tuple[int, int], block_size: int, overlap: int) -> list[Block]:
    """Blocks of ``block_size`` squared (smaller at the right and bottom), row-major.

    Cores tile the image exactly once; each window is its core grown by ``overlap`` on every
    side, clipped to the image.
    """
    if len(shape) != 2 or any(int(n) <= 0 for n in shape):
        raise ValueError(f"shape must be two positive sizes (rows, columns), got {shape!r}")
    size = _whole(block_size, "block_size")
    grow = _whole(overlap, "overlap")
    if size <= 0:
        raise ValueError(f"block_size must be > 0, got {block_size!r}")
    if grow < 0:
        raise ValueError(f"overlap must be >= 0, got {overlap!r}")
    height, width = int(shape[0]), int(shape[1])
    blocks: list[Block] = []
    for row in range(0, height, size):
        for col in range(0, width, size):
            rows = slice(row, min(row + size, height))
            cols = slice(col, min(col + size, width))
            window = (
                slice(max(0, row - grow), min(height, rows.stop + grow)),
                slice(max(0, col - grow), min(width, cols.stop + grow)),
            )
            blocks.append(Block(len(blocks), (rows, cols), window))
    return blocks


def _whole(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be a whole number of pixels, got {value!r}")
    return int(value)


# --- Windowed reads -------------------------------------------------------------------------


def read_window(
    path: Path, window: Window, reading: AxesRequest | None = None, *, level: int = 0
) -> np.ndarray:
    """Only ``window`` (of the pyramid ``level``, in that level's pixels) of a 2D TIFF.

    The file is read as the job reads it (``reading``: series, channel axis, T index), through
    tifffile's zarr store, so only the strips or tiles the window touches are decoded.
    Channel-last, as the engines take images: (Y, X), or (Y, X, C) for an RGB (YXS),
    planar-RGB (SYX) or multichannel (CYX) file, alpha dropped. A z-stack is refused: it is
    not read in blocks.
    """
    with tifffile.TiffFile(path) as tif:
        layout, _dtype = images.tiff_layout(tif, reading or AxesRequest(series=0))
        if layout.is_stack:
            raise ImageError(
                f"only 2D images are read in blocks; this one is a stack of {layout.shape[0]} "
                "planes",
                "tiled",
            )
        image = tif.series[layout.series]
        if not 0 <= level < len(image.levels):
            raise ImageError(f"level must be between 0 and {len(image.levels) - 1}", "level")
        index = _window_index(layout, tuple(image.levels[level].shape), window)
        store = image.aszarr(level=level)
        try:
            array = zarr.open(store, mode="r")
            if not isinstance(array, zarr.Array):
                raise ImageError(f"level {level} of series {layout.series} is not one image")
            data = np.asarray(array[index])
        finally:
            store.close()
    # The window keeps the dropped axes at length 1, so what was taken at t is now at 0.
    windowed = replace(layout, source_shape=data.shape, take=dict.fromkeys(layout.take, 0))
    return images.Canonical(windowed.canonical(data), windowed).array


def _window_index(layout: Layout, shape: tuple[int, ...], window: Window) -> tuple[slice, ...]:
    """The zarr index of ``window``: its rows and columns, the taken plane of dropped axes."""
    letters = layout.axes
    rows = _checked_slice(window[0], shape[letters.index("Y")], "rows")
    cols = _checked_slice(window[1], shape[letters.index("X")], "columns")
    index = []
    for axis, letter in enumerate(letters):
        if letter in "YX":
            index.append(rows if letter == "Y" else cols)
        elif axis in layout.take:
            index.append(slice(layout.take[axis], layout.take[axis] + 1))
        else:
            index.append(slice(None))
    return tuple(index)


def _checked_slice(part: slice, size: int, what: str) -> slice:
    start = 0 if part.start is None else int(part.start)
    stop = size if part.stop is None else int(part.stop)
    if part.step not in (None, 1) or not 0 <= start < stop <= size:
        raise ValueError(f"window {what} {part} is not a non-empty range inside 0..{size}")
    return slice(start, stop)


# --- Skipping empty blocks ------------------------------------------------------------------

# Extreme values of pure Gaussian noise over up to a million samples lie within about +-5 sigma
# of its mean; a window whose whole range stays under this many noise sigmas holds no object.
FLAT_NOISE_MULTIPLE = 12.0
# The window is mean-pooled in bins of this many pixels a side (fewer for a small window): that
# divides the noise by the bin side while keeping a nucleus several pixels wide at full contrast,
# and spreads a hot pixel thin.
POOL_SIDE = 4
MIN_POOLED_SIDE = 32
MAX_POOLED_PIXELS = 1 << 20
# sigma of i.i.d. Gaussian noise from the median absolute difference of neighbours.
NOISE_FROM_MEDIAN_DIFF = 1.0 / (0.6744897501960817 * math.sqrt(2.0))


def has_foreground(image: np.ndarray) -> bool:
    """Whether a block's image may hold a cell; False only for a flat (or noise-only) window.

    The rule is scale-free (it does not change when intensities are shifted or scaled) and
    conservative, since a wrong False loses cells: the window is mean-pooled (``POOL_SIDE``
    pixel bins), and a channel is flat when its range (max - min, not a percentile: a lone small
    nucleus is a tiny fraction of a window's pixels) is zero, or at most ``FLAT_NOISE_MULTIPLE``
    times its noise, estimated from the median absolute difference of neighbouring pooled
    values. Any channel that is not flat makes the window foreground, so constant channels (an
    opaque alpha) count for nothing. Smooth gradients, dust and hot pixels count as foreground:
    the engine then runs and finds what it finds. Measured: a nucleus 3 noise sigmas above the
    background, 3 pixels in radius, is found; pure Gaussian noise is flat.
    """
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3:
        raise ValueError(f"expected a (Y, X) or (Y, X, C) image, got shape {array.shape}")
    if array.size == 0:
        return False
    pooled = _mean_pooled(array)
    return any(_has_signal(pooled[..., c]) for c in range(pooled.shape[-1]))


def _mean_pooled(array: np.ndarray) -> FloatArray:
    height, width = array.shape[:2]
    side = max(1, min(POOL_SIDE, min(height, width) // MIN_POOLED_SIDE))
    side = max(side, math.ceil(math.sqrt(height * width / MAX_POOLED_PIXELS)))
    if side == 1:
        return array.astype(np.float64)
    pad = ((0, -height % side), (0, -width % side), (0, 0))
    padded = np.pad(array, pad, mode="edge") if any(p[1] for p in pad) else array
    rows, cols = padded.shape[0] // side, padded.shape[1] // side
    bins = padded.reshape(rows, side, cols, side, array.shape[2])
    return np.asarray(bins.mean(axis=(1, 3), dtype=np.float64))


def _has_signal(plane: FloatArray) -> bool:
    finite = np.isfinite(plane)
    if not finite.any():
        return False
    values = plane if finite.all() else np.where(finite, plane, np.nanmedian(plane))
    spread = float(values.max() - values.min())
    if spread == 0:
        return False
    diffs = np.concatenate(
        [np.abs(np.diff(values, axis=0)).ravel(), np.abs(np.diff(values, axis=1)).ravel()]
    )
    noise = NOISE_FROM_MEDIAN_DIFF * float(np.median(diffs)) if diffs.size else 0.0
    return spread > FLAT_NOISE_MULTIPLE * noise


# --- Ownership ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Owned:
    """A block's owned cells, ascending local id; coordinates are the window's."""

    ids: IntArray
    rank: np.ndarray  # the window's labels as 1..k over the owned cells, 0 elsewhere
    centroid: FloatArray  # (k, 2) row, column
    margin: FloatArray  # distance from the centroid to the nearest inner window edge
    boxes: IntArray  # (k, 4) min row, min column, max row, max column (exclusive)


def owned_cells(
    labels: np.ndarray, block: Block, image_shape: tuple[int, int]
) -> npt.NDArray[np.int64]:
    """The local ids (ascending) of the cells ``block`` owns in its window's ``labels``."""
    return _owned(labels, block, image_shape).ids


def _owned(labels: np.ndarray, block: Block, image_shape: tuple[int, int]) -> _Owned:
    labels = _checked_labels(labels, block)
    rows, cols = np.nonzero(labels)
    cell = labels[rows, cols].astype(np.intp)
    size = int(cell.max()) + 1 if cell.size else 1
    area = np.bincount(cell, minlength=size)
    present = area > 0
    present[0] = False
    safe = np.maximum(area, 1)
    origin = np.array(block.origin, np.float64)
    sums = np.stack([np.bincount(cell, rows, size), np.bincount(cell, cols, size)], -1)
    del rows, cols, cell  # the largest arrays here: one entry per foreground pixel
    centroid = sums / safe[:, None] + origin  # image coordinates
    inner = _inner_edges(block, image_shape)
    keep = present & ~_touching(labels, inner, size)
    (row_core, col_core) = block.core
    keep &= (centroid[:, 0] >= row_core.start) & (centroid[:, 0] < row_core.stop)
    keep &= (centroid[:, 1] >= col_core.start) & (centroid[:, 1] < col_core.stop)
    ids = np.flatnonzero(keep).astype(np.int64)
    lut = np.zeros(size, np.int32 if ids.size < 2**31 else np.int64)
    lut[ids] = np.arange(1, ids.size + 1)
    rank = lut[labels]
    local = centroid[ids] - origin
    slices = ndimage.find_objects(rank) if ids.size else []
    boxes = np.array(
        [[s[0].start, s[1].start, s[0].stop, s[1].stop] for s in slices], np.int64
    ).reshape(ids.size, 4)
    return _Owned(ids, rank, local, _margins(local, block.shape, inner), boxes)


def _checked_labels(labels: np.ndarray, block: Block) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != block.shape:
        raise ValueError(
            f"block {block.index}'s labels are {labels.shape}, its window is {block.shape}"
        )
    if labels.dtype.kind == "b":
        labels = labels.astype(np.uint8)
    if labels.dtype.kind not in "ui":
        raise ValueError(f"block {block.index}'s labels are {labels.dtype}, not integers")
    if labels.size and labels.min() < 0:
        raise ValueError(f"block {block.index}'s labels hold negative ids")
    if labels.size and int(labels.max()) > labels.size:
        # Sparse ids: renumber (in order) so that per-id tables stay the size of the block.
        ids, inverse = np.unique(labels, return_inverse=True)
        offset = 0 if ids[0] == 0 else 1
        labels = (np.arange(ids.size) + offset)[inverse.reshape(labels.shape)]
    return labels


def _inner_edges(block: Block, image_shape: tuple[int, int]) -> tuple[bool, bool, bool, bool]:
    """Whether the window's top, bottom, left, right edges lie inside the image."""
    rows, cols = block.window
    return (rows.start > 0, rows.stop < image_shape[0], cols.start > 0, cols.stop < image_shape[1])


def _touching(labels: np.ndarray, inner: tuple[bool, bool, bool, bool], size: int) -> np.ndarray:
    """Per local id, whether the cell touches an inner edge of the window (it is cut)."""
    edges = [
        edge
        for edge, is_inner in zip(
            (labels[0], labels[-1], labels[:, 0], labels[:, -1]), inner, strict=True
        )
        if is_inner
    ]
    touching = np.zeros(size, bool)
    if edges:
        touching[np.concatenate(edges).astype(np.intp)] = True
    touching[0] = False
    return touching


def _margins(
    centroid: FloatArray, shape: tuple[int, int], inner: tuple[bool, bool, bool, bool]
) -> FloatArray:
    distances = np.stack(
        [
            centroid[:, 0],
            shape[0] - 1 - centroid[:, 0],
            centroid[:, 1],
            shape[1] - 1 - centroid[:, 1],
        ],
        -1,
    )
    distances = np.where(np.array(inner), distances, np.inf)
    return np.asarray(distances.min(axis=1, initial=np.inf), np.float64)


# --- Stitching ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class StitchResult:
    """What :func:`stitch` made: label ``g`` (1..N) came from ``block[g - 1]``'s local id
    ``local_id[g - 1]``, and lies wholly in that block's window."""

    num_cells: int
    blocks: tuple[Block, ...]
    block: IntArray
    local_id: IntArray
    skipped: tuple[int, ...]  # blocks whose ``load`` gave None
    duplicates: int  # owned cells dropped as duplicates of another block's cell
    renumbered: bool  # whether the labels needed the closing-up pass

    @property
    def dtype(self) -> np.dtype[np.unsignedinteger]:
        """The narrowest label dtype of the result (``label_dtype(num_cells)``)."""
        return label_dtype(self.num_cells)

    def labels_of_block(self, index: int) -> IntArray:
        """The global labels that block ``index`` contributed, ascending."""
        order, sorted_blocks = self._by_block
        start, stop = np.searchsorted(sorted_blocks, [index, index + 1])
        return order[start:stop] + 1

    @cached_property
    def _by_block(self) -> tuple[IntArray, IntArray]:
        """Labels - 1 grouped by block (ascending within each), and their blocks."""
        order = np.argsort(self.block, kind="stable").astype(np.int64)
        return order, self.block[order]


class _Cells:
    """Growable per-label tables, indexed by label - 1."""

    def __init__(self) -> None:
        self.count = 0
        self.block = np.zeros(0, np.int64)
        self.local = np.zeros(0, np.int64)
        self.area = np.zeros(0, np.int64)
        self.margin = np.zeros(0, np.float64)
        self.boxes = np.zeros((0, 4), np.int64)  # image coordinates
        self.alive = np.zeros(0, bool)

    def reserve(self, extra: int) -> None:
        needed = self.count + extra
        if needed <= self.block.size:
            return
        grown = max(needed, 2 * self.block.size, 1024)
        for name in ("block", "local", "area", "margin", "alive"):
            old = getattr(self, name)
            new = np.zeros(grown, old.dtype)
            new[: old.size] = old
            setattr(self, name, new)
        boxes = np.zeros((grown, 4), np.int64)
        boxes[: self.boxes.shape[0]] = self.boxes
        self.boxes = boxes


def stitch(
    blocks: Sequence[Block],
    load: Callable[[int], np.ndarray | None],
    masks_out: np.ndarray,
    *,
    iou_threshold: float = DEFAULT_IOU_THRESHOLD,
) -> StitchResult:
    """Stitch the blocks' label images into ``masks_out`` by the module's rule.

    ``load(i)`` gives block ``i``'s labels (the shape of its window; any non-negative integer
    ids, 0 background), or None for a block that was skipped. ``masks_out`` is zero-filled,
    of the image's shape and an unsigned integer dtype; it is written window by window.
    """
    image_shape = _check_output(blocks, masks_out)
    if not 0 < iou_threshold <= 1:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold!r}")
    cells = _Cells()
    skipped: list[int] = []
    duplicates = 0
    for block in blocks:
        labels = load(block.index)
        if labels is None:
            skipped.append(block.index)
            continue
        owned = _owned(labels, block, image_shape)
        if owned.ids.size:
            duplicates += _stitch_block(block, owned, masks_out, cells, iou_threshold)
    renumbered = not cells.alive[: cells.count].all()
    if renumbered:
        _close_up(blocks, masks_out, cells)
    alive = np.flatnonzero(cells.alive[: cells.count])
    return StitchResult(
        num_cells=int(alive.size),
        blocks=tuple(blocks),
        block=cells.block[alive].copy(),
        local_id=cells.local[alive].copy(),
        skipped=tuple(skipped),
        duplicates=duplicates,
        renumbered=bool(renumbered),
    )


def _check_output(blocks: Sequence[Block], masks_out: np.ndarray) -> tuple[int, int]:
    if masks_out.ndim != 2:
        raise ValueError(f"masks_out must be a 2D label image, got shape {masks_out.shape}")
    if masks_out.dtype.kind != "u":
        raise ValueError(f"masks_out must have an unsigned integer dtype, not {masks_out.dtype}")
    shape = (int(masks_out.shape[0]), int(masks_out.shape[1]))
    covered = sum(
        (b.core[0].stop - b.core[0].start) * (b.core[1].stop - b.core[1].start) for b in blocks
    )
    ends = (
        max((b.core[0].stop for b in blocks), default=0),
        max((b.core[1].stop for b in blocks), default=0),
    )
    if ends != shape or covered != shape[0] * shape[1]:
        raise ValueError(f"the blocks' cores do not tile masks_out's shape {shape}")
    return shape


def _stitch_block(
    block: Block, owned: _Owned, masks_out: np.ndarray, cells: _Cells, iou_threshold: float
) -> int:
    """Write one block's owned cells; the number of cells dropped as duplicates."""
    view = masks_out[block.window]
    existing = np.array(view)
    k = owned.ids.size
    new_area = np.bincount(owned.rank.ravel(), minlength=k + 1)
    old, new, dup = _duplicate_pairs(existing, owned.rank, new_area, cells, iou_threshold)
    new_margin = np.concatenate([[np.inf], owned.margin])
    old_margin = cells.margin[old - 1]
    loses = np.zeros(k + 1, bool)
    loses[new[dup & (old_margin >= new_margin[new])]] = True
    takeover = np.zeros(k + 1, np.int64)
    beaten = dup & ~loses[new]
    erased = np.unique(old[beaten])
    for label, rank in sorted(zip(old[beaten].tolist(), new[beaten].tolist(), strict=True)):
        if takeover[rank] == 0 and label not in takeover:
            takeover[rank] = label
    for label in erased.tolist():
        _erase(masks_out, cells, int(label))
    if erased.size:
        existing[np.isin(existing, erased)] = 0
    keep = ~loses
    keep[0] = False
    write = keep[owned.rank] & (existing == 0)
    written = np.bincount(owned.rank[write], minlength=k + 1)
    keep &= written > 0
    fresh = keep & (takeover == 0)
    cells.reserve(int(fresh.sum()))
    assigned = takeover.copy()
    assigned[fresh] = cells.count + np.arange(1, int(fresh.sum()) + 1)
    assigned[~keep] = 0
    _check_fits(masks_out, cells.count + int(fresh.sum()))
    cells.count += int(fresh.sum())
    values = assigned.astype(masks_out.dtype)[owned.rank]
    write &= values > 0
    view[write] = values[write]
    ranks = np.flatnonzero(keep)
    slot = assigned[ranks] - 1
    origin = np.array(block.origin * 2, np.int64)
    cells.block[slot] = block.index
    cells.local[slot] = owned.ids[ranks - 1]
    cells.area[slot] = written[ranks]
    cells.margin[slot] = owned.margin[ranks - 1]
    cells.boxes[slot] = owned.boxes[ranks - 1] + origin
    cells.alive[slot] = True
    return int(loses[1:].sum()) + int(erased.size)


def _duplicate_pairs(
    existing: np.ndarray,
    rank: np.ndarray,
    new_area: IntArray,
    cells: _Cells,
    iou_threshold: float,
) -> tuple[IntArray, IntArray, npt.NDArray[np.bool_]]:
    """Every (old label, new rank) pair that overlaps, and whether it is one cell twice."""
    both = (existing > 0) & (rank > 0)
    stride = new_area.size
    keys, inter = np.unique(
        existing[both].astype(np.int64) * stride + rank[both], return_counts=True
    )
    old, new = np.divmod(keys, stride)
    old_area = cells.area[old - 1]
    union = old_area + new_area[new] - inter
    dup = (inter >= iou_threshold * union) | (
        inter >= CONTAINED_FRACTION * np.minimum(old_area, new_area[new])
    )
    return old.astype(np.int64), new.astype(np.int64), dup


def _erase(masks_out: np.ndarray, cells: _Cells, label: int) -> None:
    r0, c0, r1, c1 = (int(v) for v in cells.boxes[label - 1])
    box = masks_out[r0:r1, c0:c1]
    box[box == label] = 0
    cells.alive[label - 1] = False


def _check_fits(masks_out: np.ndarray, top: int) -> None:
    if top > np.iinfo(masks_out.dtype).max:
        raise ValueError(f"masks_out's dtype {masks_out.dtype} cannot hold {top} labels")


def _close_up(blocks: Sequence[Block], masks_out: np.ndarray, cells: _Cells) -> None:
    """Renumber the surviving labels 1..N, in order, core by core."""
    alive = cells.alive[: cells.count]
    lut = np.zeros(cells.count + 1, masks_out.dtype)
    lut[1:][alive] = np.arange(1, int(alive.sum()) + 1)
    for block in blocks:
        view = masks_out[block.core]
        view[...] = lut[view]


# --- Measuring ------------------------------------------------------------------------------

_ROW_OFFSET = ("centroid_y", "bbox_min_row", "bbox_max_row")
_COL_OFFSET = ("centroid_x", "bbox_min_col", "bbox_max_col")


def measure_blocks(
    result: StitchResult, masks: np.ndarray, *, pixel_size_um: float | None = None
) -> measure.CellTable:
    """``measure.measure_cells`` of the stitched ``masks``, taken window by window.

    Each cell lies wholly in the window of the block it came from, so each is measured once,
    from all its pixels, with one window of the image in memory at a time; rows are in label
    order, as ``measure_cells`` of the whole image gives them.
    """
    tables = []
    for block in result.blocks:
        labels = result.labels_of_block(block.index)
        if labels.size:
            tables.append(_measure_window(block, labels, masks, pixel_size_um))
    if not tables:
        return measure.measure_cells(np.zeros((1, 1), np.uint8), pixel_size_um=pixel_size_um)
    table = {name: np.concatenate([t[name] for t in tables]) for name in tables[0]}
    rows = np.argsort(table["cell_id"], kind="stable")
    table = {name: column[rows] for name, column in table.items()}
    if table["cell_id"].size != result.num_cells:
        raise ValueError("the masks do not hold the cells of this stitch result")
    return table


def _measure_window(
    block: Block, labels: IntArray, masks: np.ndarray, pixel_size_um: float | None
) -> measure.CellTable:
    ids = labels  # ascending
    window = np.asarray(masks[block.window])
    position = np.minimum(np.searchsorted(ids, window), ids.size - 1)
    local = np.where(ids[position] == window, position + 1, 0).astype(np.int32)
    table = measure.measure_cells(local, pixel_size_um=pixel_size_um)
    row0, col0 = block.origin
    table["cell_id"] = ids[table["cell_id"] - 1]
    for name in _ROW_OFFSET:
        table[name] = table[name] + row0
    for name in _COL_OFFSET:
        table[name] = table[name] + col0
    if pixel_size_um is not None:
        table["centroid_x_um"] = table["centroid_x"] * pixel_size_um
        table["centroid_y_um"] = table["centroid_y"] * pixel_size_um
    return table
