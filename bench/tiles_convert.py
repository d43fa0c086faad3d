"""A 20,000 x 20,000 striped upload: its conversion to a pyramidal TIFF, and views of the
pyramid against the same views cut from the upload as it is, each from a new, uncached source.
"""

import resource
import tempfile
import time
from pathlib import Path

import large_image
import numpy as np
import tifffile

from tiles.services import pyramid

PARAMS, QUICK = {"side": 20_000, "tiles": 40}, {"side": 2_500, "tiles": 4}
TILE, NUMPY = 256, large_image.constants.TILE_FORMAT_NUMPY
VIEWS = ("full", "zoomed", "overview")
RATIOS = {f"{view}_speedup": (f"upload_{view}", f"pyramid_{view}") for view in VIEWS}


def synthetic_upload(path: Path, side: int) -> None:
    """A 2,000-pixel patch of Gaussian blobs on noise, repeated: a striped uint8 TIFF."""
    rng = np.random.default_rng(0)
    patch, (yy, xx) = rng.normal(30, 6, (2000, 2000)), np.mgrid[0:2000, 0:2000]
    for y, x in rng.integers(0, 2000, (100, 2)):
        patch += 150 * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 9.0**2))
    image = np.tile(np.clip(patch, 0, 255).astype(np.uint8), (-(-side // 2000),) * 2)
    tifffile.imwrite(path, image[:side, :side])


def view_seconds(path: Path, regions: list[tuple[int, int, int]]) -> float:
    """Median seconds per region rendered to at most 256 x 256, each from a new source."""
    times, output = [], {"maxWidth": TILE, "maxHeight": TILE}
    for left, top, size in regions:
        source = large_image.open(str(path), noCache=True)
        region = {"left": left, "top": top, "width": size, "height": size}
        start = time.perf_counter()
        source.getRegion(region=region, output=output, format=NUMPY)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


class Benchmark:
    def setup(self, params: dict) -> None:
        self.side, self.tmp = params["side"], tempfile.TemporaryDirectory(prefix="bench-convert-")
        self.upload, self.pyramid = (Path(self.tmp.name) / f for f in ("upload.tif", "pyramid.tif"))
        synthetic_upload(self.upload, self.side)
        rng, side, n, self.regions = np.random.default_rng(1), self.side, params["tiles"], {}
        for view, size, count in (("full", TILE, n), ("zoomed", 8 * TILE, max(n // 4, 1))):
            corners = rng.integers(0, side - size, (count, 2))
            self.regions[view] = [(int(x), int(y), size) for x, y in corners]
        self.regions["overview"] = [(0, 0, side)]

    def time_convert(self) -> None:
        pyramid.convert_file(self.upload, self.pyramid)

    def track_views(self, results: dict) -> dict:
        out = {view: {"n": len(regions)} for view, regions in self.regions.items()}
        for view, regions in self.regions.items():
            out[f"upload_{view}"] = view_seconds(self.upload, regions)
            out[f"pyramid_{view}"] = view_seconds(self.pyramid, regions)
        out["levels"] = large_image.open(str(self.pyramid)).getMetadata()["levels"]
        out |= {f"{p.stem}_mb": p.stat().st_size / 2**20 for p in (self.upload, self.pyramid)}
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return out | {"image_mb": self.side**2 / 2**20, "peak_mb": peak}
