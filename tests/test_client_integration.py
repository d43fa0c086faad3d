"""The installed ``cellserve`` command against a real server and worker, as a user runs it."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.data import NUCLEI_DEV, require

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
CELLSERVE = Path(sys.executable).with_name("cellserve")
# 50 small watershed jobs on one worker, uploads and downloads included.
TIMEOUT_S = 300


@pytest.fixture
def served(cluster):
    cluster.web()
    cluster.worker("w")
    return cluster


def nuclei_images(tmp_path: Path, count: int) -> list[Path]:
    """``count`` copies of the dev nuclei images, cycling, each under its own name."""
    sources = sorted(
        path for path in require(NUCLEI_DEV).glob("*.png") if "_labels" not in path.name
    )
    folder = tmp_path / "images"
    folder.mkdir()
    copies = []
    for number, source in zip(range(count), itertools.cycle(sources)):
        copies.append(Path(shutil.copyfile(source, folder / f"{number:02d}_{source.name}")))
    return copies


def cellserve(cluster, *args: str) -> subprocess.CompletedProcess[str]:
    token = cluster.http.headers["Authorization"].split()[1]
    return subprocess.run(
        [str(CELLSERVE), "--url", f"http://127.0.0.1:{cluster.port}", *args],
        env=os.environ | {"CELLSERVE_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def job_folders(out: Path) -> list[Path]:
    return sorted(path for path in out.iterdir() if path.is_dir())


def test_a_batch_of_fifty_images_is_waited_for_and_downloaded(served, tmp_path):
    out = tmp_path / "out"
    images = [str(path) for path in nuclei_images(tmp_path, 50)]
    done = cellserve(
        served,
        "batch",
        *images,
        "--model",
        "watershed",
        "--wait",
        "--out",
        str(out),
        "--formats",
        "masks,csv,geojson",
        "--quiet",
    )
    assert done.returncode == 0, done.stderr
    folders = job_folders(out)
    assert len(folders) == 50
    for folder in folders:
        [masks] = folder.glob("*.npy")
        assert np.load(masks).ndim == 2
        assert len(list(folder.glob("*.csv"))) == 1, folder
        assert len(list(folder.glob("*.geojson"))) == 1, folder
    batch_id = done.stdout.strip()
    url = f"http://127.0.0.1:{served.port}/api/v1/batches/{batch_id}/"
    batch = served.http.get(url, timeout=10).json()
    assert batch["total"] == 50
    assert batch["counts"]["completed"] == 50


def test_submitted_images_are_waited_for_and_downloaded(served, tmp_path):
    out = tmp_path / "out"
    images = [str(path) for path in nuclei_images(tmp_path, 2)]
    done = cellserve(served, "submit", *images, "--model", "watershed", "--wait", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.split()) == 2
    folders = job_folders(out)
    assert [folder.name for folder in folders] == [Path(image).stem for image in images]
    for folder in folders:
        [masks] = folder.glob("masks_*.npy")
        assert np.load(masks).ndim == 2
        assert (folder / "metrics.json").is_file()
