"""The shared data set, found in one place: ``../shared/data`` beside the repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = ROOT.parent / "shared" / "data"
NUCLEI = SHARED_DATA / "nuclei"
NUCLEI_DEV = NUCLEI / "dev"


def require(path: Path) -> Path:
    """``path``, or a skip where it is missing (a failure in CI, which must have the data)."""
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"test data missing: {path}")
        pytest.skip(f"test data not found at {path}")
    return path
