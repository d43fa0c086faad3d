import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile
from django.core.management import CommandError, call_command

from tests.helpers.data import ROOT
from tests.helpers.images import png_bytes


@pytest.fixture
def image_file(tmp_path, blobs):
    path = tmp_path / "blobs.png"
    path.write_bytes(png_bytes(blobs))
    return path


def test_segment_writes_every_result_file(tmp_path, image_file):
    out = tmp_path / "out"
    call_command("segment", str(image_file), "--model", "watershed", "--out", str(out))
    folder = out / "blobs"
    assert sorted(p.name for p in folder.iterdir()) == [
        "cells.geojson",
        "flows.npy",
        "individual_cells.zip",
        "labels.ome.tif",
        "masks.npy",
        "metrics.csv",
        "metrics.json",
        "rois.zip",
        "segmented.png",
        "shape_analysis.json",
    ]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["summary"]["total_cells"] == 3 == np.load(folder / "masks.npy").max()


def test_segment_reports_bad_files_and_keeps_going(tmp_path, image_file):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(CommandError, match="1 of 2 image"):
        call_command("segment", str(bad), str(image_file), "--model", "watershed",
                     "--out", str(tmp_path / "out"))  # fmt: skip
    assert (tmp_path / "out" / "blobs" / "metrics.json").exists()
    assert not (tmp_path / "out" / "bad").exists()


def test_measure_uses_given_masks_without_flows(tmp_path, image_file, blobs):
    masks = np.zeros(blobs.shape, np.uint16)
    masks[10:30, 10:30] = 4
    masks_path = tmp_path / "masks.tif"
    tifffile.imwrite(masks_path, masks)
    call_command("measure", str(image_file), str(masks_path), "--out", str(tmp_path / "m"))
    folder = tmp_path / "m" / "blobs"
    assert not (folder / "flows.npy").exists()
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["individual_metrics"][0]["area"] == 400.0


def test_measure_refuses_masks_of_another_size(tmp_path, image_file):
    masks_path = tmp_path / "masks.npy"
    np.save(masks_path, np.zeros((5, 5), np.uint16))
    with pytest.raises(CommandError, match="masks are 5x5"):
        call_command("measure", str(image_file), str(masks_path), "--out", str(tmp_path / "m"))


def test_commands_that_do_not_segment_never_import_torch(tmp_path, image_file, blobs):
    np.save(tmp_path / "masks.npy", (blobs > 100).astype(np.uint16))
    script = (
        "import sys, django; django.setup();"
        "from django.core.management import call_command;"
        f"call_command('measure', {str(image_file)!r}, {str(tmp_path / 'masks.npy')!r},"
        f" '--out', {str(tmp_path / 'o')!r});"
        f"call_command('segment', {str(image_file)!r}, '--model', 'watershed',"
        f" '--out', {str(tmp_path / 'o2')!r});"
        "heavy = sorted(m for m in ('torch', 'cellpose') if m in sys.modules);"
        "print('heavy modules:', heavy); assert not heavy"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
        env={"DJANGO_SETTINGS_MODULE": "config.settings.development", "PATH": "/usr/bin:/bin",
             "CELERY_BROKER_DIR": str(tmp_path / "broker")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "heavy modules: []" in result.stdout
