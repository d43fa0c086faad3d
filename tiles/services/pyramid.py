"""Tiled pyramidal TIFFs that large-image serves tile by tile.

Files already on disk go through ``large_image_converter`` (lossless unless the input was
already lossy JPEG). Arrays made here (label masks, depth stacks) are written with libvips
directly, so that label images are shrunk by picking a label (``nearest``) instead of
averaging two labels into a third one that does not exist. Images with channels or planes are
written as OME-TIFFs, one page per (plane, channel), which large-image serves as frames.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

TILE_SIZE = 256


def needs_pyramid(width: int, height: int) -> bool:
    """An image within one tile is served as it is; anything larger gets a pyramid."""
    return width > TILE_SIZE or height > TILE_SIZE


def convert_file(source: Path, dest: Path) -> Path:
    """Convert an image file (PNG, JPEG, TIFF of any bit depth) to a pyramidal TIFF."""
    import large_image_converter

    _quiet_converter()
    large_image_converter.convert(str(source), str(dest), tileSize=TILE_SIZE, overwrite=True)
    return dest


def write_array(array: np.ndarray, dest: Path, *, labels: bool) -> Path:
    """Write a 2-D array as a tiled, deflate-compressed TIFF with reduced-resolution levels."""
    import pyvips

    if array.ndim != 2:
        raise ValueError(f"expected a 2-D array, got shape {array.shape}")
    image = pyvips.Image.new_from_array(np.ascontiguousarray(array))
    image.tiffsave(
        str(dest),
        tile=True,
        tile_width=TILE_SIZE,
        tile_height=TILE_SIZE,
        pyramid=True,
        compression="deflate",
        region_shrink="nearest" if labels else "mean",
        bigtiff=array.nbytes > 2**31,
    )
    return dest


def write_frames(
    array: np.ndarray,
    dest: Path,
    *,
    axes: str,
    labels: bool,
    channel_names: Sequence[str] = (),
    pixel_size_um: float | None = None,
    z_step_um: float | None = None,
) -> Path:
    """Write ``array`` (``axes`` such as ZCYX, CYX or ZYX) as a tiled, lossless OME-TIFF.

    Each plane of each channel is one page; above one tile, each page has its halved levels
    in SubIFDs, the OME pyramid layout, so every frame is served at every zoom. Labels are
    halved by picking a label, intensities by averaging.
    """
    if not axes.endswith("YX") or len(axes) != array.ndim:
        raise ValueError(f"axes {axes!r} do not fit an array of shape {array.shape}")
    levels = []
    level = array
    while needs_pyramid(level.shape[-1], level.shape[-2]):
        level = _halved(level, labels=labels)
        levels.append(level)
    import tifffile

    options: dict[str, Any] = {
        "tile": (TILE_SIZE, TILE_SIZE),
        "compression": "zlib",
        "photometric": "minisblack",  # three channels are channels, not RGB
    }
    metadata = _ome_metadata(axes, channel_names, pixel_size_um, z_step_um)
    with tifffile.TiffWriter(dest, ome=True, bigtiff=array.nbytes > 2**31) as tiff:
        tiff.write(array, subifds=len(levels), metadata=metadata, **options)
        for level in levels:
            tiff.write(level, subfiletype=1, **options)
    return dest


def _halved(array: np.ndarray, *, labels: bool) -> np.ndarray:
    """Half the size in Y and X (rounded up), over every leading axis."""
    if labels:
        return np.ascontiguousarray(array[..., ::2, ::2])
    height, width = array.shape[-2:]
    pad = [(0, 0)] * (array.ndim - 2) + [(0, height % 2), (0, width % 2)]
    # float32 adds four 16-bit values exactly; deeper data needs float64.
    work = np.float64 if array.dtype.itemsize > 2 else np.float32
    even = np.pad(array, pad, mode="edge").astype(work)
    blocks = even.reshape(*array.shape[:-2], even.shape[-2] // 2, 2, even.shape[-1] // 2, 2)
    mean = np.asarray(blocks.mean(axis=(-3, -1)))
    if np.issubdtype(array.dtype, np.integer):
        mean = np.rint(mean)
    return mean.astype(array.dtype)


def _ome_metadata(
    axes: str,
    channel_names: Sequence[str],
    pixel_size_um: float | None,
    z_step_um: float | None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"axes": axes}
    if "C" in axes and channel_names:
        metadata["Channel"] = {"Name": list(channel_names)}
    sizes = {"X": pixel_size_um, "Y": pixel_size_um, "Z": z_step_um if "Z" in axes else None}
    for axis, size in sizes.items():
        if size:
            metadata[f"PhysicalSize{axis}"] = size
            metadata[f"PhysicalSize{axis}Unit"] = "µm"
    return metadata


def _quiet_converter() -> None:
    # The converter logs every libvips call at INFO and warns that GDAL (geospatial only) is
    # missing; neither says anything about microscopy images.
    logging.getLogger("large-image-converter").setLevel(logging.ERROR)
