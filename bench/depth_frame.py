"""A 1,000-row colormapped frame through the whole API, against colormap + PNG alone.

Ingests a file of the real data's shape (5,460 rows) into PostgreSQL, then in the same run:

* baseline: the frame's uint8 rows, already in memory, through matplotlib
  (``cmap(Normalize(vmin, vmax)(rows), bytes=True)``) and PIL's PNG encoder;
* ours: ``GET /api/v1/depth-datasets/<id>/frame.png?depth_min=..&depth_max=..&colormap=..``
  through Django's test client: authentication, the range query, stacking, the lookup-table
  colormap and the same PNG encoder.

Both PNGs are decoded and must be identical.

    .venv/bin/python -m bench.depth_frame [--repeats 20] [--colormap viridis]
        [--database-url postgres://postgres@127.0.0.1:5432/cellserve_bench]
"""

from __future__ import annotations

import argparse
import io
import sys
import time

import numpy as np
from PIL import Image

from bench.depth_common import DEFAULT_URL, bench_user, fresh_dataset, setup_django
from bench.report import median_seconds, write_section

ROWS = 1_000
MAX_RATIO = 2.0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--colormap", default="viridis")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    args = parser.parse_args()
    setup_django(args.database_url)

    import matplotlib
    from django.test import Client
    from matplotlib.colors import Normalize
    from rest_framework.authtoken.models import Token

    from depth_images import synthetic
    from depth_images.models import DepthDataset
    from depth_images.services import colormaps, depths, ingest, store

    owner = bench_user()
    fresh_dataset(owner, "bench-frame")
    ingest.ingest_path(owner, "bench-frame", io.BytesIO(synthetic.csv_bytes()))
    dataset = DepthDataset.objects.get(owner=owner, name="bench-frame")
    low, high = 9100.0, 9100.0 + (ROWS - 1) / 10
    _, rows = store.load_range(dataset, *depths.range_keys(low, high), ROWS)
    assert rows.shape == (ROWS, 150), rows.shape

    cmap, vmin, vmax = matplotlib.colormaps[args.colormap], 20.0, 230.0
    client = Client(
        HTTP_HOST="localhost",
        HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=owner)[0].key}",
    )
    url = f"/api/v1/depth-datasets/{dataset.pk}/frame.png"
    query = {"depth_min": low, "depth_max": high, "colormap": args.colormap, "vmin": vmin,
             "vmax": vmax}  # fmt: skip

    def baseline() -> bytes:
        rgb = cmap(Normalize(vmin, vmax, clip=True)(rows), bytes=True)[..., :3]
        return colormaps.encode_png(np.ascontiguousarray(rgb))

    def ours() -> bytes:
        response = client.get(url, query)
        assert response.status_code == 200, response.content[:500]
        return response.content

    base_png, our_png = baseline(), ours()
    decode = lambda png: np.asarray(Image.open(io.BytesIO(png)))  # noqa: E731
    identical = np.array_equal(decode(base_png), decode(our_png))
    base_runs, our_runs = [], []
    for _ in range(args.repeats):
        for fn, runs in ((baseline, base_runs), (ours, our_runs)):
            start = time.perf_counter()
            fn()
            runs.append(time.perf_counter() - start)
    base_s, our_s = median_seconds(base_runs), median_seconds(our_runs)
    ratio = our_s / base_s
    ok = identical and ratio <= MAX_RATIO
    verdict = "target met" if ok else "**target missed**"
    body = "\n".join(
        [
            "## Depth frame: 1,000 rows as one colormapped PNG",
            "",
            f"`bench/depth_frame.py --repeats {args.repeats} --colormap {args.colormap}`: "
            f"{ROWS:,} rows x 150 px of a dataset of the real file's shape in PostgreSQL, "
            f"`vmin={vmin:g}`, `vmax={vmax:g}`, PNG zlib level {colormaps.PNG_COMPRESS_LEVEL} "
            f"in both ({len(our_png) / 1e3:.0f} kB).",
            "",
            "| | Median (ms) |",
            "|---|---:|",
            "| colormap (matplotlib `cmap(Normalize(...)(rows))`) + PNG encode, rows in memory "
            f"| {base_s * 1e3:.1f} |",
            "| **ours**: the whole `GET .../frame.png` (auth, range query, stacking, "
            f"lookup-table colormap, PNG) | **{our_s * 1e3:.1f}** |",
            f"| ratio | **{ratio:.2f}x** (limit {MAX_RATIO:g}x) |",
            "",
            f"Decoded images identical: {'yes' if identical else '**no**'}. The colormap is "
            "applied as a 256-entry lookup table (one colour per pixel value), which is what "
            "leaves room for the database query within the budget. Result: " + verdict + ".",
        ]
    )
    write_section("depth_frame", body)
    print(body)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
