"""A tiled job's result files, written in bounded memory from its blocks.

The masks are stitched into a memory-mapped ``masks.npy``; everything else reads the input and
the masks a window or a band of rows at a time: the overlay (a tiled BigTIFF, the tile build
makes its pyramid), the per-cell TIFF ZIP (streamed, each cell from the block that owns it, or
left out above a cell count) and the metrics (each cell measured once, from its whole extent).
Flows are not kept: at slide size they would be several times the image.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from skimage.segmentation import find_boundaries

from predictions.services import blocks, exports, images, labels, measure, outputs
from predictions.services.axes import AxesRequest

TILE = 256
# Rows sampled for the overlay's contrast: every SAMPLE_STEP-th row and column of the image.
SAMPLE_STEP = 16


@dataclass(frozen=True)
class Source:
    """The job's input file and how its pixels are read."""

    path: Path
    reading: AxesRequest = field(default_factory=lambda: AxesRequest(series=0))
    channels: Sequence[int] | None = None
    pixel_size_um: float | None = None

    def window(self, window: tuple[slice, slice]) -> np.ndarray:
        """The pixels of ``window``, as the job reads its input: read alone from a TIFF; a PNG
        or JPEG (within the image limit) is decoded whole and cut."""
        with self.path.open("rb") as handle:
            tiff = images.is_tiff(handle)
        if tiff:
            image = blocks.read_window(self.path, window, self.reading)
        else:
            whole = images.read_image(
                self.path, max_pixels=2**63, max_channels=2**31, request=self.reading
            )
            image = whole.array[window]
        channels = list(self.channels) if self.channels is not None else None
        if image.ndim == 3 and channels is not None and channels != list(range(image.shape[-1])):
            image = image[..., channels]
        return image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image


def write_results(
    directory: Path,
    source: Source,
    plan: Sequence[blocks.Block],
    load: Callable[[int], np.ndarray | None],
    *,
    max_zip_cells: int,
    identity: outputs.Identity = outputs.ANONYMOUS,
) -> outputs.ResultSummary:
    """Stitch ``plan``'s blocks (``load(i)``: block i's labels, None if skipped) and write every
    result file into ``directory`` (created; must not exist)."""
    directory.mkdir(parents=True)
    shape = _image_shape(plan)
    masks_path = directory / outputs.MASKS
    stitched = np.lib.format.open_memmap(masks_path, mode="w+", dtype=np.uint32, shape=shape)
    result = blocks.stitch(plan, load, stitched)
    masks = _narrowed(stitched, masks_path, result.num_cells)
    write_overlay(source, masks, directory / outputs.OVERLAY_TIFF)
    omitted = {}
    if result.num_cells <= max_zip_cells:
        write_cells_zip(source, masks, result, plan, directory / outputs.CELLS_ZIP)
    else:
        omitted["individual_cells"] = (
            f"{result.num_cells:,} cells are more than the {max_zip_cells:,} "
            "(CELLSERVE_MAX_ZIP_CELLS) a per-cell ZIP is written for; masks, metrics and "
            "tiles have every cell"
        )
    table = blocks.measure_blocks(result, masks, pixel_size_um=source.pixel_size_um)
    metrics = measure.metrics_document(table, physical=source.pixel_size_um is not None)
    _write_json(metrics, directory / outputs.METRICS)
    _write_json(measure.shape_analysis_document(table), directory / outputs.SHAPE_ANALYSIS)
    about = exports.About(pixel_size_um=source.pixel_size_um)
    outputs.write_exports(directory, masks, metrics, identity, about)
    omitted["seg"] = "a tiled job keeps no flows, and the Cellpose GUI opens whole images only"
    return outputs.ResultSummary(result.num_cells, shape, metrics["summary"], omitted)


def _image_shape(plan: Sequence[blocks.Block]) -> tuple[int, int]:
    return (
        max(b.window[0].stop for b in plan),
        max(b.window[1].stop for b in plan),
    )


