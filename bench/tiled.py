"""Tiled jobs on mosaics of the DSB fluorescence images (``tests/helpers/mosaic.py``), through
gunicorn and real Celery workers on PostgreSQL and Redis: accuracy against each image segmented
alone and against the whole-image path, scaling with worker processes, cost per megapixel, and
peak memory (VmHWM) of every worker and web process."""

import io
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import requests
import tifffile

from bench import serve
from predictions.services import blocks, engines, evaluate
from tests.helpers import mosaic

PARAMS = {"accuracy": 12288, "sides": (4096, 8192, 16384), "scaling": 8192, "whole": 4096}
PARAMS |= {"block": 2048, "overlap": 128}
QUICK = {"accuracy": 2048, "sides": (1024, 2048), "scaling": 2048, "whole": 1024, "block": 512}
REDIS_URL, DATABASE = (
    "redis://127.0.0.1:6379/10",
    "postgres://postgres@127.0.0.1:5432/cellserve_bench_tiled",
)
RATIOS = {"scaling_ratio": ("scaling_1_s", "scaling_2_s")}
WORKER = [
    "celery",
    "-A",
    "config",
    "worker",
    "-Q",
    "gpu,default",
    "--pool",
    "prefork",
    "-l",
    "INFO",
]


def peak_rss_mb(process: subprocess.Popen) -> list[float]:
    """VmHWM (peak resident memory) of a process and each of its children, in MB."""
    family = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    peaks = []
    for member in family:
        status = Path(f"/proc/{member.pid}/status").read_text()
        peaks.append(int(status.split("VmHWM:")[1].split()[0]) / 1024)
    return peaks


class Benchmark:
    def setup(self, params: dict) -> None:
        self.p, self.tmp = params, tempfile.TemporaryDirectory(prefix="bench-tiled-")
        work = self.work = Path(self.tmp.name)
        self.env = {"REDIS_URL": REDIS_URL, "CACHE_URL": REDIS_URL, "MEDIA_ROOT": str(work / "m")}
        block = {
            "CELLSERVE_BLOCK_SIZE": params["block"],
            "CELLSERVE_BLOCK_OVERLAP": params["overlap"],
        }
        block |= {"CELLSERVE_TILED_THRESHOLD_PIXELS": params["block"] ** 2}
        self.env |= {key: str(value) for key, value in block.items()}
        serve.setup_django("config.settings.testing", url=DATABASE, fresh=True, **self.env)
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Token {serve.token(serve.bench_user())}"
        gunicorn = ["-c", "config/gunicorn.py", "config.wsgi:application"]
        self.web, self.port = serve.gunicorn(gunicorn, work / "web.log", WEB_CONCURRENCY="1")
        self.truth: dict[int, np.ndarray] = {}

    def teardown(self) -> None:
        serve.stop(self.web)

    def slide(self, side: int) -> Path:
        path = self.work / f"mosaic-{side}.tif"
        if not path.exists():
            image, self.truth[side] = mosaic.mosaic(side)
            tifffile.imwrite(path, image, tile=(256, 256), compression="zlib", bigtiff=True)
        return path

    def job(self, side: int, workers: int, **fields: str) -> dict:
        """One job on fresh workers (so their peak memory is this job's); its numbers."""
        worker = serve.start([*WORKER, "--concurrency", str(workers)], self.work / "w.log")
        time.sleep(5)
        url = f"http://127.0.0.1:{self.port}/api/v1/predictions/"
        started = time.perf_counter()
        with self.slide(side).open("rb") as handle:
            data = {"model_type": "watershed", **fields}
            answer = self.http.post(url, files={"input_image": handle}, data=data, timeout=600)
        job_id = answer.json()["id"]
        while (status := self.http.get(f"{url}{job_id}/status/").json())["status"] in (
            "pending", "processing"):  # fmt: skip
            time.sleep(0.5)
        seconds = time.perf_counter() - started
        assert status["status"] == "completed", status
        peaks = peak_rss_mb(worker)
        serve.stop(worker)
        masks = self.http.get(f"{url}{job_id}/download_masks/", timeout=600).content
        return {"seconds": seconds, "masks": np.load(io.BytesIO(masks)), "worker_mb": max(peaks),
                "web_mb": max(peak_rss_mb(self.web))}  # fmt: skip

    def track_accuracy(self, results: dict) -> dict:
        side = self.p["accuracy"]
        run = self.job(side, 2)
        truth, masks = self.truth[side], run["masks"]
        plan = blocks.plan_blocks(truth.shape, self.p["block"], self.p["overlap"])
        return {"accuracy": {"side": side, "ap50": ap50(truth, masks), "cells": int(masks.max()),
                "true_cells": int(truth.max()), "seam_cells": seam_cells(truth, plan),
                "split": split_cells(truth, masks, plan), "pooled_ap50": pooled_ap50(),
                "blocks": len(plan), "seconds": run["seconds"]}}  # fmt: skip

    def track_scaling(self, results: dict) -> dict:
        runs = {n: self.job(self.p["scaling"], n)["seconds"] for n in (1, 2)}
        return {"scaling": {"side": self.p["scaling"], "1_s": runs[1], "2_s": runs[2]}}

    def track_cost(self, results: dict) -> dict:
        out = {}
        for side in self.p["sides"]:
            run = self.job(side, 2)
            out[str(side)] = {"s_per_mp": run["seconds"] / (side * side / 1e6),
                              "worker_mb": run["worker_mb"], "web_mb": run["web_mb"]}  # fmt: skip
        return {"cost": out}

    def track_whole(self, results: dict) -> dict:
        side = self.p["whole"]
        tiled, whole = (self.job(side, 2, tiled=t)["masks"] for t in ("true", "false"))
        truth = self.truth[side]
        counts = {"tiled_cells": int(tiled.max()), "whole_cells": int(whole.max())}
        aps = {"tiled_ap50": ap50(truth, tiled), "whole_ap50": ap50(truth, whole)}
        diff = abs(counts["tiled_cells"] - counts["whole_cells"]) / max(counts["whole_cells"], 1)
        return {"whole": {"side": side, **counts, **aps, "cell_diff": diff}}


