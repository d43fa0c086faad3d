import io
import json
import zipfile

import numpy as np
import pytest
import tifffile
from skimage.measure import regionprops

from predictions.services import exports, labels, outputs
from tiles.services import styles


@pytest.fixture
def labelled():
    rng = np.random.default_rng(5)
    image = rng.integers(0, 60000, (64, 80), dtype=np.uint16)
    masks = np.zeros(image.shape, np.uint16)
    masks[5:20, 5:25] = 1
    masks[30:50, 40:70] = 2
    masks[35:40, 45:50] = 0
    masks[52:60, 2:9] = 3
    return image, masks


def seed_cell_tiff(image, masks, label):
    """The seed's per-cell code: full-image comparison, regionprops box, mask, cast."""
    cell_mask = (masks == label).astype(np.uint8)
    bbox = regionprops(cell_mask)[0].bbox
    region = image[bbox[0] : bbox[2], bbox[1] : bbox[3]]
    return (region * cell_mask[bbox[0] : bbox[2], bbox[1] : bbox[3]]).astype(np.uint16)


def test_cell_zip_matches_the_seed_pixels(labelled):
    image, masks = labelled
    buffer = io.BytesIO()
    assert exports.write_cells_zip(image, masks, buffer) == 3
    with zipfile.ZipFile(buffer) as archive:
        assert archive.namelist() == ["cell_0001.tif", "cell_0002.tif", "cell_0003.tif"]
        for label in (1, 2, 3):
            cell = tifffile.imread(io.BytesIO(archive.read(f"cell_{label:04d}.tif")))
            assert cell.dtype == np.uint16
            np.testing.assert_array_equal(cell, seed_cell_tiff(image, masks, label))


def test_rgb_cells_keep_three_channels(labelled):
    _, masks = labelled
    rgb = np.random.default_rng(6).integers(0, 255, (*masks.shape, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    exports.write_cells_zip(rgb, masks, buffer)
    with zipfile.ZipFile(buffer) as archive:
        cell = tifffile.imread(io.BytesIO(archive.read("cell_0002.tif")))
    assert cell.shape == (20, 30, 3)
    assert cell.dtype == np.uint16
    assert (cell[5:10, 5:10] == 0).all()  # the hole is background


def test_float_images_are_scaled_not_zeroed():
    assert exports.to_uint16(np.array([[0.0, 0.5, 1.0]])).tolist() == [[0, 32767, 65535]]
    assert exports.to_uint16(np.array([[-5.0, 300.5, 1e9]])).tolist() == [[0, 300, 65535]]


def test_overlay_tints_cells_and_draws_white_boundaries(labelled):
    image, masks = labelled
    overlay = exports.render_overlay(image, masks)
    assert overlay.shape == (*masks.shape, 3)
    assert overlay.dtype == np.uint8
    assert (overlay[5, 5:25] == 255).all()  # top edge of cell 1
    assert (overlay[0:4, 0:4] == exports.display_rgb(image)[0:4, 0:4]).all()  # background kept
    inner = overlay[10, 10].astype(int), exports.display_rgb(image)[10, 10].astype(int)
    assert not np.array_equal(*inner)  # the inside is tinted


def test_palette_gives_consecutive_labels_distinct_colours():
    palette = labels.label_colors(500)
    assert palette.shape == (501, 3)
    assert (palette[0] == 0).all()
    assert all((palette[i] != palette[i + 1]).any() for i in range(1, 500))


def test_overlay_and_masks_tiles_colour_a_cell_alike(labelled):
    image, masks = labelled
    overlay = exports.render_overlay(image, masks)
    style = styles.label_style(int(masks.max()))
    for label in range(1, int(masks.max()) + 1):
        rgb = np.array([int(style["palette"][label][i : i + 2], 16) for i in (1, 3, 5)])
        assert (labels.label_colors(int(masks.max()))[label] == rgb).all()
        inside = masks == label
        # The overlay tints towards the cell's colour: its mean moves towards that colour.
        tinted = overlay[inside].astype(float).mean(axis=0)
        plain = exports.display_rgb(image)[inside].astype(float).mean(axis=0)
        assert np.dot(tinted - plain, rgb - plain) > 0


def test_results_are_written_whole_and_replace_an_earlier_run(tmp_path, labelled):
    image, masks = labelled
    target = tmp_path / "out" / "img"
    flows = np.zeros((3, *masks.shape), np.float32)
    outputs.write_results_atomically(target, image, masks, flows)
    (target / "stale.txt").write_text("from an earlier run")
    summary = outputs.write_results_atomically(target, image, masks, None)
    names = sorted(p.name for p in target.iterdir())
    exported = [outputs.GEOJSON, outputs.ROIS, outputs.OME_LABELS, outputs.METRICS_CSV]
    written = [outputs.MASKS, outputs.OVERLAY, outputs.CELLS_ZIP, outputs.METRICS]
    assert names == sorted([*written, outputs.SHAPE_ANALYSIS, *exported])
    assert summary.num_cells == 3
    assert summary.mask_shape == masks.shape
    metrics = json.loads((target / outputs.METRICS).read_text())
    assert metrics["summary"]["total_cells"] == 3
    np.testing.assert_array_equal(np.load(target / outputs.MASKS), masks)
    assert [p.name for p in target.parent.iterdir()] == ["img"]  # no staging left behind
