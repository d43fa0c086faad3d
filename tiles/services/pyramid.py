"""Tiled pyramidal TIFFs that large-image serves tile by tile.

Files already on disk go through ``large_image_converter`` (lossless unless the input was
already lossy JPEG). Arrays made here (label masks, depth stacks) are written with libvips
directly, so that label images are shrunk by picking a label (``nearest``) instead of
averaging two labels into a third one that does not exist.
"""

from __future__ import annotations

import logging
from pathlib import Path

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


def _quiet_converter() -> None:
    # The converter logs every libvips call at INFO and warns that GDAL (geospatial only) is
    # missing; neither says anything about microscopy images.
    logging.getLogger("large-image-converter").setLevel(logging.ERROR)
