"""A 20,000 x 20,000 upload: conversion to a pyramidal TIFF, and tiles from it against tiles
large-image cuts from the upload as it is, in the same run.

The upload is a plain striped uint8 TIFF (what microscopes and scripts usually write): a
2,000-pixel patch of Gaussian blobs on noise, repeated. ``tiles.services.pyramid.convert_file``
(what the tile task runs) converts it; then the same random 256-pixel full-resolution tiles
are read through large-image from both files, each from a freshly opened source (no tile
cache: this measures the files, not the cache).

    .venv/bin/python -m bench.tiles_convert [--side 20000] [--tiles 40]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

from bench.report import write_section

TILE = 256


def synthetic_patch(side: int, rng: np.random.Generator) -> np.ndarray:
    patch = rng.normal(30, 6, (side, side))
    yy, xx = np.mgrid[0:side, 0:side]
    for y, x in rng.integers(0, side, (side // 20, 2)):
        patch += 150 * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 9.0**2))
    return np.clip(patch, 0, 255).astype(np.uint8)


def write_upload(path: Path, side: int) -> None:
    patch = synthetic_patch(2000, np.random.default_rng(0))
    reps = -(-side // patch.shape[0])
    tifffile.imwrite(path, np.tile(patch, (reps, reps))[:side, :side])


def views(side: int, count: int, rng: np.random.Generator) -> dict[str, list[dict]]:
    """Regions (in full-resolution pixels) each rendered to at most 256 x 256."""

    def squares(size: int, n: int) -> list[dict]:
        corners = rng.integers(0, side - size, (n, 2))
        return [{"left": int(x), "top": int(y), "width": size, "height": size} for x, y in corners]

    return {
        "full resolution": squares(TILE, count),
        "zoomed out 8x": squares(8 * TILE, max(count // 4, 1)),
        "whole-image overview": [{"left": 0, "top": 0, "width": side, "height": side}],
    }


def view_times(path: Path, regions: list[dict]) -> float:
    """Median seconds per view, each from a freshly opened, uncached source."""
    import large_image

    times = []
    for region in regions:
        source = large_image.open(str(path), noCache=True)
        start = time.perf_counter()
        source.getRegion(
            region=region,
            output={"maxWidth": TILE, "maxHeight": TILE},
            format=large_image.constants.TILE_FORMAT_NUMPY,
        )
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--side", type=int, default=20_000)
    parser.add_argument("--tiles", type=int, default=40)
    args = parser.parse_args()
    import large_image

    from tiles.services import pyramid

    sample = views(args.side, args.tiles, np.random.default_rng(1))
    with tempfile.TemporaryDirectory(prefix="cellserve-bench-") as tmp:
        upload, converted = Path(tmp) / "upload.tif", Path(tmp) / "pyramid.tiff"
        write_upload(upload, args.side)
        start = time.perf_counter()
        pyramid.convert_file(upload, converted)
        convert_s = time.perf_counter() - start
        rows = {n: (view_times(upload, r), view_times(converted, r)) for n, r in sample.items()}
        levels = large_image.open(str(converted)).getMetadata()["levels"]
        sizes = upload.stat().st_size / 2**20, converted.stat().st_size / 2**20
    image_mb = args.side**2 / 2**20
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    table = "\n".join(
        f"| {name} ({len(sample[name])}) | {plain * 1000:.1f} | **{ours * 1000:.1f}** "
        f"| **{plain / ours:.1f}x** |"
        for name, (plain, ours) in rows.items()
    )
    body = f"""## Tiles of a {args.side:,} x {args.side:,} upload

`bench/tiles_convert.py --side {args.side} --tiles {args.tiles}`: a striped uint8 TIFF
({sizes[0]:.0f} MB) converted by `tiles.services.pyramid.convert_file` (the tile task's
converter) in **{convert_s:.1f} s** to a pyramidal TIFF of {levels} levels
({sizes[1]:.0f} MB, lossless). Each view rendered to 256 x 256 through large-image, from a
freshly opened source with no tile cache; median ms per view:

| view (count) | the upload as it is | the pyramid | speed-up |
|---|---:|---:|---:|
{table}

Peak resident memory of the whole run: {peak_mb:.0f} MB (the {image_mb:.0f} MB test image is
built in memory first; libvips streams the conversion).
"""
    print(body)
    write_section("tiles_convert", body)


if __name__ == "__main__":
    main()
