"""CSV files of the real depth-image data's shape, for tests and benchmarks.

The real file: header ``depth,col1..col200``, depths from 9000.1 in steps of 0.1, pixel values
written as floats (``224.0``) between 13 and 237, and a last line that is entirely empty.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from depth_images.services.depth_csv import HEADER

REAL_ROWS = 5460
LOW, HIGH = 13, 237
_VALUE_TEXT = np.array([f"{value}.0" for value in range(256)], dtype=object)


def pixel_rows(rows: int, seed: int = 0, width: int = 200) -> np.ndarray:
    """Layered texture: bands that drift with depth, plus noise, in [13, 237]."""
    rng = np.random.default_rng(seed)
    depth = np.arange(rows)[:, None]
    column = np.arange(width)[None, :]
    bands = 60 * np.sin(depth / 7.0 + column / 25.0) + 40 * np.sin(depth / 53.0)
    values = 125 + bands + rng.normal(0, 12, (rows, width))
    return np.clip(np.rint(values), LOW, HIGH).astype(np.uint8)


def csv_lines(pixels: np.ndarray, first_tenths: int = 90001) -> list[str]:
    depths = (first_tenths + np.arange(len(pixels))) / 10
    text = _VALUE_TEXT[pixels]
    return [f"{depth:.1f}," + ",".join(row) for depth, row in zip(depths, text, strict=True)]


def csv_bytes(
    rows: int = REAL_ROWS,
    *,
    seed: int = 0,
    first_tenths: int = 90001,
    trailing_empty: bool = True,
    newline: str = "\n",
) -> bytes:
    lines = [",".join(HEADER), *csv_lines(pixel_rows(rows, seed), first_tenths)]
    if trailing_empty:
        lines.append("")
    return (newline.join(lines) + newline).encode()


def write_csv(path: Path, rows: int, *, seed: int = 0, block: int = 10_000) -> Path:
    """Stream a large file to disk, ``block`` rows at a time."""
    with path.open("w", newline="\n") as out:
        out.write(",".join(HEADER) + "\n")
        for start in range(0, rows, block):
            count = min(block, rows - start)
            pixels = pixel_rows(count, seed + start)
            out.write("\n".join(csv_lines(pixels, 90001 + start)) + "\n")
        out.write("\n")
    return path
