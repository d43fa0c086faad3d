"""Post-processing speed: our vectorized result writers against the seed's per-cell loops.

Builds a synthetic label image (thousands of touching, rotated ellipses, a few with holes) and
an intensity image, then writes every result file twice on the same data in the same run:

* baseline: the seed's approach, re-created here: for every label a full-image ``masks == label``
  plus ``regionprops`` on that binary mask, once for the metrics, once for the TIFF ZIP, and a
  per-label full-image blend for the overlay;
* ours: ``predictions.services.outputs.write_results`` (no flows, like the baseline).

Both use the same ZIP (deflate, level 1) and PNG (level 1) settings, so the comparison measures
the algorithms, not codec settings. The run then checks that both wrote the same numbers (every
field of every cell), the same TIFFs, the same overlay and masks, prints a report and writes the
"postprocess" section of docs/benchmarks.md. Exits non-zero, writing nothing, if they differ.

    cd /work/main && .venv/bin/python -m bench.postprocess [--size 2048] [--repeats 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image
from skimage import measure as skmeasure
from skimage.segmentation import find_boundaries

from bench.report import median_seconds, write_section
from predictions.services import exports, measure, outputs

GRID_SPACING = 40  # pixels between cell centres before jitter
JITTER = 8
RADII = (5.0, 20.0)
HOLE_CHANCE = 0.06  # for each cell whose minor radius is at least 9 px
MIN_CELL_AREA = 30  # fragments left by overlapping neighbours below this are dropped

TOLERANCE = 1e-9  # largest relative difference accepted for any float field
INERTIA_FIELDS = frozenset(
    {"eccentricity", "orientation", "major_axis_length", "minor_axis_length", "aspect_ratio"}
)
TARGET, AIM = 10.0, 20.0

STAGES = (
    "masks.npy",
    "overlay: colour + boundaries",
    "overlay: PNG encode",
    "cells ZIP (TIFFs)",
    "metrics: measure + documents",
    "metrics: JSON write",
)


# --------------------------------------------------------------------------- synthetic data


def synthetic(size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(image, masks): uint16 intensity image and uint16 label image, labels 1..n."""
    rng = np.random.default_rng(seed)
    masks = np.zeros((size, size), np.uint32)
    centres = np.arange(GRID_SPACING / 2, size, GRID_SPACING)
    label = 0
    for grid_y in centres:
        for grid_x in centres:
            y, x = grid_y + rng.uniform(-JITTER, JITTER), grid_x + rng.uniform(-JITTER, JITTER)
            ry, rx = rng.uniform(*RADII, size=2)
            theta = rng.uniform(0, np.pi)
            reach = math.ceil(max(ry, rx)) + 1
            y0, y1 = max(0, int(y) - reach), min(size, int(y) + reach + 2)
            x0, x1 = max(0, int(x) - reach), min(size, int(x) + reach + 2)
            yy, xx = np.mgrid[y0:y1, x0:x1]
            dy, dx = yy - y, xx - x
            u = dx * np.cos(theta) + dy * np.sin(theta)
            v = -dx * np.sin(theta) + dy * np.cos(theta)
            inside = (u / rx) ** 2 + (v / ry) ** 2 <= 1
            if min(rx, ry) >= 9 and rng.random() < HOLE_CHANCE:
                inside &= (u / (0.35 * rx)) ** 2 + (v / (0.35 * ry)) ** 2 > 1
            label += 1
            window = masks[y0:y1, x0:x1]
            # First painted wins: later neighbours are cut and touch the earlier cell.
            window[inside & (window == 0)] = label
    area = np.bincount(masks.ravel(), minlength=label + 1)
    keep = np.flatnonzero(area >= MIN_CELL_AREA)
    keep = keep[keep > 0]
    relabel = np.zeros(label + 1, np.uint16)
    relabel[keep] = np.arange(1, keep.size + 1)
    masks = relabel[masks]

    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    background = 900 + 500 * np.sin(2 * np.pi * 1.3 * xx) * np.cos(2 * np.pi * 0.9 * yy)
    brightness = rng.uniform(3000, 40000, keep.size + 1).astype(np.float32)
    brightness[0] = 0
    noise = rng.normal(0, 200, (size, size)).astype(np.float32)
    image = np.clip(background + brightness[masks] + noise, 0, 65535).astype(np.uint16)
    return image, masks


