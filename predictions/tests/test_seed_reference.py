"""``outputs.write_results`` writes what the seed's per-cell loops wrote, file by file.

Both write into their own directory from the same synthetic label image (touching cells,
cells with holes); the reference is ``seed_reference``, the baseline ``bench/postprocess.py``
times. Integer fields must be identical, floats equal to a relative 1e-9 (the vectorized
moments sum in another order), and the masks, overlay pixels and cell TIFFs identical.
"""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from predictions.services import measure, outputs
from predictions.tests import seed_reference

TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, Path]:
    """(the seed's directory, ours), written from the same 256 x 256 image of 36 cells."""
    image, masks = seed_reference.synthetic(256, seed=2)
    root = tmp_path_factory.mktemp("seed-reference")
    seed_reference.write_results(root / "seed", image, masks)
    outputs.write_results(root / "ours", image, masks, None)
    return root / "seed", root / "ours"


def read_json(directory: Path, name: str) -> dict:
    return json.loads((directory / name).read_text())


def read_zip(path: Path) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as archive:
        return {
            name: tifffile.imread(io.BytesIO(archive.read(name))) for name in archive.namelist()
        }


def difference(name: str, expected: float, actual: float) -> float:
    """Relative difference; for orientation, the angle between the two axes (modulo pi: a
    mirror-symmetric cell's axis is +pi/2 or -pi/2 as a rounding-level mu11 falls)."""
    if name == "orientation":
        return abs(math.remainder(expected - actual, math.pi))
    return abs(expected - actual) / max(abs(expected), abs(actual), 1e-300)


def assert_same_cells(expected: list[dict], actual: list[dict]) -> None:
    assert [list(row) for row in actual] == [list(row) for row in expected]  # fields, in order
    for seed_row, our_row in zip(expected, actual, strict=True):
        for name, value in seed_row.items():
            ours = our_row[name]
            where = f"cell {seed_row['cell_id']} {name}: seed {value!r}, ours {ours!r}"
            if name in measure.INTEGER_FIELDS or value is None or ours is None:
                assert ours == value, where
                assert type(ours) is type(value), where
            else:
                assert difference(name, value, ours) <= TOLERANCE, where


def test_the_image_has_touching_cells_and_holes():
    _, masks = seed_reference.synthetic(256, seed=2)
    assert masks.max() == 36
    assert seed_reference.touching_cells(masks) >= 5
    assert (measure.measure_cells(masks)["euler_number"] < 1).sum() >= 2


def test_metrics_match_the_seed(written):
    seed, ours = (read_json(directory, outputs.METRICS) for directory in written)
    assert ours["summary"].keys() == seed["summary"].keys()
    for name, value in seed["summary"].items():
        if name == "total_cells":
            assert ours["summary"][name] == value == 36
        else:
            assert difference(name, value, ours["summary"][name]) <= TOLERANCE, name
    assert_same_cells(seed["individual_metrics"], ours["individual_metrics"])


def test_shape_analysis_matches_the_seed(written):
    seed, ours = (read_json(directory, outputs.SHAPE_ANALYSIS) for directory in written)
    assert_same_cells(seed["shape_analysis"], ours["shape_analysis"])


def test_cell_tiffs_are_the_seeds(written):
    seed, ours = (read_zip(directory / outputs.CELLS_ZIP) for directory in written)
    assert sorted(ours) == sorted(seed)
    assert len(ours) == 36
    for name, expected in seed.items():
        assert ours[name].dtype == expected.dtype == np.uint16, name
        np.testing.assert_array_equal(ours[name], expected, err_msg=name)


def test_overlay_and_masks_are_the_seeds(written):
    seed, ours = written
    overlays = [np.asarray(Image.open(directory / outputs.OVERLAY)) for directory in written]
    np.testing.assert_array_equal(overlays[1], overlays[0])
    np.testing.assert_array_equal(np.load(ours / outputs.MASKS), np.load(seed / outputs.MASKS))


def test_writing_results_imports_neither_torch_nor_cellpose(tmp_path):
    script = (
        "import sys; from pathlib import Path; import numpy as np;"
        "from predictions.services import outputs;"
        "masks = np.zeros((32, 32), np.uint16); masks[4:12, 4:12] = 1;"
        f"outputs.write_results(Path({str(tmp_path / 'out')!r}), masks, masks, None);"
        "print(sorted({'torch', 'cellpose'} & set(sys.modules)))"
    )
    root = Path(__file__).resolve().parents[2]
    run = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True
    )
    assert run.stdout.strip() == "[]"
