"""The exports for other tools (outlines, QuPath GeoJSON, ImageJ ROIs, OME-TIFF labels, CSV,
Cellpose ``_seg.npy``) against the metrics step they accompany, on the same 2048² image."""

import itertools
import tempfile
import uuid
from pathlib import Path

import numpy as np

from predictions.services import interop, measure, outlines
from predictions.tests import seed_reference

PARAMS, QUICK = {"size": 2048, "seed": 0, "repeat": 3}, {"size": 256, "repeat": 1}
STEPS = ("metrics", "outlines", "geojson", "rois", "labels", "csv", "seg", "exports")
RATIOS = {"exports_vs_metrics": ("ours_exports", "ours_metrics")}
RATIOS |= {"seg_vs_metrics": ("ours_seg", "ours_metrics")}


class Benchmark:
    def setup(self, params: dict) -> None:
        self.image, self.masks = seed_reference.synthetic(params["size"], params["seed"])
        self.tmp = tempfile.TemporaryDirectory(prefix="bench-exports-")
        self.count = itertools.count()
        self.cells = self.metrics()
        self.traced = outlines.trace(self.masks)
        self.flows = np.random.default_rng(0).standard_normal((3, *self.masks.shape), np.float32)
        interop.write_seg_npy(self.path("warm_seg.npy"), self.image, self.masks, self.flows, "i")

    def path(self, name: str) -> Path:
        return Path(self.tmp.name) / f"{next(self.count)}-{name}"

    def metrics(self) -> list[dict]:
        return measure.metrics_document(measure.measure_cells(self.masks))["individual_metrics"]

    def exports(self) -> None:
        """Everything a job writes for other tools, from one tracing (the seg file apart)."""
        traced = outlines.trace(self.masks)
        job = uuid.uuid4()
        interop.write_geojson(self.path("cells.geojson"), traced, self.cells, job)
        interop.write_roi_zip(self.path("rois.zip"), traced)
        interop.write_ome_labels(self.path("labels.ome.tif"), self.masks, pixel_size_um=0.5)
        interop.write_metrics_csv(self.path("m.csv"), self.cells, job_id=job, image_name="i")

    def time_ours(self, step: str) -> None:
        {
            "metrics": self.metrics,
            "outlines": lambda: outlines.trace(self.masks),
            "geojson": lambda: interop.write_geojson(
                self.path("c.geojson"), self.traced, self.cells, uuid.uuid4()
            ),
            "rois": lambda: interop.write_roi_zip(self.path("rois.zip"), self.traced),
            "labels": lambda: interop.write_ome_labels(self.path("l.ome.tif"), self.masks),
            "csv": lambda: interop.write_metrics_csv(
                self.path("m.csv"), self.cells, job_id="j", image_name="i"
            ),
            "seg": lambda: interop.write_seg_npy(
                self.path("s.npy"), self.image, self.masks, self.flows, "i"
            ),
            "exports": self.exports,
        }[step]()

    time_ours.params = STEPS

    def track_data(self, results: dict) -> dict:
        return {"cells": len(self.cells), "outline_rings": sum(
            len(p.holes) + 1 for o in self.traced for p in o.polygons)}  # fmt: skip