def touching_cells(masks: np.ndarray) -> int:
    """How many cells share an edge with another cell."""
    touching = set()
    for a, b in ((masks[:, :-1], masks[:, 1:]), (masks[:-1, :], masks[1:, :])):
        contact = (a != b) & (a > 0) & (b > 0)
        touching.update(np.unique(a[contact]).tolist(), np.unique(b[contact]).tolist())
    return len(touching)


# --------------------------------------------------------------------------- baseline (seed)


def _number(value) -> float | None:
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def baseline_documents(masks: np.ndarray) -> tuple[dict, dict]:
    """The metrics and shape-analysis documents, one full-image regionprops per cell."""
    individual, shapes = [], []
    for label in np.unique(masks)[1:]:
        cell_mask = (masks == label).astype(np.uint8)
        props = skmeasure.regionprops(cell_mask)[0]
        major, minor = props.axis_major_length, props.axis_minor_length
        aspect = major / minor if minor > 0 else None
        min_row, min_col, max_row, max_col = props.bbox
        centroid_y, centroid_x = props.centroid
        common = {
            "cell_id": int(label),
            "area": _number(props.area),
            "perimeter": _number(props.perimeter),
        }
        individual.append(
            {
                **common,
                "centroid_x": _number(centroid_x),
                "centroid_y": _number(centroid_y),
                "aspect_ratio": _number(aspect) if aspect is not None else None,
                "eccentricity": _number(props.eccentricity),
                "solidity": _number(props.solidity),
                "extent": _number(props.extent),
                "equivalent_diameter": _number(props.equivalent_diameter_area),
                "bbox_min_row": int(min_row),
                "bbox_min_col": int(min_col),
                "bbox_max_row": int(max_row),
                "bbox_max_col": int(max_col),
            }
        )
        shapes.append(
            {
                **common,
                "aspect_ratio": _number(aspect) if aspect is not None else None,
                "eccentricity": _number(props.eccentricity),
                "solidity": _number(props.solidity),
                "extent": _number(props.extent),
                "equivalent_diameter": _number(props.equivalent_diameter_area),
                "orientation": _number(props.orientation),
                "major_axis_length": _number(major),
                "minor_axis_length": _number(minor),
                "convex_area": _number(props.area_convex),
                "filled_area": _number(props.area_filled),
                "euler_number": int(props.euler_number),
            }
        )
    areas = [cell["area"] for cell in individual]
    ratios = [cell["aspect_ratio"] for cell in individual if cell["aspect_ratio"] is not None]
    summary = {
        "total_cells": len(individual),
        "average_area": float(np.mean(areas)) if areas else None,
        "min_area": float(np.min(areas)) if areas else None,
        "max_area": float(np.max(areas)) if areas else None,
        "average_aspect_ratio": float(np.mean(ratios)) if ratios else None,
    }
    return (
        {"summary": summary, "individual_metrics": individual},
        {"shape_analysis": shapes},
    )


def baseline_cells_zip(image: np.ndarray, masks: np.ndarray, target: Path) -> None:
    """The seed's ``_create_individual_segments``, with our compresslevel."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zip_file:
        for mask_id in np.unique(masks)[1:]:
            cell_mask = (masks == mask_id).astype(np.uint8)
            props = skmeasure.regionprops(cell_mask)[0]
            bbox = props.bbox
            cell_img = image[bbox[0] : bbox[2], bbox[1] : bbox[3]]
            cell_mask_cropped = cell_mask[bbox[0] : bbox[2], bbox[1] : bbox[3]]
            masked_cell = cell_img * cell_mask_cropped
            tif_buffer = io.BytesIO()
            tifffile.imwrite(tif_buffer, masked_cell.astype(np.uint16))
            zip_file.writestr(f"cell_{int(mask_id):04d}.tif", tif_buffer.getvalue())


def baseline_overlay(image: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Our colours and blend, applied one full-image ``masks == label`` at a time."""
    overlay = exports.display_rgb(image)
    colours = exports.label_palette(int(masks.max()))
    alpha = exports.OVERLAY_ALPHA
    for label in np.unique(masks)[1:]:
        region = masks == label
        tint = colours[label].astype(np.float32)
        overlay[region] = (overlay[region] * (1 - alpha) + tint * alpha).astype(np.uint8)
    overlay[find_boundaries(masks, mode="inner")] = 255
    return overlay


