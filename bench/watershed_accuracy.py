"""Accuracy of the classical ``watershed`` engine against an Otsu + connected-components baseline.

Scores every image of the nuclei dev set, and the stardist image (reported separately), with
average precision at IoU 0.5 / 0.75 / 0.9 (TP / (TP + FP + FN), one-to-one matching), prints a
per-image table and writes the "watershed-accuracy" section of docs/benchmarks.md.

    cd /work/main && .venv/bin/python -m bench.watershed_accuracy
"""

from __future__ import annotations

import time
from collections.abc import Callable
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
METHODS = ("baseline", "watershed")


@dataclass
class Case:
    name: str
    image: np.ndarray
    truth: np.ndarray

    @property
    def true_cells(self) -> int:
        return len(np.unique(self.truth)) - 1


@dataclass
class Score:
    ap: np.ndarray  # AP at each of THRESHOLDS
    seconds: float
    cells: int


def load_cases() -> tuple[list[Case], Case]:
    """The dev images, and the stardist image."""
    dev = []
    for png in sorted((DATA / "dev").glob("*.png")):
        image = np.asarray(Image.open(png))
        if image.ndim == 3:
            image = image[..., :3]  # some PNGs are RGBA
        dev.append(Case(png.stem, image, tifffile.imread(png.with_name(f"{png.stem}_labels.tif"))))
    stardist = Case(
        "stardist",
        tifffile.imread(DATA / "stardist_img2d.tif"),
        tifffile.imread(DATA / "stardist_mask2d.tif"),
    )
    return dev, stardist


def baseline(image: np.ndarray, params: SegmentationParams) -> np.ndarray:
    """Otsu threshold with the engine's automatic channel and polarity, connected components."""
    intensity = to_intensity(image)
    if intensity.max() <= intensity.min():
        return np.zeros(intensity.shape, np.uint16)
    labels, _ = ndi.label(intensity > threshold_otsu(intensity))
    return drop_small(labels, params.min_size)


def score(segment: Callable[[np.ndarray], np.ndarray], case: Case) -> Score:
    from cellpose.metrics import average_precision  # slow import (torch); only needed here

    start = time.perf_counter()
    masks = segment(case.image)
    seconds = time.perf_counter() - start
    truth, pred = case.truth.astype(np.int32), masks.astype(np.int32)
    ap, _, _, _ = average_precision([truth], [pred], threshold=list(THRESHOLDS))
    return Score(ap=np.asarray(ap[0], float), seconds=seconds, cells=int(masks.max()))


def run(cases: list[Case]) -> dict[str, dict[str, Score]]:
    engine = create_engine()
    segmenters = {
        "baseline": lambda image: baseline(image, PARAMS),
        "watershed": lambda image: engine.segment(image, PARAMS).masks,
    }
    return {c.name: {m: score(segmenters[m], c) for m in METHODS} for c in cases}


def means(scores: list[Score]) -> tuple[np.ndarray, float]:
    return np.mean([s.ap for s in scores], axis=0), float(np.mean([s.seconds for s in scores]))


def summary_table(groups: dict[str, list[str]], results: dict[str, dict[str, Score]]) -> list[str]:
    lines = [
        "| set | method | AP@0.5 | AP@0.75 | AP@0.9 | s / image |",
        "|---|---|---|---|---|---|",
    ]
    for group, names in groups.items():
        for method in METHODS:
            ap, seconds = means([results[n][method] for n in names])
            lines.append(
                f"| {group} | {method} | {ap[0]:.3f} | {ap[1]:.3f} | {ap[2]:.3f} | {seconds:.3f} |"
            )
    return lines


def markdown(dev: list[Case], stardist: Case, results: dict[str, dict[str, Score]]) -> str:
    dev_names = [c.name for c in dev]
    dev_ap = {m: means([results[n][m] for n in dev_names])[0][0] for m in METHODS}
    ratio = dev_ap["watershed"] / max(dev_ap["baseline"], 1e-9)
    lines = [
        "## Watershed engine accuracy (nuclei dev set)",
        "",
        f"`bench/watershed_accuracy.py`: {len(dev)} dev images (DSB 2018 stage-1 test,"
        " fluorescence and H&E) and, separately, the stardist 512x512 fluorescence image;"
        f" default `SegmentationParams` (diameter estimated, min_size {PARAMS.min_size})."
        " AP = TP / (TP + FP + FN) at each IoU with one-to-one matching"
        " (`cellpose.metrics.average_precision`). Baseline: Otsu threshold on the same"
        " automatically chosen channel and polarity, connected components, min_size.",
        "",
        *summary_table({"dev mean": dev_names, "stardist": [stardist.name]}, results),
        "",
        f"Watershed / baseline mean AP@0.5 on the dev set: **{ratio:.2f}x**"
        f" ({dev_ap['watershed']:.3f} vs {dev_ap['baseline']:.3f}).",
        "",
        "<details><summary>Per image: AP@0.5 (cells found)</summary>",
        "",
        "| image | true cells | baseline | watershed |",
        "|---|---|---|---|",
    ]
    for case in [*dev, stardist]:
        base, ws = results[case.name]["baseline"], results[case.name]["watershed"]
        lines.append(
            f"| {case.name} | {case.true_cells} | {base.ap[0]:.3f} ({base.cells})"
            f" | {ws.ap[0]:.3f} ({ws.cells}) |"
        )
    return "\n".join([*lines, "", "</details>"])


def print_table(cases: list[Case], results: dict[str, dict[str, Score]]) -> None:
    header = (
        "image",
        "true",
        "base@.5",
        "base@.75",
        "ws@.5",
        "ws@.75",
        "ws@.9",
        "ws cells",
        "ws s",
    )
    print("".join(f"{h:>10}" if i else f"{h:<14}" for i, h in enumerate(header)))
    for case in cases:
        base, ws = results[case.name]["baseline"], results[case.name]["watershed"]
        values = [case.true_cells, *base.ap[:2], *ws.ap, ws.cells, ws.seconds]
        print(
            f"{case.name:<14}"
            + "".join(f"{v:>10.3f}" if isinstance(v, float) else f"{v:>10}" for v in values)
        )


def main() -> None:
    dev, stardist = load_cases()
    results = run([*dev, stardist])
    print_table([*dev, stardist], results)
    text = markdown(dev, stardist, results)
    print()
    print(text)
    write_section("watershed-accuracy", text)


if __name__ == "__main__":
    main()
