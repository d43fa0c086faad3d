"""Depth CSV ingest into PostgreSQL against ``pandas.read_csv`` alone and a row-by-row save (of
``baseline_rows`` rows, extrapolated); ours in a new process each time: its memory peak its own."""

import csv
import itertools
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd

from bench.serve import bench_user, setup_django
from depth_images import synthetic
from depth_images.services import depths, resize

PARAMS = {"rows": 100_000, "repeat": 5, "baseline_rows": 2_000}
QUICK = {"rows": 2_000, "repeat": 2, "baseline_rows": 200}
RATIOS = {"ours_to_pandas": ("ours", "pandas"), "speedup": ("row_by_row_total", "ours")}


def peak_rss_mb() -> float:
    # VmHWM, not getrusage's ru_maxrss: that one keeps the parent's peak across fork and exec.
    status = Path("/proc/self/status").read_text().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024


def ingest_once(path: Path, fresh: bool) -> dict:
    """``ingest.ingest_path`` in this (new) process: seconds, memory, and what it stored."""
    setup_django(migrate=False)
    from depth_images.models import DepthDataset
    from depth_images.services import ingest

    if fresh:
        DepthDataset.objects.filter(owner=bench_user(), name="bench-ingest").delete()
    before, start = peak_rss_mb(), time.perf_counter()
    with path.open("rb") as handle:
        replaced = ingest.ingest_path(bench_user(), "bench-ingest", handle).rows_replaced
    seconds = time.perf_counter() - start
    stored = DepthDataset.objects.get(owner=bench_user(), name="bench-ingest").row_count
    return {"seconds": seconds, "peak": peak_rss_mb(), "before": before, "rows": (stored, replaced)}


class Benchmark:
    def setup(self, params: dict) -> None:
        setup_django()
        self.rows, self.baseline_rows, self.runs = params["rows"], params["baseline_rows"], []
        self.directory = tempfile.TemporaryDirectory(prefix="bench-depth-")  # removed with self
        self.path = synthetic.write_csv(Path(self.directory.name) / "depth.csv", self.rows)

    def ours(self, fresh: bool) -> float:
        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as process:
            self.runs.append(process.submit(ingest_once, self.path, fresh).result())
        assert self.runs[-1]["rows"] == (self.rows, 0 if fresh else self.rows), self.runs[-1]
        return self.runs[-1]["seconds"]

    def time_pandas(self) -> None:
        pd.read_csv(self.path)

    def time_ours(self) -> float:
        return self.ours(fresh=True)

    def time_replace(self) -> float:
        """After ``time_ours`` in the first round: the dataset is there, every row replaced."""
        return self.ours(fresh=False)

    def time_row_by_row(self) -> None:
        from depth_images.models import DepthDataset, DepthRow

        DepthDataset.objects.filter(owner=bench_user(), name="bench-row-by-row").delete()
        dataset = DepthDataset.objects.create(owner=bench_user(), name="bench-row-by-row")
        with self.path.open(newline="") as handle:
            for fields in itertools.islice(csv.reader(handle), 1, self.baseline_rows + 1):
                pixels = resize.resize_rows(np.array([[float(v) for v in fields[1:]]]))[0]
                key = int(depths.to_keys(np.array([float(fields[0])]))[0][0])
                DepthRow(dataset=dataset, depth=key, pixels=pixels.tobytes()).save()

    time_replace.repeat = time_row_by_row.repeat = 1

    def track_ingest(self, results: dict) -> dict:
        per_row, runs = results["row_by_row"] / self.baseline_rows, self.runs
        out = {"size_mb": self.path.stat().st_size / 1e6, "per_row_ms": per_row * 1e3}
        out |= {"row_by_row_total": per_row * self.rows, "kept_mb": self.rows * 158 / 1e6}
        out |= {f"{key}_mb": max(run[key] for run in runs) for key in ("peak", "before")}
        return out | {"load_average": os.getloadavg()[0], "cores": os.cpu_count()}