def save_png(rgb: np.ndarray, target: Path) -> None:
    Image.fromarray(rgb).save(target, format="PNG", compress_level=1)


def write_json(document: dict, target: Path) -> None:
    target.write_text(json.dumps(document, allow_nan=False))


def timed(stages: dict[str, float], name: str, fn: Callable, *args):
    start = time.perf_counter()
    result = fn(*args)
    stages[name] = stages.get(name, 0.0) + time.perf_counter() - start
    return result


def run_baseline(directory: Path, image: np.ndarray, masks: np.ndarray) -> dict[str, float]:
    """Write the baseline's files; seconds per stage."""
    directory.mkdir(parents=True)
    stages: dict[str, float] = {}
    timed(stages, STAGES[0], np.save, directory / outputs.MASKS, masks)
    overlay = timed(stages, STAGES[1], baseline_overlay, image, masks)
    timed(stages, STAGES[2], save_png, overlay, directory / outputs.OVERLAY)
    timed(stages, STAGES[3], baseline_cells_zip, image, masks, directory / outputs.CELLS_ZIP)
    metrics, shapes = timed(stages, STAGES[4], baseline_documents, masks)
    timed(stages, STAGES[5], write_json, metrics, directory / outputs.METRICS)
    timed(stages, STAGES[5], write_json, shapes, directory / outputs.SHAPE_ANALYSIS)
    return stages


# --------------------------------------------------------------------------- ours


def ours_documents(masks: np.ndarray) -> tuple[dict, dict, float]:
    start = time.perf_counter()
    table = measure.measure_cells(masks)
    measure_seconds = time.perf_counter() - start
    return (
        measure.metrics_document(table),
        measure.shape_analysis_document(table),
        measure_seconds,
    )


def run_ours_stages(directory: Path, image: np.ndarray, masks: np.ndarray) -> dict[str, float]:
    """The same work as ``write_results``, one stage at a time; seconds per stage."""
    directory.mkdir(parents=True)
    stages: dict[str, float] = {}
    timed(stages, STAGES[0], exports.write_npy, masks, directory / outputs.MASKS)
    overlay = timed(stages, STAGES[1], exports.render_overlay, image, masks)
    timed(stages, STAGES[2], exports.write_png, overlay, directory / outputs.OVERLAY)
    cells = directory / outputs.CELLS_ZIP
    timed(stages, STAGES[3], exports.write_cells_zip, image, masks, cells)
    metrics, shapes, stages["(measure_cells alone)"] = timed(
        stages, STAGES[4], ours_documents, masks
    )
    timed(stages, STAGES[5], write_json, metrics, directory / outputs.METRICS)
    timed(stages, STAGES[5], write_json, shapes, directory / outputs.SHAPE_ANALYSIS)
    return stages


def run_ours(directory: Path, image: np.ndarray, masks: np.ndarray) -> float:
    start = time.perf_counter()
    outputs.write_results(directory, image, masks, None)
    return time.perf_counter() - start


# --------------------------------------------------------------------------- equality


@dataclass
class FieldDiff:
    max_relative: float = 0.0  # for orientation: largest angle between the two axes, radians
    cells_differing: int = 0
    half_turns: int = 0  # orientation only: +pi/2 on one side, -pi/2 on the other
    problems: list[str] = field(default_factory=list)


