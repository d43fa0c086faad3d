"""Accuracy of the classical ``watershed`` engine against an Otsu + connected-components baseline.

Scores every image of the nuclei dev set (and the stardist image, reported separately) with
average precision at IoU 0.5 / 0.75 / 0.9 (TP / (TP + FP + FN), one-to-one matching), prints a
per-image table and writes the "watershed-accuracy" section of docs/benchmarks.md.

    cd /work/main && .venv/bin/python -m bench.watershed_accuracy
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu

from bench.report import write_section
from predictions.services.engines import SegmentationParams
from predictions.services.engines.watershed import create_engine, drop_small, to_intensity

DATA = Path("/work/shared/data/nuclei")
THRESHOLDS = (0.5, 0.75, 0.9)
PARAMS = SegmentationParams()


@dataclass
class Score:
    ap: np.ndarray  # AP at each of THRESHOLDS
    seconds: float
    cells: int


def load_cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, image, labels): the dev images, then the stardist image last."""
    cases = []
    for png in sorted((DATA / "dev").glob("*.png")):
        image = np.asarray(Image.open(png))
        if image.ndim == 3:
            image = image[..., :3]
        labels = tifffile.imread(png.with_name(f"{png.stem}_labels.tif"))
        cases.append((png.stem, image, labels))
    stardist = tifffile.imread(DATA / "stardist_img2d.tif")
    cases.append(("stardist", stardist, tifffile.imread(DATA / "stardist_mask2d.tif")))
    return cases


def baseline(image: np.ndarray, params: SegmentationParams) -> np.ndarray:
    """Otsu threshold with the engine's automatic polarity, then connected components."""
    intensity = to_intensity(image)
    if intensity.max() <= intensity.min():
        return np.zeros(intensity.shape, np.uint16)
    labels, _ = ndi.label(intensity > threshold_otsu(intensity))
    return drop_small(labels, params.min_size)


def score(segment, image: np.ndarray, truth: np.ndarray) -> Score:
    from cellpose.metrics import average_precision

    start = time.perf_counter()
    masks = segment(image)
    seconds = time.perf_counter() - start
    ap, _, _, _ = average_precision([truth.astype(np.int32)], [masks.astype(np.int32)], THRESHOLDS)
    return Score(ap=np.asarray(ap[0], float), seconds=seconds, cells=int(masks.max()))


def run() -> dict[str, dict[str, Score]]:
    engine = create_engine()
    methods = {
        "baseline": lambda image: baseline(image, PARAMS),
        "watershed": lambda image: engine.segment(image, PARAMS).masks,
    }
    results: dict[str, dict[str, Score]] = {}
    for name, image, truth in load_cases():
        results[name] = {method: score(fn, image, truth) for method, fn in methods.items()}
    return results


def _mean(scores: list[Score]) -> tuple[np.ndarray, float]:
    return np.mean([s.ap for s in scores], axis=0), float(np.mean([s.seconds for s in scores]))


def summarise(results: dict[str, dict[str, Score]]) -> str:
    dev = [name for name in results if name != "stardist"]
    lines = [
        "## Watershed engine accuracy (nuclei dev set)",
        "",
        f"`bench/watershed_accuracy.py`: {len(dev)} dev images (DSB 2018 stage-1 test, fluorescence"
        " and H&E) plus the stardist 512x512 fluorescence image, default `SegmentationParams`"
        f" (diameter estimated, min_size {PARAMS.min_size}). AP = TP / (TP + FP + FN) at each IoU,"
        " one-to-one matching (`cellpose.metrics.average_precision`). Baseline: Otsu threshold"
        " (same automatic channel and polarity) + connected components + min_size.",
        "",
        "| set | method | AP@0.5 | AP@0.75 | AP@0.9 | s / image |",
        "|---|---|---|---|---|---|",
    ]
    means = {}
    for label, names in (("dev mean", dev), ("stardist", ["stardist"])):
        for method in ("baseline", "watershed"):
            ap, seconds = _mean([results[n][method] for n in names])
            means[(label, method)] = ap
            lines.append(
                f"| {label} | {method} | {ap[0]:.3f} | {ap[1]:.3f} | {ap[2]:.3f} | {seconds:.3f} |"
            )
    ratio = means[("dev mean", "watershed")][0] / max(means[("dev mean", "baseline")][0], 1e-9)
    lines += [
        "",
        f"Watershed / baseline mean AP@0.5 on the dev set: **{ratio:.2f}x**.",
        "",
        "<details><summary>Per image (AP@0.5, cells found)</summary>",
        "",
        "| image | true cells | baseline | watershed |",
        "|---|---|---|---|",
    ]
    for name, scores in results.items():
        base, ws = scores["baseline"], scores["watershed"]
        lines.append(
            f"| {name} | {_TRUE_COUNTS.get(name, '?')} | {base.ap[0]:.3f} ({base.cells}) "
            f"| {ws.ap[0]:.3f} ({ws.cells}) |"
        )
    lines += ["", "</details>"]
    return "\n".join(lines)


_TRUE_COUNTS: dict[str, int] = {}


def main() -> None:
    results = run()
    for name, _, truth in load_cases():
        _TRUE_COUNTS[name] = len(np.unique(truth)) - 1
    print(f"{'image':<14} {'true':>5} {'base@.5':>8} {'ws@.5':>7} {'ws@.75':>7} {'ws s':>6}")
    for name, scores in results.items():
        base, ws = scores["baseline"], scores["watershed"]
        print(
            f"{name:<14} {_TRUE_COUNTS[name]:>5} {base.ap[0]:>8.3f} {ws.ap[0]:>7.3f}"
            f" {ws.ap[1]:>7.3f} {ws.seconds:>6.3f}"
        )
    markdown = summarise(results)
    print()
    print(markdown)
    write_section("watershed-accuracy", markdown)


if __name__ == "__main__":
    main()
