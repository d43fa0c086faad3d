"""Synthetic images the tests segment: bright discs on a dark, slightly noisy background."""

from __future__ import annotations

import io

import numpy as np
import tifffile
from PIL import Image


def blobs_image(shape=(96, 128), centers=((30, 30), (30, 80), (70, 50)), radius=12) -> np.ndarray:
    """Bright discs on a dark, slightly noisy background (uint8)."""
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    image = np.full(shape, 20, np.float32)
    for r, c in centers:
        image[(rows - r) ** 2 + (cols - c) ** 2 <= radius**2] = 200
    noise = np.random.default_rng(0).normal(0, 4, shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def blobs_grid(shape=(600, 700), spacing=50, radius=14) -> np.ndarray:
    """Bright discs on a dark background, more than one tile in each direction."""
    centers = [
        (y, x)
        for y in range(spacing // 2, shape[0], spacing)
        for x in range(spacing // 2, shape[1], spacing)
    ]
    return blobs_image(shape, centers, radius)


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def tiff16_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, (array.astype(np.uint16) * 40 + 1000).astype(np.uint16))
    return buffer.getvalue()