@dataclass
class Equality:
    fields: dict[str, FieldDiff] = field(default_factory=dict)
    tiff_count: tuple[int, int] = (0, 0)
    tiffs_identical: bool = False
    overlay_identical: bool = False
    masks_identical: bool = False
    heavy_modules: tuple[str, ...] = ()
    failures: list[str] = field(default_factory=list)

    def compare(self, name: str, cell: object, expected, actual) -> None:
        diff = self.fields.setdefault(name, FieldDiff())
        if expected == actual and type(expected) is type(actual):
            return
        diff.cells_differing += 1
        integer = name in measure.INTEGER_FIELDS or name.endswith("total_cells")
        if integer or expected is None or actual is None:
            diff.max_relative = math.inf
            diff.problems.append(f"{cell}: baseline {expected!r}, ours {actual!r}")
            return
        if name == "orientation":
            # An axis angle, defined modulo pi: relative differences of values near 0 mean
            # nothing, and for a mirror-symmetric cell (true mu11 = 0) the sign of a rounding
            # level mu11 picks +pi/2 or -pi/2, the same axis.
            relative = abs(math.remainder(expected - actual, math.pi))
            diff.half_turns += abs(expected - actual) > math.pi / 2
        else:
            relative = abs(expected - actual) / max(abs(expected), abs(actual))
        diff.max_relative = max(diff.max_relative, relative)
        if relative > TOLERANCE:
            diff.problems.append(f"{cell}: baseline {expected!r}, ours {actual!r}")


def compare_rows(equality: Equality, key: str, baseline: list[dict], ours: list[dict]) -> None:
    if len(baseline) != len(ours):
        equality.failures.append(f"{key}: {len(baseline)} baseline rows, {len(ours)} ours")
        return
    for expected, actual in zip(baseline, ours, strict=True):
        if list(expected) != list(actual):
            equality.failures.append(f"{key}: field order {list(expected)} vs {list(actual)}")
            return
        cell = expected["cell_id"]
        for name in expected:
            equality.compare(name, f"{key} cell {cell}", expected[name], actual[name])


def read_zip(path: Path) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as archive:
        return {
            name: tifffile.imread(io.BytesIO(archive.read(name))) for name in archive.namelist()
        }


def verify(baseline_dir: Path, ours_dir: Path) -> Equality:
    equality = Equality()
    base_metrics = json.loads((baseline_dir / outputs.METRICS).read_text())
    our_metrics = json.loads((ours_dir / outputs.METRICS).read_text())
    for name, value in base_metrics["summary"].items():
        equality.compare(f"summary.{name}", "summary", value, our_metrics["summary"].get(name))
    compare_rows(
        equality,
        "metrics",
        base_metrics["individual_metrics"],
        our_metrics["individual_metrics"],
    )
    compare_rows(
        equality,
        "shape_analysis",
        json.loads((baseline_dir / outputs.SHAPE_ANALYSIS).read_text())["shape_analysis"],
        json.loads((ours_dir / outputs.SHAPE_ANALYSIS).read_text())["shape_analysis"],
    )
    for name, diff in equality.fields.items():
        for problem in diff.problems[:3]:
            equality.failures.append(f"{name}: {problem}")

    base_tiffs, our_tiffs = (
        read_zip(baseline_dir / outputs.CELLS_ZIP),
        read_zip(ours_dir / outputs.CELLS_ZIP),
    )
    equality.tiff_count = (len(base_tiffs), len(our_tiffs))
    tiff_failures = []
    if sorted(base_tiffs) != sorted(our_tiffs):
        tiff_failures.append("the two ZIPs hold different file names")
    for name in sorted(set(base_tiffs) & set(our_tiffs)):
        expected, actual = base_tiffs[name], our_tiffs[name]
        if actual.dtype != np.uint16 or expected.dtype != np.uint16:
            tiff_failures.append(f"{name}: dtypes {expected.dtype} / {actual.dtype}")
        elif expected.shape != actual.shape or not np.array_equal(expected, actual):
            tiff_failures.append(f"{name}: pixels differ")
    equality.tiffs_identical = not tiff_failures and bool(base_tiffs)
    equality.failures += tiff_failures

    base_png = np.asarray(Image.open(baseline_dir / outputs.OVERLAY))
    our_png = np.asarray(Image.open(ours_dir / outputs.OVERLAY))
    equality.overlay_identical = base_png.shape == our_png.shape and np.array_equal(
        base_png, our_png
    )
    if not equality.overlay_identical:
        equality.failures.append("overlay PNGs differ")
    equality.masks_identical = np.array_equal(
        np.load(baseline_dir / outputs.MASKS), np.load(ours_dir / outputs.MASKS)
    )
    if not equality.masks_identical:
        equality.failures.append("masks.npy differ")
    equality.heavy_modules = tuple(m for m in ("torch", "cellpose") if m in sys.modules)
    equality.failures += [f"{module} was imported" for module in equality.heavy_modules]
    return equality


