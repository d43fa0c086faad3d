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
PARAMS = {"images": 17}  # dev images, in name order
QUICK = {"images": 2}
THRESHOLDS = {"ap50": 0.5, "ap75": 0.75, "ap90": 0.9}
METHODS = ("baseline", "watershed")
CASES = tuple(f"{name}_{method}" for name in ("dev", "stardist") for method in METHODS)
RATIOS = {"dev_ratio": ("dev_watershed_ap50", "dev_baseline_ap50")}
PARAMETERS = engines.SegmentationParams()  # the defaults: diameter estimated, min_size 15


def baseline(image: np.ndarray) -> np.ndarray:
    """Otsu on the engine's own channel and polarity, then connected components."""
    intensity = to_intensity(image)
    if intensity.max() <= intensity.min():
        return np.zeros(intensity.shape, np.uint16)
    return drop_small(ndi.label(intensity > threshold_otsu(intensity))[0], PARAMETERS.min_size)


def watershed(image: np.ndarray) -> np.ndarray:
    return engines.get_engine("watershed").segment(image, PARAMETERS).masks


class Benchmark:
    def setup(self, params: dict) -> None:
        self.sets: dict[str, list[tuple[str, np.ndarray, np.ndarray]]] = {"dev": []}
        for png in sorted((NUCLEI / "dev").glob("*.png"))[: params["images"]]:
            image = np.asarray(Image.open(png))  # some are RGBA
            labels = tifffile.imread(png.with_name(f"{png.stem}_labels.tif"))
            image = image[..., :3] if image.ndim == 3 else image
            self.sets["dev"].append((png.stem, image, labels))
        pair = [tifffile.imread(NUCLEI / f"stardist_{kind}2d.tif") for kind in ("img", "mask")]
        self.sets["stardist"] = [("stardist", *pair)]
        self.masks: dict[tuple[str, str], np.ndarray] = {}  # by image and method

    def time_segment(self, case: str) -> None:
        name, method = case.split("_")
        segment = baseline if method == "baseline" else watershed
        for image, pixels, _ in self.sets[name]:
            self.masks[image, method] = segment(pixels)

    time_segment.params = CASES

    def ap(self, image: str, truth: np.ndarray, method: str) -> list[float]:
        scores = evaluate.evaluate(truth, self.masks[image, method], tuple(THRESHOLDS.values()))
        return list(scores["average_precision"].values())

    def track_accuracy(self, results: dict) -> dict:
        out: dict = {"dev_images": len(self.sets["dev"])}
        for case in CASES:
            name, method = case.split("_")
            aps = [self.ap(image, truth, method) for image, _, truth in self.sets[name]]
            out[case] = dict(zip(THRESHOLDS, np.mean(aps, axis=0).tolist(), strict=True))
            out[case]["s"] = results[f"segment_{case}"] / len(aps)
        rows = ["", "| image | true cells | baseline | watershed |", "|---|---|---|---|"]
        for image, _, truth in self.sets["dev"] + self.sets["stardist"]:
            ap = {method: self.ap(image, truth, method)[0] for method in METHODS}
            cells = [f"{ap[m]:.3f} ({self.masks[image, m].max()})" for m in METHODS]
            rows.append(f"| {image} | {len(np.unique(truth)) - 1} | {' | '.join(cells)} |")
        return out | {"per_image": "\n".join([*rows, ""])}
