"""Depths as exact integer keys.

A depth is stored as an integer number of thousandths (``9000.1`` -> ``9000100``), not as a
float: "the same depth" in a second upload and the bounds of a range query are then exact
integer comparisons, immune to ``9000.1`` parsing to ``9000.1000000000004`` in one file and
``9000.099999999999`` in another. Three decimals cover the real data (steps of 0.1) with room
to spare; finer depths are refused rather than silently merged.
"""

from __future__ import annotations

import math

import numpy as np

SCALE = 1000
DECIMALS = 3
# Keys must fit a signed 64-bit column with room for the scaling.
MAX_ABS_DEPTH = 1e12
# How far (in keys) a parsed value may sit from an integer key and still be that key: float
# parsing errors are ~1e-9 keys; a real fourth decimal is >= 0.1 keys.
KEY_TOLERANCE = 1e-3


def to_keys(depths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(keys, ok): integer keys and whether each depth is representable as one."""
    scaled = depths * SCALE
    keys = np.rint(scaled)
    with np.errstate(invalid="ignore"):
        ok = (np.abs(depths) < MAX_ABS_DEPTH) & (np.abs(scaled - keys) <= KEY_TOLERANCE)
    return np.where(ok, keys, 0).astype(np.int64), ok


def to_depth(key: int) -> float:
    return key / SCALE


def range_keys(depth_min: float, depth_max: float) -> tuple[int, int]:
    """Inclusive key bounds of ``[depth_min, depth_max]``."""
    low = math.ceil(depth_min * SCALE - KEY_TOLERANCE)
    high = math.floor(depth_max * SCALE + KEY_TOLERANCE)
    return low, high