# --------------------------------------------------------------------------- report


def _seconds(value: float) -> str:
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def _relative(value: float) -> str:
    if value == 0:
        return "0 (identical)"
    return "differs" if math.isinf(value) else f"{value:.1e}"


def report(
    args: argparse.Namespace,
    cells: int,
    touching: int,
    holes: int,
    baseline: dict[str, float],
    ours: dict[str, float],
    ours_total: float,
    equality: Equality,
) -> str:
    baseline_total = sum(baseline[name] for name in STAGES)
    ours_stage_sum = sum(ours[name] for name in STAGES)
    ratio = baseline_total / ours_total
    lines = [
        "## Post-processing: vectorized result files vs the seed's per-cell loops",
        "",
        f"`bench/postprocess.py --size {args.size} --repeats {args.repeats} --seed {args.seed}`: "
        f"synthetic {args.size}x{args.size} uint16 label image with **{cells} cells** "
        f"(rotated ellipses, radii {RADII[0]:g}-{RADII[1]:g} px on a jittered grid; "
        f"{touching} touch a neighbour, {holes} have a hole) and a uint16 intensity image.",
        "",
        "Baseline: the seed's approach (a full-image `masks == label` and `regionprops` per cell "
        "for the metrics, again per cell for the TIFF ZIP, a full-image blend per cell for the "
        "overlay), run once. Ours: `outputs.write_results(dir, image, masks, None)`, median of "
        f"{args.repeats} runs; its stage rows are medians of a separate stage-by-stage pass "
        f"(they sum to {_seconds(ours_stage_sum)} s). Both use ZIP deflate level 1 and PNG "
        "level 1.",
        "",
        "| Stage | Baseline (s) | Ours (s) | Baseline / ours |",
        "|---|---:|---:|---:|",
    ]
    for name in STAGES:
        lines.append(
            f"| {name} | {_seconds(baseline[name])} | {_seconds(ours[name])} "
            f"| {baseline[name] / ours[name]:.1f}x |"
        )
    lines += [
        f"| **Total** | **{_seconds(baseline_total)}** | **{_seconds(ours_total)}** "
        f"| **{ratio:.1f}x** |",
        "",
        f"Of ours' metrics stage, `measure.measure_cells` alone takes "
        f"{_seconds(ours['(measure_cells alone)'])} s; the rest is building the row dicts.",
        "",
        "Equality, checked on the files both wrote in this run (maximum relative difference "
        "over all cells; integer fields must be identical):",
        "",
        "| Field family | Fields | Max relative difference |",
        "|---|---|---:|",
    ]
    families = {
        "integer": sorted(n for n in equality.fields if n in measure.INTEGER_FIELDS),
        "summary": sorted(n for n in equality.fields if n.startswith("summary.")),
        "inertia tensor": sorted(
            n for n in equality.fields if n in INERTIA_FIELDS and n != "orientation"
        ),
    }
    taken = {n for names in families.values() for n in names} | {"orientation"}
    families["other float"] = sorted(n for n in equality.fields if n not in taken)
    for family, names in families.items():
        worst = max((equality.fields[n].max_relative for n in names), default=0.0)
        lines.append(f"| {family} | {', '.join(names)} | {_relative(worst)} |")
    orientation = equality.fields.get("orientation", FieldDiff())
    lines.append(
        "| inertia tensor, angle | orientation (axis angle: absolute difference modulo pi, "
        f"radians) | {_relative(orientation.max_relative)} |"
    )
    differing = ", ".join(
        f"{name} {_relative(diff.max_relative)}"
        for name, diff in sorted(equality.fields.items())
        if diff.max_relative > 0
    )

    def yes(ok: bool) -> str:
        return "yes" if ok else "**NO**"

    lines += [
        "",
        f"Fields not bit-identical: {differing or 'none'}.",
        "",
        f"- orientation: mirror-symmetric cells (true mu11 = 0) reported as +pi/2 by one side "
        f"and -pi/2 by the other: {orientation.half_turns} (the same axis; the sign of a "
        "rounding-level mu11 decides), hence the comparison modulo pi",
        f"- TIFFs: {equality.tiff_count[0]} in the baseline ZIP, {equality.tiff_count[1]} in "
        f"ours; same names, uint16, identical pixels: {yes(equality.tiffs_identical)}",
        f"- overlay PNG identical pixels: {yes(equality.overlay_identical)}; masks.npy "
        f"identical: {yes(equality.masks_identical)}",
        "- torch / cellpose imported by the run: "
        + (", ".join(equality.heavy_modules) if equality.heavy_modules else "no"),
        f"- tolerance {TOLERANCE:g} (relative; radians for orientation): "
        + ("**all checks passed**" if not equality.failures else "**FAILED**"),
        "",
    ]
    if ratio >= AIM:
        verdict = f"target met, and the {AIM:g}x aim too"
    elif ratio >= TARGET:
        verdict = f"target met, the {AIM:g}x aim not reached"
    else:
        verdict = "target missed"
    lines.append(
        f"**Verdict:** {ratio:.1f}x faster end to end on {cells} cells, against a target of "
        f"at least {TARGET:g}x faster (aim {AIM:g}x): {verdict}."
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    image, masks = synthetic(args.size, args.seed)
    cells = int(masks.max())
    touching = touching_cells(masks)
    print(f"{args.size}x{args.size} image, {cells} cells ({touching} touch a neighbour)")

    with tempfile.TemporaryDirectory(prefix="bench-postprocess-") as tmp:
        root = Path(tmp)
        print("ours: write_results ...", flush=True)
        ours_runs = [run_ours(root / f"ours-{i}", image, masks) for i in range(args.repeats)]
        stage_runs = [
            run_ours_stages(root / f"stages-{i}", image, masks) for i in range(args.repeats)
        ]
        ours_stages = {
            name: median_seconds([run[name] for run in stage_runs]) for name in stage_runs[0]
        }
        print(f"  {', '.join(_seconds(s) for s in ours_runs)} s", flush=True)
        print("baseline (seed approach), once ...", flush=True)
        baseline_stages = run_baseline(root / "baseline", image, masks)
        print(f"  {_seconds(sum(baseline_stages.values()))} s", flush=True)
        equality = verify(root / "baseline", root / "ours-0")
        shapes = json.loads((root / "ours-0" / outputs.SHAPE_ANALYSIS).read_text())
        holes = sum(cell["euler_number"] < 1 for cell in shapes["shape_analysis"])

    markdown = report(
        args,
        cells,
        touching,
        holes,
        baseline_stages,
        ours_stages,
        median_seconds(ours_runs),
        equality,
    )
    print()
    print(markdown)
    if equality.failures:
        print("EQUALITY CHECK FAILED; docs/benchmarks.md left unchanged:", file=sys.stderr)
        for failure in equality.failures[:50]:
            print(f"  {failure}", file=sys.stderr)
        return 1
    write_section("postprocess", markdown)
    print("wrote the 'postprocess' section of docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
