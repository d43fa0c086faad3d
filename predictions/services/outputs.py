"""Writing a segmentation's result files into a directory, all or nothing."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from predictions.services import exports, measure

MASKS = "masks.npy"
FLOWS = "flows.npy"
OVERLAY = "segmented.png"
CELLS_ZIP = "individual_cells.zip"
METRICS = "metrics.json"
SHAPE_ANALYSIS = "shape_analysis.json"


@dataclass(frozen=True)
class ResultSummary:
    num_cells: int
    mask_shape: tuple[int, int]
    summary: dict[str, Any]


def write_results(
    directory: Path, image: np.ndarray, masks: np.ndarray, flows: np.ndarray | None
) -> ResultSummary:
    """Write every result file of one image into ``directory`` (created; must not exist)."""
    directory.mkdir(parents=True)
    exports.write_npy(masks, directory / MASKS)
    if flows is not None:
        exports.write_npy(flows, directory / FLOWS)
    exports.write_png(exports.render_overlay(image, masks), directory / OVERLAY)
    exports.write_cells_zip(image, masks, directory / CELLS_ZIP)
    table = measure.measure_cells(masks)
    metrics = measure.metrics_document(table)
    _write_json(metrics, directory / METRICS)
    _write_json(measure.shape_analysis_document(table), directory / SHAPE_ANALYSIS)
    return ResultSummary(
        num_cells=len(table["cell_id"]),
        mask_shape=(int(masks.shape[0]), int(masks.shape[1])),
        summary=metrics["summary"],
    )


def _write_json(document: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(document, allow_nan=False))


def write_results_atomically(
    target: Path, image: np.ndarray, masks: np.ndarray, flows: np.ndarray | None
) -> ResultSummary:
    """Write into a sibling temporary directory, then swap it in: a crash leaves no half result."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        result = write_results(staging / "out", image, masks, flows)
        if target.exists():
            shutil.rmtree(target)
        (staging / "out").replace(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result
