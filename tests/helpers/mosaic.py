"""Slide-sized mosaics of the real DSB fluorescence images, with their labels as ground truth.

Each dev image whose background is dark (fluorescence, not brightfield or H&E) is placed on a
grid in name order, cycled until the mosaic is full, each copy flipped or transposed in turn so
neighbours differ; the gaps between them are background (0). Labels are offset to stay unique.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import tifffile
from PIL import Image

from tests.helpers.data import NUCLEI_DEV, require

PITCH = 528  # the grid step: every dev image (at most 524 x 696) fits a cell once transposed


@dataclass(frozen=True)
class Tile:
    image: np.ndarray  # (Y, X) uint8
    labels: np.ndarray  # (Y, X) uint16, 1..n


@cache
def fluorescence_tiles() -> tuple[Tile, ...]:
    """The dev images that are fluorescence: gray, with a background darker than the mean."""
    tiles = []
    for png in sorted(require(NUCLEI_DEV).glob("*.png")):
        rgb = np.asarray(Image.open(png))[..., :3]
        if np.ptp(rgb.astype(np.int16), axis=2).mean() > 2:
            continue  # colour: H&E
        gray = rgb[..., 0]
        if np.median(gray) >= gray.mean():
            continue  # a bright background: brightfield
        labels = tifffile.imread(png.with_name(f"{png.stem}_labels.tif")).astype(np.uint16)
        tiles.append(Tile(gray, labels))
    return tuple(tiles)


def _variant(tile: Tile, index: int) -> Tile:
    """The tile flipped or transposed by ``index``, so that a mosaic's copies differ."""
    ops = (
        lambda a: a,
        np.fliplr,
        np.flipud,
        lambda a: np.flipud(np.fliplr(a)),
    )
    op = ops[index % len(ops)]
    image, labels = op(tile.image), op(tile.labels)
    if image.shape[1] > PITCH:  # wide images go in upright only once transposed
        image, labels = image.T, labels.T
    return Tile(
        np.ascontiguousarray(image[:PITCH, :PITCH]), np.ascontiguousarray(labels[:PITCH, :PITCH])
    )


def mosaic(side: int) -> tuple[np.ndarray, np.ndarray]:
    """A (side, side) uint8 image and its uint32 labels."""
    tiles = fluorescence_tiles()
    image = np.zeros((side, side), np.uint8)
    truth = np.zeros((side, side), np.uint32)
    count = 0
    next_label = 0
    for row in range(0, side, PITCH):
        for col in range(0, side, PITCH):
            tile = _variant(tiles[count % len(tiles)], count // len(tiles) + count)
            count += 1
            h = min(tile.image.shape[0], side - row)
            w = min(tile.image.shape[1], side - col)
            image[row : row + h, col : col + w] = tile.image[:h, :w]
            labels = tile.labels[:h, :w].astype(np.uint32)
            truth[row : row + h, col : col + w] = np.where(labels > 0, labels + next_label, 0)
            next_label += int(tile.labels.max())
    return image, _renumbered(truth)


def _renumbered(labels: np.ndarray) -> np.ndarray:
    """1..N: a tile cut at the mosaic's edge may lose cells."""
    ids, inverse = np.unique(labels, return_inverse=True)
    first = 0 if ids[0] == 0 else 1
    return np.arange(first, first + ids.size, dtype=np.uint32)[inverse.reshape(labels.shape)]
