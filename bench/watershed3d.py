"""``watershed`` on stardist's 3D nuclei: ``do_3D``, 2D + stitching, a 3D Otsu baseline; AP."""

import tifffile

from bench.watershed_accuracy import NUCLEI, baseline, scores, watershed
from predictions.services.engines import SegmentationParams as Params

PARAMS, QUICK, RATIOS = {"repeat": 5}, {"repeat": 1}, {"ratio": ("watershed_ap50", "baseline_ap50")}
ENGINE = {"watershed": Params(do_3D=True), "anisotropic": Params(do_3D=True, anisotropy=2.0)}
ENGINE["stitched"] = Params(stitch_threshold=0.5)


class Benchmark:
    def setup(self, params: dict) -> None:
        paths = [NUCLEI.with_name("nuclei3d") / f"stardist_{k}3d.tif" for k in ("img", "mask")]
        (self.image, self.truth), self.masks = map(tifffile.imread, paths), {}

    def time_segment(self, method: str) -> None:
        engine = ENGINE.get(method)
        self.masks[method] = watershed(self.image, engine) if engine else baseline(self.image, True)

    time_segment.params = ("baseline", *ENGINE)

    def track_accuracy(self, results: dict) -> dict:
        return {m: scores(self.truth, x) | {"cells": int(x.max())} for m, x in self.masks.items()}
