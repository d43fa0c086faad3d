"""Tiles of an 8192 x 8192 upload, ours against django-large-image's own viewset (routes of
``bench/tiles_urls.py``; same bytes: ``tiles/tests/test_plain_viewset.py``), in process and under
load. The tile cache is a Redis database of the bench's own: never one the tests use (12-15)."""

import os
import random
import tempfile
import time
from pathlib import Path

import large_image
import numpy as np
import redis
import tifffile

from bench import serve

PARAMS = {"size": 8192, "full_tiles": 60, "cold_rounds": 2, "warm_rounds": 5, "seed": 0}
PARAMS |= {"load_seconds": 15.0, "threads": 8}
QUICK = {"size": 1024, "full_tiles": 4, "cold_rounds": 1, "warm_rounds": 1, "load_seconds": 2.0}
CACHE_DB, DATABASE = 10, "postgres://postgres@127.0.0.1:5432/cellserve_bench_tiles"
GUNICORN = ["config.wsgi:application", "--workers", "2", "--worker-class", "gthread",
            "--threads", "4", "--keep-alive", "30", "--log-level", "warning"]  # fmt: skip
SIDES, PLAIN = ("ours", "plain", "noauth"), (("plain", "plain"), ("noauth", "plain-noauth"))
STATS = {"cold": "median", "warm": "median", "load_warm": "per_s", "load_uncached": "per_s"}
RATIOS = {f"{kind}_{side}_ratio": (f"{kind}_ours_{stat}", f"{kind}_{side}_{stat}")
          for kind, stat in STATS.items() for side in SIDES[1:]}  # fmt: skip


def synthetic_image(size: int, seed: int) -> np.ndarray:
    """Gaussian blobs of a few sizes (cells, nuclei) on a noisy dark background, uint8."""
    rng = np.random.default_rng(seed)
    image = rng.standard_normal((size, size), dtype=np.float32) * 6.0 + 20.0
    yy, xx = np.mgrid[-24:25, -24:25]
    kernels = [np.exp(-(yy**2 + xx**2) / (2.0 * s * s)).astype(np.float32) for s in (3, 5, 7, 9)]
    count = size * size // 3000  # about 22,000 blobs on 8192 x 8192
    ys, xs = rng.integers(24, size - 25, count), rng.integers(24, size - 25, count)
    kinds, amplitudes = rng.integers(0, 4, count), rng.uniform(60, 200, count).astype(np.float32)
    for y, x, kind, amplitude in zip(ys, xs, kinds, amplitudes, strict=True):
        image[y - 24 : y + 25, x - 24 : x + 25] += amplitude * kernels[kind]
    return np.clip(image, 0, 255).astype(np.uint8)


