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
    """What a job asks the engine for; these defaults are the model's, the API's and the CLI's."""

    diameter: float | None = None
    flow_threshold: float = 0.4
    cellprob_threshold: float = 0.0
    min_size: int = 15


DEFAULTS = SegmentationParams()


@dataclass
class Segmentation:
    """Label image (0 background, 1..N cells) and the engine's flow fields.

    ``flows`` is float32 with shape (3, H, W): the Y and X flow components and the cell
    probability (logit) map, as Cellpose defines them.
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


@cache
def get_engine(name: str) -> Engine:
    """The process-wide engine instance for ``name``."""
    if name not in ENGINE_MODULES:
        raise KeyError(f"unknown model_type {name!r}; choose one of {', '.join(ENGINE_NAMES)}")
    module = importlib.import_module(ENGINE_MODULES[name])
    return cast(Engine, module.create_engine())
