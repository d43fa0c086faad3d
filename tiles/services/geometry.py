"""Tile and region geometry of non-geospatial pyramids, in full-resolution pixels."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


class OutOfRange(ValueError):
    """A tile or region the image does not have; the message names the parameter."""

    def __init__(self, parameter: str, message: str):
        self.parameter = parameter
        super().__init__(message)


@dataclass(frozen=True)
class Pyramid:
    width: int
    height: int
    tile_width: int
    tile_height: int
    levels: int

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any]) -> Pyramid:
        return cls(
            int(metadata["sizeX"]),
            int(metadata["sizeY"]),
            int(metadata["tileWidth"]),
            int(metadata["tileHeight"]),
            int(metadata["levels"]),
        )


def tile_corners(pyramid: Pyramid, z: int, x: int, y: int) -> dict[str, int]:
    """The full-resolution pixel bounds of tile (z, x, y); level 0 is the whole image."""
    if not 0 <= z < pyramid.levels:
        raise OutOfRange("z", f"z must be between 0 and {pyramid.levels - 1}")
    scale = 2 ** (pyramid.levels - 1 - z)
    span_x, span_y = pyramid.tile_width * scale, pyramid.tile_height * scale
    columns, rows = math.ceil(pyramid.width / span_x), math.ceil(pyramid.height / span_y)
    if not 0 <= x < columns:
        raise OutOfRange("x", f"x must be between 0 and {columns - 1} at z={z}")
    if not 0 <= y < rows:
        raise OutOfRange("y", f"y must be between 0 and {rows - 1} at z={z}")
    return {
        "xmin": x * span_x,
        "xmax": min((x + 1) * span_x, pyramid.width),
        "ymin": y * span_y,
        "ymax": min((y + 1) * span_y, pyramid.height),
    }


def region_pixels(
    bounds: dict[str, float], units: str, width: int, height: int
) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) in pixels, clipped to the image; fractions are of its size."""
    scale_x, scale_y = (width, height) if units == "fraction" else (1, 1)
    left = max(0, math.floor(bounds["left"] * scale_x))
    right = min(width, math.ceil(bounds["right"] * scale_x))
    top = max(0, math.floor(bounds["top"] * scale_y))
    bottom = min(height, math.ceil(bounds["bottom"] * scale_y))
    if right <= left or bottom <= top:
        raise OutOfRange("region", f"the region lies outside the image ({width} x {height} pixels)")
    return left, right, top, bottom
