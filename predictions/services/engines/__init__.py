"""Segmentation engines: small objects with a ``name`` and ``segment(image, params)``.

Engines are looked up by name and created once per process, so a model loaded by the
first job of a worker serves every later job. Only the ``cpsam`` module imports torch,
and only when that engine is first used.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from typing import Protocol, cast

import numpy as np


class EngineUnavailable(RuntimeError):
    """The engine cannot run here (for example, missing weights); the message says how to fix it."""


@dataclass(frozen=True)
class SegmentationParams:
    """What a job asks the engine for; these defaults are the model's, the API's and the CLI's.

    The image an engine receives is channel-last: (Y, X) or (Y, X, C) in 2D, and a stack,
    (Z, Y, X) or (Z, Y, X, C), exactly when ``do_3D`` or ``stitch_threshold > 0``.

    - ``diameter``: the object diameter in (Y, X) pixels; None to estimate it.
    - ``min_size``: objects with fewer pixels (voxels, for a stack) are dropped.
    - ``do_3D``: segment the stack as one volume.
    - ``anisotropy``: for ``do_3D``, the Z step over the (Y, X) pixel size (2.0 when planes are
      twice as far apart as pixels); None means 1.0. Stitching, being 2D, does not use it.
    - ``stitch_threshold``: when above 0 (and ``do_3D`` is False), segment each plane in 2D and
      join the planes' cells by IoU, as Cellpose's ``stitch3D``: a cell takes the label of the
      previous plane's cell it overlaps best if that IoU is at least the threshold.
    - ``nuclear_channel``: the index (last axis) of the channel holding the nuclei; None lets
      the engine choose.
    """

    diameter: float | None = None
    flow_threshold: float = 0.4
    cellprob_threshold: float = 0.0
    min_size: int = 15
    do_3D: bool = False
    anisotropy: float | None = None
    stitch_threshold: float = 0.0
    nuclear_channel: int | None = None


DEFAULTS = SegmentationParams()


@dataclass
class Segmentation:
    """Label image (0 background, 1..N cells) and the engine's flow fields.

    ``masks`` has the image's spatial shape: (Y, X), or (Z, Y, X) for a stack. ``flows`` is
    float32, the flow components then the cell probability (logit) map, as Cellpose
    defines them:

    - 2D: (3, Y, X): dy, dx, logit.
    - ``do_3D``: (4, Z, Y, X): dz, dy, dx, logit (Cellpose's 3D dP is (3, Z, Y, X)).
    - stitched (``stitch_threshold > 0``): (3, Z, Y, X): each plane's own 2D flows (dy, dx,
      logit) stacked along Z, as the planes were segmented in 2D.
    """

    masks: np.ndarray
    flows: np.ndarray

    @property
    def num_cells(self) -> int:
        return int(self.masks.max()) if self.masks.size else 0


class Engine(Protocol):
    name: str

    def segment(self, image: np.ndarray, params: SegmentationParams) -> Segmentation: ...


ENGINE_MODULES = {
    "cpsam": "predictions.services.engines.cpsam",
    "watershed": "predictions.services.engines.watershed",
}
ENGINE_NAMES = tuple(ENGINE_MODULES)
# The most channels an engine takes at once (Cellpose-SAM's three input channels); absent: any.
MAX_CHANNELS = {"cpsam": 3}


@cache
def get_engine(name: str) -> Engine:
    """The process-wide engine instance for ``name``."""
    if name not in ENGINE_MODULES:
        raise KeyError(f"unknown model_type {name!r}; choose one of {', '.join(ENGINE_NAMES)}")
    module = importlib.import_module(ENGINE_MODULES[name])
    return cast(Engine, module.create_engine())
