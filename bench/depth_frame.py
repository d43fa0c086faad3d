"""A 1,000-row colormapped frame through the whole API, against colormap + PNG alone (the same
pixels: ``depth_images/tests/test_frame_reference.py``)."""

import io

import numpy as np

from bench.serve import bench_user, setup_django, token
from depth_images import synthetic
from depth_images.services import colormaps, depths

PARAMS = {"repeat": 20, "colormap": "viridis", "rows": 1_000, "vmin": 20.0, "vmax": 230.0}
QUICK, RATIOS = {"repeat": 3}, {"ratio": ("ours", "baseline")}


class Benchmark:
    def setup(self, params: dict) -> None:
        setup_django()
        import matplotlib
        from django.test import Client
        from matplotlib.colors import Normalize

        from depth_images.models import DepthDataset
        from depth_images.services import ingest, store

        DepthDataset.objects.filter(owner=bench_user(), name="bench-frame").delete()
        ingest.ingest_path(bench_user(), "bench-frame", io.BytesIO(synthetic.csv_bytes()))
        dataset = DepthDataset.objects.get(owner=bench_user(), name="bench-frame")
        low, high = 9100.0, 9100.0 + (params["rows"] - 1) / 10
        _, self.rows = store.load_range(dataset, *depths.range_keys(low, high), params["rows"])
        self.cmap = matplotlib.colormaps[params["colormap"]]
        self.normalize = Normalize(params["vmin"], params["vmax"], clip=True)
        auth = f"Token {token(bench_user())}"
        self.client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=auth)
        self.url = f"/api/v1/depth-datasets/{dataset.pk}/frame.png"
        self.query = {"depth_min": low, "depth_max": high, "colormap": params["colormap"]}
        self.query |= {"vmin": params["vmin"], "vmax": params["vmax"]}

    def frame(self) -> bytes:
        response = self.client.get(self.url, self.query)
        assert response.status_code == 200, response.content[:500]
        return response.content

    def time_baseline(self) -> None:
        rgb = self.cmap(self.normalize(self.rows), bytes=True)[..., :3]
        colormaps.encode_png(np.ascontiguousarray(rgb))

    def time_ours(self) -> None:
        self.frame()

    def track_png(self, results: dict) -> dict:
        return {"png_kb": len(self.frame()) / 1e3, "png_level": colormaps.PNG_COMPRESS_LEVEL}