def ap50(truth: np.ndarray, masks: np.ndarray) -> float:
    return float(evaluate.evaluate(truth, masks, (0.5,))["average_precision"]["0.5"])


def pooled_ap50() -> float:
    """TP / (TP + FP + FN) summed over every fluorescence image segmented alone."""
    engine, tp = engines.get_engine("watershed"), np.zeros(3)
    for tile in mosaic.fluorescence_tiles():
        ov = evaluate.overlaps(tile.labels, engine.segment(tile.image, engines.DEFAULTS).masks)
        hits = evaluate.matched_count(ov, 0.5)
        tp += (hits, len(ov.pred_areas) - hits, len(ov.true_areas) - hits)
    return float(tp[0] / tp.sum())


def seam_cells(truth: np.ndarray, plan: list[blocks.Block]) -> int:
    return len(_seam_labels(truth, plan))


def _seam_labels(truth: np.ndarray, plan: list[blocks.Block]) -> np.ndarray:
    """Ground-truth cells with pixels on both sides of a core boundary."""
    rows = sorted({b.core[0].start for b in plan} - {0})
    cols = sorted({b.core[1].start for b in plan} - {0})
    pairs = [(truth[r - 1], truth[r]) for r in rows] + [
        (truth[:, c - 1], truth[:, c]) for c in cols
    ]
    crossing = [np.intersect1d(a[(a > 0) & (a == b)], b) for a, b in pairs]
    return np.unique(np.concatenate(crossing or [np.zeros(0, truth.dtype)]))


def split_cells(truth: np.ndarray, masks: np.ndarray, plan: list[blocks.Block]) -> int:
    """Ground-truth cells on a seam that two or more labels each cover by >= 10%."""
    ov = evaluate.overlaps(truth, masks)
    seam = np.isin(np.arange(1, len(ov.true_areas) + 1), _seam_labels(truth, plan))
    big = ov.intersection >= 0.1 * ov.true_areas[ov.true_index]
    pieces = np.bincount(ov.true_index[big], minlength=len(ov.true_areas))
    return int(((pieces >= 2) & seam).sum())