def tile_sample(levels: int, full: int, seed: int) -> list[tuple[int, int, int]]:
    """``full`` distinct tiles at the full-resolution level, a few at each lower level."""
    rng, top, tiles = np.random.default_rng(seed), levels - 1, []
    for z in range(top, -1, -1):
        want = min({top: full, top - 1: 4, top - 2: 4, top - 3: 2}.get(z, 1), 4**z)
        tiles += [(z, int(i % 2**z), int(i // 2**z)) for i in rng.choice(4**z, want, False)]
    return tiles


class Benchmark:
    def setup(self, params: dict) -> None:
        self.p, self.load_before = params, os.getloadavg()
        self.tmp = tempfile.TemporaryDirectory(prefix="bench-tiles-")
        self.workdir = work = Path(self.tmp.name)
        env = {"CACHE_URL": f"redis://127.0.0.1:6379/{CACHE_DB}", "MEDIA_ROOT": str(work / "media")}
        serve.setup_django("bench.tiles_settings", url=DATABASE, fresh=True, **env)
        from django.core.cache import cache
        from django.core.files import File
        from django.db.models.signals import post_save
        from django.test import Client

        from predictions.models import PredictionJob

        # Built by time_build, timed: no build task for a worker to pick up.
        post_save.disconnect(sender=PredictionJob, dispatch_uid="tiles_job_created")
        upload = self.workdir / "bench-tiles.tif"
        tifffile.imwrite(upload, synthetic_image(params["size"], params["seed"]), rowsperstrip=8)
        with upload.open("rb") as handle:
            image = {"input_image": File(handle, name=upload.name), "model_type": "watershed"}
            self.job = PredictionJob.objects.create(owner=serve.bench_user(), **image)
        self.auth = {"Authorization": f"Token {serve.token(serve.bench_user())}"}
        self.headers = {"ours": self.auth, "plain": self.auth, "noauth": {}}
        self.client = Client(HTTP_HOST="localhost")  # one: its middleware is loaded once
        self.cache, self.keys = cache, redis.Redis(db=CACHE_DB).dbsize

    def fetch(self, url: str, headers: dict[str, str]) -> float:
        started, response = time.perf_counter(), self.client.get(url, headers=headers)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, (url, response.status_code, response.content[:300])
        return elapsed

    def interleaved(self, rounds: int, before=lambda: None) -> dict[str, list[float]]:
        """Every side on every tile, ``rounds`` times, the sides' order rotating tile by tile."""
        times: dict[str, list[float]] = {side: [] for side in SIDES}
        for round_ in range(rounds):
            for i, tile in enumerate(self.sample):
                for side in SIDES[(i + round_) % 3 :] + SIDES[: (i + round_) % 3]:
                    before()
                    url = self.urls[side].format(*tile)
                    times[side].append(self.fetch(url, self.headers[side]))
        return times

    def time_build(self) -> None:
        from tiles.services.build import build_job

        build_job(self.job)

    def track_conversion(self, results: dict) -> dict:
        from tiles.models import Layer, TiledImage

        tiled = TiledImage.objects.get(job=self.job, layer=Layer.INPUT)
        meta = large_image.open(tiled.file.path).getMetadata()
        self.levels = int(meta["levels"])
        self.sample = tile_sample(self.levels, self.p["full_tiles"], self.p["seed"])
        plain = {side: f"/api/v1/bench/{name}/tiled/{tiled.pk}/tiles" for side, name in PLAIN}
        prefixes = {"ours": f"/api/v1/tiles/inputs/{self.job.pk}/tiles"} | plain
        self.urls = {side: prefix + "/{}/{}/{}.png" for side, prefix in prefixes.items()}
        full = sum(z == self.levels - 1 for z, _, _ in self.sample)
        sizes = {"upload_mb": Path(self.job.input_image.path).stat().st_size / 1e6}
        sizes |= {"tiled_mb": tiled.file.size / 1e6, "tile_width": meta["tileWidth"]}
        sample = {"tiles": len(self.sample), "full": full, "lower": len(self.sample) - full}
        return sizes | {"levels": self.levels, "top": self.levels - 1, "sample": sample}

    def track_in_process(self, results: dict) -> dict:
        self.interleaved(1)  # each side's tile source opened: a server keeps it open too
        cold = self.interleaved(self.p["cold_rounds"], before=self.cache.clear)
        self.cache.clear()
        self.interleaved(1)  # the warm rounds find every tile cached
        out = {"keys": {"before": self.keys()}}
        warm = self.interleaved(self.p["warm_rounds"])
        out["keys"]["after"] = self.keys()
        for kind, times in (("cold", cold), ("warm", warm)):
            ms = {side: np.percentile(np.array(times[side]) * 1e3, [50, 90]) for side in SIDES}
            out[kind] = {side: {"median": m, "p90": p90} for side, (m, p90) in ms.items()}
            out[kind]["n"] = len(times["ours"])
        return out

    def track_upload(self, results: dict) -> dict:
        """A plain viewset on the original striped upload, cold: what the conversion buys."""
        source = large_image.open(self.job.input_image.path)
        meta = source.getMetadata()
        width, height, top = meta["tileWidth"], meta["tileHeight"], meta["levels"] - 1
        columns, rows = -(-meta["sizeX"] // width), -(-meta["sizeY"] // height)
        picks = np.random.default_rng(1).choice(columns * rows, min(8, columns * rows), False)
        prefix, times = f"/api/v1/bench/plain/uploads/{self.job.pk}/tiles", []
        for z, x, y in [*((top, int(i % columns), int(i // columns)) for i in picks), (0, 0, 0)]:
            self.cache.clear()
            times.append(self.fetch(f"{prefix}/{z}/{x}/{y}.png", self.auth))
        upload = {"reader": type(source).__name__, "tile": f"{width}x{height}", "n": len(picks)}
        upload |= {"levels": meta["levels"], "full": float(np.median(times[:-1]))}
        return {"upload": upload | {"overview": times[-1], "pixels": width * height / 256**2}}

    def hammer(self, side: str, tiles: list, seconds: float, once: bool, seed=0) -> tuple:
        requests = [("GET", self.urls[side].format(*t), None, self.headers[side]) for t in tiles]
        return serve.hammer(self.port, requests, self.p["threads"], seconds, once, seed)

    def by_segments(self, segment) -> dict[str, dict]:
        """Each side's stats over two segments, run in SIDES' order and then reversed."""
        answers, seconds = {side: [] for side in SIDES}, dict.fromkeys(SIDES, 0.0)
        for i, side in enumerate(SIDES + SIDES[::-1]):
            part, elapsed = segment(side, i // 3)
            answers[side], seconds[side] = answers[side] + part, seconds[side] + elapsed
        return {side: serve.stats(answers[side], seconds[side]) for side in SIDES}

    def track_load(self, results: dict) -> dict:
        top, p = self.levels - 1, self.p
        fresh = [(top, i % 2**top, i // 2**top) for i in range(4**top)]
        fresh = [tile for tile in fresh if tile not in self.sample]
        random.Random(p["seed"]).shuffle(fresh)  # noqa: S311 (an order, not a secret)
        halves = fresh[: len(fresh) // 2], fresh[len(fresh) // 2 :]

        def warm(side: str, segment: int) -> tuple:
            return self.hammer(side, self.sample, p["load_seconds"] / 2, False, p["seed"] + segment)

        def uncached(side: str, segment: int) -> tuple:
            self.cache.clear()  # plain and noauth share cache keys (same file, same style)
            return self.hammer(side, halves[segment], 120, True)

        server, self.port = serve.gunicorn(GUNICORN, log := self.workdir / "gunicorn.log")
        try:
            self.cache.clear()
            for side in SIDES:  # every tile cached, then every worker thread has opened its source
                self.hammer(side, self.sample, 60, True)
                self.hammer(side, self.sample, 2.0, False)
            load = {"keys": {"before": self.keys()}, "warm": self.by_segments(warm)}
            load["keys"]["after"] = self.keys()
            load["uncached"] = self.by_segments(uncached)
        finally:
            serve.stop(server)
        errors = sum("Traceback" in line or "ERROR" in line for line in log.read_text().split("\n"))
        average = {"before": self.load_before, "after": os.getloadavg()}
        average = {key: "/".join(f"{v:.2f}" for v in value) for key, value in average.items()}
        out = {"load": load, "load_average": average, "server_errors": errors}
        return out | {"uncached_tiles": len(fresh), "cores": os.cpu_count()}
