"""The shared data set, found in one place: ``../shared/data`` beside the repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = ROOT.parent / "shared" / "data"
NUCLEI = SHARED_DATA / "nuclei"
NUCLEI_DEV = NUCLEI / "dev"
# A (Z, Y, X) = (31, 61, 57) uint16 z-stack and its labels (51 nuclei, ids not consecutive).
NUCLEI3D = SHARED_DATA / "nuclei3d"
NUCLEI3D_IMAGE = NUCLEI3D / "stardist_img3d.tif"
NUCLEI3D_MASKS = NUCLEI3D / "stardist_mask3d.tif"


def require(path: Path) -> Path:
    """``path``, or a skip where it is missing (a failure in CI, which must have the data)."""
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"test data missing: {path}")
        pytest.skip(f"test data not found at {path}")
    return path
