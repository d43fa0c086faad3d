"""Cellpose-SAM through the ``cellpose`` package's own model class.

The model is built once per process (the engine is cached by ``get_engine``), so a
warm worker's later jobs reuse it. torch and cellpose are imported only here, and only
when the engine is first used.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings

from predictions.services.engines import EngineUnavailable, Segmentation, SegmentationParams

if TYPE_CHECKING:
    import torch
    from cellpose.models import CellposeModel

logger = logging.getLogger(__name__)

WEIGHTS_HELP = (
    "Cellpose-SAM weights '{name}' were not found at {path}. Download them once on a machine "
    'with internet access (python -c "from cellpose import models; '
    "models.CellposeModel(pretrained_model='{name}')\" saves them under ~/.cellpose/models, "
    "or fetch https://huggingface.co/mouseland/cellpose-sam/resolve/main/{name}) "
    "and put the file at {path}, or set CELLPOSE_LOCAL_MODELS_PATH to the folder that holds it "
    "(CELLPOSE_MODEL may also name a checkpoint file directly)."
)


def models_dir() -> Path:
    configured = settings.CELLPOSE_LOCAL_MODELS_PATH
    return Path(configured) if configured else Path.home() / ".cellpose" / "models"


def resolve_weights(model: str) -> Path | None:
    """An existing checkpoint for ``model`` (a path, or a name in the models folder)."""
    for candidate in (Path(model).expanduser(), models_dir() / model):
        if candidate.is_file():
            return candidate
    return None


def pick_device(requested: str) -> torch.device:
    import torch

    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(requested)
    except RuntimeError as exc:
        raise EngineUnavailable(f"CELLPOSE_DEVICE={requested!r} is not a torch device") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise EngineUnavailable("CELLPOSE_DEVICE=cuda but no CUDA GPU is available to this worker")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise EngineUnavailable("CELLPOSE_DEVICE=mps but MPS is not available to this worker")
    return device


class CellposeSAMEngine:
    name = "cpsam"

    def __init__(self, model: str, device: str) -> None:
        self.model_name = model
        self.requested_device = device
        self._model: CellposeModel | None = None
        self._lock = threading.Lock()
        self.loads = 0
        self.load_seconds = 0.0

    @property
    def model(self) -> CellposeModel:
        with self._lock:
            if self._model is None:
                self._model = self._load()
        return self._model

    def _load(self) -> CellposeModel:
        weights = resolve_weights(self.model_name)
        if weights is None and self.model_name not in ("cpsam", "cpsam_v2"):
            raise EngineUnavailable(
                WEIGHTS_HELP.format(name=self.model_name, path=models_dir() / self.model_name)
            )
        os.environ.setdefault("CELLPOSE_LOCAL_MODELS_PATH", str(models_dir()))
        from cellpose import models

        device = pick_device(self.requested_device)
        started = time.perf_counter()
        try:
            model = models.CellposeModel(
                pretrained_model=str(weights) if weights else self.model_name,
                device=device,
                # bfloat16 halves GPU memory; CPUs without bf16 units run it far slower.
                use_bfloat16=device.type == "cuda",
            )
        except Exception as exc:
            if weights is not None:
                raise EngineUnavailable(
                    f"Cellpose-SAM weights at {weights} could not be loaded ({exc})"
                ) from exc
            # cellpose tried its own download (no weights on disk) and could not fetch them.
            raise EngineUnavailable(
                WEIGHTS_HELP.format(name=self.model_name, path=models_dir() / self.model_name)
                + f" (download attempt failed: {type(exc).__name__})"
            ) from exc
        self.loads += 1
        self.load_seconds = time.perf_counter() - started
        logger.info("loaded Cellpose-SAM on %s in %.1fs", device, self.load_seconds)
        return model

    def segment(self, image: np.ndarray, params: SegmentationParams) -> Segmentation:
        """``image`` is channel-last: (Y, X[, C]), or (Z, Y, X[, C]) for a stack (see params)."""
        stack = params.do_3D or params.stitch_threshold > 0
        spatial = 3 if stack else 2
        masks, flows, _ = self.model.eval(
            image,
            channel_axis=spatial if image.ndim > spatial else None,
            z_axis=0 if stack else None,
            do_3D=params.do_3D,
            anisotropy=params.anisotropy,
            stitch_threshold=params.stitch_threshold,
            diameter=params.diameter,
            flow_threshold=params.flow_threshold,
            cellprob_threshold=params.cellprob_threshold,
            min_size=params.min_size,
            batch_size=settings.CELLPOSE_BATCH_SIZE,
            normalize=_normalisation(),
        )
        dp, cellprob = np.asarray(flows[1], np.float32), np.asarray(flows[2], np.float32)
        return Segmentation(
            masks=np.asarray(masks), flows=np.concatenate([dp, cellprob[None]], axis=0)
        )


def _normalisation() -> bool | dict[str, int]:
    block = settings.CELLPOSE_TILE_NORM_BLOCKSIZE
    return {"tile_norm_blocksize": block} if block > 0 else True


def create_engine() -> CellposeSAMEngine:
    return CellposeSAMEngine(settings.CELLPOSE_MODEL, settings.CELLPOSE_DEVICE)
