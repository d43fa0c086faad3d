"""Cell outlines: traced once per cell, on the cell's own crop, for every vector export.

GeoJSON (QuPath), ImageJ ROIs and the viewer's outlines layer all take these polygons, so the
three always agree. Coordinates are (x, y) in pixel-corner coordinates, the convention of
QuPath, ImageJ and GeoJS: the top-left corner of pixel (row 0, column 0) is (0, 0) and its
centre (0.5, 0.5).

A cell's mask is upsampled 2x before marching squares (``find_contours`` at 0.5), so every
straight edge of the outline lies exactly on pixel edges and only convex and concave corners are
cut, by a triangle of 1/32 px each: the polygon's area is the pixel count to well under 1% for a
cell of 50 pixels. Rings are closed (first vertex repeated) and keep only the vertices where the
direction changes. An exterior winds with positive signed area (x right, y down: clockwise on
screen), a hole the other way; a cell in several pieces (rare: an engine's cell is one connected
piece) has one polygon per piece.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage
from skimage.measure import find_contours

Ring = npt.NDArray[np.float64]  # (N, 2) x, y; closed


@dataclass(frozen=True)
class Polygon:
    exterior: Ring
    holes: tuple[Ring, ...] = ()


@dataclass(frozen=True)
class Outline:
    """One cell's outline in one plane: ``z`` is the plane of a 3D mask, None in 2D."""

    label: int
    polygons: tuple[Polygon, ...]
    z: int | None = None

    @property
    def largest(self) -> Polygon:
        return max(self.polygons, key=lambda p: signed_area(p.exterior))


def trace(masks: np.ndarray) -> list[Outline]:
    """Every cell's outline, in label order (and, in 3D, plane order within a cell)."""
    if masks.ndim not in (2, 3):
        raise ValueError(f"masks must be 2D or 3D, got shape {masks.shape}")
    return list(_traced(masks))


def _traced(masks: np.ndarray) -> Iterator[Outline]:
    for label, box in enumerate(ndimage.find_objects(masks), start=1):
        if box is None:
            continue
        cell = masks[box] == label
        if masks.ndim == 2:
            yield Outline(label, cell_polygons(cell, (box[1].start, box[0].start)))
            continue
        for offset, plane in enumerate(cell):
            if plane.any():
                polygons = cell_polygons(plane, (box[2].start, box[1].start))
                yield Outline(label, polygons, z=box[0].start + offset)


def cell_polygons(cell: np.ndarray, origin: tuple[int, int] = (0, 0)) -> tuple[Polygon, ...]:
    """The polygons of a boolean 2D mask whose top-left pixel is at ``origin`` (x, y)."""
    upsampled = np.pad(np.repeat(np.repeat(cell, 2, axis=0), 2, axis=1), 1)
    rings = [_ring(contour, origin) for contour in find_contours(upsampled.astype(np.float32), 0.5)]
    rings = [ring for ring in rings if len(ring) >= 4]
    if not rings:
        return ()
    areas = np.array([signed_area(ring) for ring in rings])
    # Marching squares winds every exterior one way and every hole the other; the largest ring
    # is an exterior. Then each is turned to the module's convention.
    exterior_sign = np.sign(areas[np.argmax(np.abs(areas))])
    is_exterior = np.sign(areas) == exterior_sign
    exteriors = [_wound(r, 1) for r, e in zip(rings, is_exterior, strict=True) if e]
    holes = [_wound(r, -1) for r, e in zip(rings, is_exterior, strict=True) if not e]
    owners = [_owner(hole, exteriors) for hole in holes]
    return tuple(
        Polygon(exterior, tuple(h for h, o in zip(holes, owners, strict=True) if o == i))
        for i, exterior in enumerate(exteriors)
    )


def _wound(ring: Ring, sign: int) -> Ring:
    return ring if np.sign(signed_area(ring)) == sign else ring[::-1]


def _ring(contour: np.ndarray, origin: tuple[int, int]) -> Ring:
    """A contour of the padded 2x mask, (row, col), as a closed, simplified (x, y) ring.

    Upsampled pixel u of the padded image covers corner coordinates [(u - 1) / 2, (u + 1) / 2),
    so its centre lies at (u - 1) / 2 + 0.25.
    """
    xy = contour[:, ::-1] / 2.0 - 0.25 + np.asarray(origin, np.float64)
    return _simplified(xy)


def _simplified(ring: np.ndarray) -> Ring:
    """Drop the vertices where the direction does not change (the ring stays closed)."""
    points = ring[:-1] if np.array_equal(ring[0], ring[-1]) else ring
    before = points - np.roll(points, 1, axis=0)
    after = np.roll(points, -1, axis=0) - points
    cross = before[:, 0] * after[:, 1] - before[:, 1] * after[:, 0]
    kept = points[np.abs(cross) > 1e-9]
    return np.vstack([kept, kept[:1]]) if len(kept) else kept


def signed_area(ring: np.ndarray) -> float:
    """Shoelace area; positive when the ring winds clockwise on screen (y down)."""
    x, y = ring[:, 0], ring[:, 1]
    return float((x[:-1] * y[1:] - x[1:] * y[:-1]).sum() / 2.0)


def polygon_area(polygon: Polygon) -> float:
    return signed_area(polygon.exterior) + sum(signed_area(h) for h in polygon.holes)


def _owner(hole: Ring, exteriors: list[Ring]) -> int:
    """The smallest exterior holding the hole's first vertex (even-odd rule)."""
    point = hole[0]
    inside = [i for i, ring in enumerate(exteriors) if _contains(ring, point)]
    if not inside:
        return 0
    return min(inside, key=lambda i: signed_area(exteriors[i]))


def _contains(ring: Ring, point: np.ndarray) -> bool:
    x, y = point
    x0, y0, x1, y1 = ring[:-1, 0], ring[:-1, 1], ring[1:, 0], ring[1:, 1]
    straddles = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    return bool(np.count_nonzero(straddles & (crossing > x)) % 2)
