"""Local estimates of the watershed engine for large 2D images (``engines/local.py``)."""

import numpy as np
import pytest
from skimage.draw import disk

from predictions.services import evaluate
from predictions.services.engines import DEFAULTS, SegmentationParams, local, watershed
from tests.helpers import mosaic

CELL = local.CELL


def _discs(shape: tuple[int, int], centres, radius: int, value: float, labels=None):
    image = np.zeros(shape, np.float32)
    labels = np.zeros(shape, np.int32) if labels is None else labels
    for r, c in centres:
        rr, cc = disk((r, c), radius, shape=shape)
        image[rr, cc] = value
        labels[rr, cc] = labels.max() + 1
    return image, labels


def _lattice(rows: range, cols: range) -> list[tuple[int, int]]:
    return [(r, c) for r in rows for c in cols]


def test_interpolate_is_linear_between_window_centres_and_flat_outside():
    values = local.interpolate(np.array([[0.0, 1.0]]), (1, 3 * CELL))[0]
    first, last = CELL - 1, 2 * CELL - 1  # the pixels whose centres lie just left of each centre
    assert np.all(values[:first] == 0.0)
    assert np.all(values[last + 1 :] == 1.0)
    assert np.all(np.diff(values) >= 0)
    assert values[CELL + CELL // 2 - 1] == pytest.approx(0.5, abs=1 / CELL)


def test_interpolate_of_a_crop_matches_the_whole():
    grid = np.random.default_rng(0).random((3, 4))
    whole = local.interpolate(grid, (4 * CELL, 5 * CELL))
    crop = local.interpolate(grid, (50, 70), origin=(100, 200))
    np.testing.assert_allclose(crop, whole[100:150, 200:270])


def test_each_item_counts_in_every_window_covering_its_grid_cell():
    members = local.per_window(np.array([1, 0]), np.array([1, 0]), (3, 3))
    assert {key for key, items in members.items() if 0 in items} == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert {key for key, items in members.items() if 1 in items} == {(0, 0)}


def test_zero_padding_and_plain_background_hold_no_objects():
    rng = np.random.default_rng(1)
    shape = (4 * CELL, 4 * CELL)
    image, _ = _discs(shape, _lattice(range(20, 2 * CELL, 40), range(20, 4 * CELL, 40)), 8, 0.5)
    image += np.where(image > 0, 0, 0.1 + 0.01 * rng.standard_normal(shape)).astype(np.float32)
    image[2 * CELL + CELL // 2 :, :] = 0  # padding
    image[2 * CELL : 2 * CELL + CELL // 2, :] = 0.1  # plain background, between them
    found = local.window_thresholds(np.sqrt(np.clip(image, 0, None)))
    assert found.holds_objects[0].all()
    assert not found.holds_objects[2:].any()
    threshold = found.filled().threshold
    assert np.all((threshold > np.sqrt(0.12)) & (threshold < np.sqrt(0.5)))


def test_regions_split_by_diameter_step_and_connectivity():
    diameters = np.array([[10.0, 10.2, 40.0], [10.0, 40.0, 41.0], [10.0, 10.0, 10.0]])
    regions = local.regions(diameters)
    assert len(regions.diameters) == 2
    assert sorted(regions.diameters) == [10.0, 40.0]  # medians
    small = regions.ids[0, 0]
    assert (regions.ids == small).sum() == 6


def test_each_region_gets_its_own_threshold_and_diameter():
    """Bright small nuclei beside dim large ones on a brighter background: no global
    threshold or diameter suits both halves."""
    side = 8 * CELL
    shape = (side, side)
    rng = np.random.default_rng(2)
    bright = _lattice(range(12, side, 28), range(12, side // 2 - 12, 28))
    left, truth = _discs(shape, bright, 6, 1.0)
    right, truth = _discs(
        shape, _lattice(range(40, side - 30, 90), range(side // 2 + 40, side - 30, 90)), 30, 0.35,
        labels=truth,
    )  # fmt: skip
    background = np.where(np.arange(side) < side // 2, 0.02, 0.2)[None, :]
    image = np.maximum(left, right) + np.where(truth > 0, 0, background)
    image = (image + 0.01 * rng.standard_normal(shape)).clip(0, 1)
    found = watershed.WatershedEngine().segment(image, DEFAULTS).masks
    ap = evaluate.evaluate(truth, found, (0.5,))["average_precision"]["0.5"]
    assert ap >= 0.9, ap
    alone = watershed.segment_volume(watershed.to_intensity(image), DEFAULTS, None).masks
    assert evaluate.evaluate(truth, alone, (0.5,))["average_precision"]["0.5"] < ap


def test_a_given_diameter_is_used_everywhere():
    side = 8 * CELL
    image, truth = _discs((side, side), _lattice(range(20, side, 40), range(20, side, 40)), 10, 0.8)
    image += 0.05
    found = watershed.WatershedEngine().segment(image, SegmentationParams(diameter=20)).masks
    assert found.max() == truth.max()
    flows = watershed.WatershedEngine().segment(image, SegmentationParams(diameter=20)).flows
    assert flows.shape == (3, side, side)
    assert flows.dtype == np.float32


def test_small_images_keep_the_global_estimates():
    assert not local.wanted((local.MIN_CELLS * CELL - 1, 4096))
    assert local.wanted((local.MIN_CELLS * CELL, local.MIN_CELLS * CELL))
    assert not local.wanted((2048, 2048, 3))


def test_a_mosaic_of_real_images_scores_near_each_image_alone():
    """The DSB fluorescence mosaic, whose images differ in brightness and nucleus size; global
    estimates scored AP@0.5 0.004 on it, the images one by one 0.56 pooled."""
    image, truth = mosaic.mosaic(2048)
    found = watershed.WatershedEngine().segment(image, DEFAULTS).masks
    assert evaluate.evaluate(truth, found, (0.5,))["average_precision"]["0.5"] >= 0.45