def _narrowed(stitched: np.memmap, path: Path, num_cells: int) -> np.ndarray:
    """The masks in the project's label dtype, copied band by band when it is narrower."""
    dtype = labels.label_dtype(num_cells)
    if dtype == stitched.dtype:
        stitched.flush()
        return _mapped(path)
    narrow_path = path.with_suffix(".narrow.npy")
    narrow = np.lib.format.open_memmap(narrow_path, mode="w+", dtype=dtype, shape=stitched.shape)
    for start in range(0, stitched.shape[0], TILE * 4):
        narrow[start : start + TILE * 4] = stitched[start : start + TILE * 4]
    narrow.flush()
    del stitched
    narrow_path.replace(path)
    return _mapped(path)


def _mapped(path: Path) -> np.ndarray:
    masks: np.ndarray = np.load(path, mmap_mode="r")
    return masks


# --- overlay ----------------------------------------------------------------------------------


def write_overlay(source: Source, masks: np.ndarray, target: Path) -> None:
    """The overlay as a tiled BigTIFF, rendered one band of tile rows at a time, with one
    contrast for the whole image (taken from a regular sample of it)."""
    height, width = masks.shape
    limits = display_limits(source, masks.shape)
    tifffile.imwrite(
        target,
        _overlay_tiles(source, masks, limits),
        shape=(height, width, 3),
        dtype=np.uint8,
        tile=(TILE, TILE),
        photometric="rgb",
        compression="zlib",
        bigtiff=True,
    )


def display_limits(source: Source, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    rows = []
    for start in range(0, shape[0], TILE * 4):
        band = source.window((slice(start, min(start + TILE * 4, shape[0])), slice(0, shape[1])))
        rows.append(band[::SAMPLE_STEP, ::SAMPLE_STEP])
    return exports.display_limits(np.concatenate(rows, axis=0))


def _overlay_tiles(
    source: Source, masks: np.ndarray, limits: tuple[np.ndarray, np.ndarray]
) -> Iterator[np.ndarray]:
    height, width = masks.shape
    for top in range(0, height, TILE):
        bottom = min(top + TILE, height)
        # One row of margin each side, so boundaries at the band's edges are those of the whole.
        above, below = max(top - 1, 0), min(bottom + 1, height)
        band_masks = np.asarray(masks[above:below])
        edges = find_boundaries(band_masks, mode="inner")[top - above : top - above + bottom - top]
        image = source.window((slice(top, bottom), slice(0, width)))
        rgb = exports.tinted(image, band_masks[top - above : top - above + bottom - top], limits)
        rgb[edges] = 255
        padded = np.zeros((TILE, -(-width // TILE) * TILE, 3), np.uint8)
        padded[: bottom - top, :width] = rgb
        for left in range(0, width, TILE):
            yield padded[:, left : left + TILE]


# --- per-cell TIFFs ---------------------------------------------------------------------------


def write_cells_zip(
    source: Source,
    masks: np.ndarray,
    result: blocks.StitchResult,
    plan: Sequence[blocks.Block],
    target: Path,
) -> None:
    """``cell_0001.tif``...: each cell cut from the window of the block that owns it, so the
    ZIP is written a block at a time, in label order."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for block in plan:
            owned = result.labels_of_block(block.index)
            if not len(owned):
                continue
            image16 = exports.to_uint16(source.window(block.window))
            window_masks = np.asarray(masks[block.window])
            kept = np.where(np.isin(window_masks, owned), window_masks, 0)
            for label, crop in exports.cell_crops(image16, kept):
                buffer = io.BytesIO()
                tifffile.imwrite(buffer, crop, photometric="rgb" if crop.ndim == 3 else None)
                archive.writestr(f"cell_{label:04d}.tif", buffer.getvalue())


def _write_json(document: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(document, allow_nan=False))
