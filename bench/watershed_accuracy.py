"""Accuracy of the ``watershed`` engine against Otsu + connected components, on the nuclei dev
images and (a set of its own) the stardist image; AP from ``predictions.services.evaluate``."""

from pathlib import Path

import numpy as np
import tifffile
from PIL import Image
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu

from predictions.services import engines, evaluate
from predictions.services.engines.watershed import drop_small, to_intensity

NUCLEI = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nuclei"
PARAMS, QUICK = {"images": 17}, {"images": 2}  # dev images, in name order
THRESHOLDS, METHODS = {"ap50": 0.5, "ap75": 0.75, "ap90": 0.9}, ("baseline", "watershed")
CASES = tuple(f"{name}_{method}" for name in ("dev", "stardist") for method in METHODS)
RATIOS = {"dev_ratio": ("dev_watershed_ap50", "dev_baseline_ap50")}
PARAMETERS = engines.SegmentationParams()  # the defaults: diameter estimated, min_size 15


def baseline(image: np.ndarray, stack: bool = False) -> np.ndarray:
    """Otsu on the engine's own channel and polarity, then (scipy's) connected components."""
    intensity = to_intensity(image, stack=stack)  # Otsu of a constant image: that value, no cells
    return drop_small(ndi.label(intensity > threshold_otsu(intensity))[0], PARAMETERS.min_size)


def watershed(image: np.ndarray, params: engines.SegmentationParams = PARAMETERS) -> np.ndarray:
    return engines.get_engine("watershed").segment(image, params).masks


def scores(truth: np.ndarray, masks: np.ndarray) -> dict[str, float]:
    found = evaluate.evaluate(truth, masks, tuple(THRESHOLDS.values()))["average_precision"]
    return dict(zip(THRESHOLDS, found.values(), strict=True))


class Benchmark:
    def setup(self, params: dict) -> None:
        pngs = sorted((NUCLEI / "dev").glob("*.png"))[: params["images"]]  # some RGBA, opaque
        truth = [tifffile.imread(png.with_name(f"{png.stem}_labels.tif")) for png in pngs]
        dev = [(p.stem, np.asarray(Image.open(p)), t) for p, t in zip(pngs, truth, strict=True)]
        pair = [tifffile.imread(NUCLEI / f"stardist_{kind}2d.tif") for kind in ("img", "mask")]
        self.sets = {"dev": dev, "stardist": [("stardist", *pair)]}
        self.masks: dict[tuple[str, str], np.ndarray] = {}  # by image and method

    def time_segment(self, case: str) -> None:
        name, method = case.split("_")
        segment = baseline if method == "baseline" else watershed
        for image, pixels, _ in self.sets[name]:
            self.masks[image, method] = segment(pixels)

    time_segment.params = CASES

    def track_accuracy(self, results: dict) -> dict:
        out: dict = {"dev_images": len(self.sets["dev"])}
        for case in CASES:
            name, method = case.split("_")
            aps = [scores(truth, self.masks[image, method]) for image, _, truth in self.sets[name]]
            out[case] = {key: float(np.mean([ap[key] for ap in aps])) for key in THRESHOLDS}
            out[case]["s"] = results[f"segment_{case}"] / len(aps)
        rows = ["", "| image | true cells | baseline | watershed |", "|---|---|---|---|"]
        for image, _, truth in self.sets["dev"] + self.sets["stardist"]:
            ap = {method: scores(truth, self.masks[image, method])["ap50"] for method in METHODS}
            cells = [f"{ap[m]:.3f} ({self.masks[image, m].max()})" for m in METHODS]
            rows.append(f"| {image} | {len(np.unique(truth)) - 1} | {' | '.join(cells)} |")
        return out | {"per_image": "\n".join([*rows, ""])}
