"""``outputs.write_results`` against the seed's per-cell loops (``seed_reference``, each stage once)
stage by stage. Both sides' PNG and JSON stages encode our overlay and documents: the same calls."""

import itertools
import json
import tempfile
from pathlib import Path

import numpy as np

from predictions.services import exports, measure, outputs
from predictions.tests import seed_reference

PARAMS, QUICK = {"size": 2048, "seed": 0, "repeat": 3}, {"size": 256, "repeat": 1}
STAGES = ("npy", "overlay", "png", "zip", "metrics", "json")
RATIOS = {f"{stage}_ratio": (f"seed_{stage}", f"ours_{stage}") for stage in (*STAGES, "total")}
RATIOS["intensity_cost"] = ("ours_intensity_4", "ours_metrics")  # a fraction of the metrics stage


class Benchmark:
    def setup(self, params: dict) -> None:
        image, self.masks = seed_reference.synthetic(params["size"], params["seed"])
        masks, self.documents, self.count = self.masks, self.measure(), itertools.count()
        self.tmp = tempfile.TemporaryDirectory(prefix="bench-post-")
        self.path = lambda name: Path(self.tmp.name) / f"{next(self.count)}-{name}"
        overlay, cells = exports.render_overlay(image, masks), outputs.CELLS_ZIP
        four = np.stack([image, image[::-1], image[:, ::-1], image.T], -1)  # 4 distinct channels
        self.ours = {
            "npy": lambda: exports.write_npy(masks, self.path(outputs.MASKS)),
            "overlay": lambda: exports.render_overlay(image, masks),
            "png": lambda: exports.write_png(overlay, self.path(outputs.OVERLAY)),
            "zip": lambda: exports.write_cells_zip(image, masks, self.path(cells)),
            "metrics": self.measure,
            "json": self.write_documents,
            "measure_cells": lambda: measure.measure_cells(masks),
            "intensity_4": lambda: measure.intensity_table(masks, four, ("a", "b", "c", "d")),
            "total": lambda: outputs.write_results(self.path("ours"), image, masks, None),
        }
        self.seed = {
            "npy": lambda: np.save(self.path(outputs.MASKS), masks),
            "overlay": lambda: seed_reference.overlay(image, masks),
            "png": lambda: seed_reference.save_png(overlay, self.path(outputs.OVERLAY)),
            "zip": lambda: seed_reference.cells_zip(image, masks, self.path(cells)),
            "metrics": lambda: seed_reference.documents(masks),
            "json": self.write_documents,
        }

    def measure(self) -> tuple[dict, dict]:
        table = measure.measure_cells(self.masks)
        return measure.metrics_document(table), measure.shape_analysis_document(table)

    def write_documents(self) -> None:
        for document in self.documents:
            self.path("document.json").write_text(json.dumps(document, allow_nan=False))

    def time_ours(self, stage: str) -> None:
        self.ours[stage]()

    def time_seed(self, stage: str) -> None:
        self.seed[stage]()

    time_ours.params, time_seed.params = (*STAGES, "measure_cells", "intensity_4", "total"), STAGES
    time_seed.repeat = 1  # the seed's loops: one run, as the seed ran them

    def track_data(self, results: dict) -> dict:
        cells = self.documents[1]["shape_analysis"]
        out = {"cells": len(cells), "holes": sum(cell["euler_number"] < 1 for cell in cells)}
        out |= {"touching": seed_reference.touching_cells(self.masks)}
        seed, ours = (sum(results[f"{side}_{s}"] for s in STAGES) for side in ("seed", "ours"))
        return out | {"seed_total": seed, "ours_stage_sum": ours}
