"""The classical watershed engine on synthetic arrays and one real dev image (no Django, no DB)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from predictions.services.engines import SegmentationParams
from predictions.services.engines.watershed import create_engine
from tests.helpers.data import NUCLEI_DEV, ROOT, require


def disc_image(centres: list[tuple[int, int]], radius: float, shape=(96, 96)) -> np.ndarray:
    """Bright discs (value 200) on a dark, slightly noisy background, uint8."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    inside = np.zeros(shape, bool)
    for cy, cx in centres:
        inside |= (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
    noise = np.random.default_rng(0).normal(0, 3, shape)
    return np.clip(np.where(inside, 200, 20) + noise, 0, 255).astype(np.uint8)


def segment(image: np.ndarray, **params):
    return create_engine().segment(image, SegmentationParams(**params))


def assert_consecutive(masks: np.ndarray) -> None:
    ids = np.unique(masks)
    assert ids[0] == 0
    np.testing.assert_array_equal(ids[1:], np.arange(1, len(ids)))


def test_engine_identity():
    assert create_engine().name == "watershed"


def test_engine_does_not_import_torch_or_cellpose():
    code = (
        "import sys; import predictions.services.engines.watershed as w; w.create_engine(); "
        "print(sorted({'torch', 'cellpose'} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_two_touching_discs_are_split():
    result = segment(disc_image([(48, 34), (48, 60)], radius=14))
    assert result.num_cells == 2
    left, right = result.masks[48, 30], result.masks[48, 64]
    assert left != right
    assert left > 0
    assert right > 0


def test_separate_discs_found_with_given_diameter():
    result = segment(disc_image([(25, 25), (25, 70), (70, 45)], radius=10), diameter=20)
    assert result.num_cells == 3


def test_dark_objects_on_light_background_are_found():
    image = 255 - disc_image([(30, 30), (66, 66)], radius=10)
    result = segment(image)
    assert result.num_cells == 2
    assert result.masks[30, 30] > 0
    assert result.masks[66, 66] > 0
    assert result.masks[5, 90] == 0


@pytest.mark.parametrize("dark", [False, True])
def test_noise_free_two_valued_image(dark):
    """Two grey values only (a rendered or thresholded image): Otsu's threshold is the lower."""
    yy, xx = np.mgrid[:96, :128]
    inside = np.zeros(yy.shape, bool)
    for cy, cx in ((30, 30), (30, 80), (70, 50)):
        inside |= (yy - cy) ** 2 + (xx - cx) ** 2 <= 12**2
    image = np.where(inside ^ dark, 200, 20).astype(np.uint8)
    result = segment(image)
    assert result.num_cells == 3
    found = result.masks > 0
    assert (found & inside).sum() / (found | inside).sum() > 0.8


def test_he_like_colour_image():
    gray = disc_image([(30, 30), (66, 66)], radius=10).astype(float) / 255
    # Purple nuclei on a pale pink slide: dark in red and green, less so in blue.
    rgb = np.stack([235 - 150 * gray, 225 - 170 * gray, 230 - 60 * gray], axis=-1)
    result = segment(rgb.astype(np.uint8))
    assert result.num_cells == 2
    assert result.masks.shape == gray.shape


def test_rgba_input_uses_colour_channels():
    rgb = np.repeat(disc_image([(48, 48)], radius=12)[..., None], 3, axis=-1)
    rgba = np.concatenate([rgb, np.full((*rgb.shape[:2], 1), 255, np.uint8)], axis=-1)
    assert segment(rgba).num_cells == 1


@pytest.mark.parametrize("shape", [(64, 80), (1, 1), (2, 3), (5, 5)])
def test_constant_image_gives_no_cells(shape):
    result = segment(np.full(shape, 7, np.uint16))
    assert result.num_cells == 0
    assert result.masks.shape == shape
    assert result.flows.shape == (3, *shape)
    assert result.flows.dtype == np.float32
    assert np.isfinite(result.flows).all()


def test_tiny_images_do_not_crash():
    for image in (
        np.array([[0, 255]], np.uint8),
        np.eye(3),
        np.random.default_rng(1).random((4, 7)),
    ):
        result = segment(image)
        assert result.masks.shape == image.shape
        assert result.flows.shape == (3, *image.shape)


def test_min_size_drops_small_blobs():
    image = disc_image([(30, 30), (70, 70)], radius=12)
    image[10:13, 80:83] = 200  # a 9-pixel blob
    sizes = np.bincount(segment(image, diameter=24, min_size=50).masks.ravel())[1:]
    assert len(sizes) == 2
    assert sizes.min() >= 50
    kept = segment(image, diameter=24, min_size=100).masks
    assert kept.max() == 2
    assert segment(image, diameter=24, min_size=10_000).num_cells == 0


def test_labels_are_consecutive_and_compact():
    centres = [(y, x) for y in range(12, 96, 24) for x in range(12, 96, 24)]
    result = segment(disc_image(centres, radius=7))
    assert result.num_cells == len(centres)
    assert result.masks.dtype == np.uint16
    assert_consecutive(result.masks)


def test_sixteen_bit_and_float_inputs_agree_with_uint8():
    image = disc_image([(48, 34), (48, 60)], radius=14)
    reference = segment(image).masks
    for variant in (image.astype(np.uint16) * 257, image.astype(np.float32) / 255, image * 1e6):
        masks = segment(variant).masks
        assert masks.shape == image.shape
        assert masks.max() == reference.max()
        assert np.mean((masks > 0) == (reference > 0)) > 0.99


def test_huge_dynamic_range_and_non_finite_values():
    image = disc_image([(30, 30), (66, 66)], radius=10).astype(np.float64) * 1e3
    image[0, 0] = 1e30  # one hot pixel
    image[1, 1] = np.nan
    image[2, 2] = np.inf
    result = segment(image)
    assert result.num_cells == 2
    assert np.isfinite(result.flows).all()


def test_flows_point_towards_cell_centre_and_logit_sign():
    result = segment(disc_image([(48, 48)], radius=16))
    dy, dx, logit = result.flows
    assert result.flows.shape == (3, 96, 96)
    assert result.flows.dtype == np.float32
    assert dx[48, 36] > 0.5
    assert dx[48, 60] < -0.5
    assert dy[36, 48] > 0.5
    assert dy[60, 48] < -0.5
    assert dy[5, 5] == 0
    assert dx[5, 5] == 0
    assert logit[48, 48] > 0 > logit[5, 5]


def test_cellprob_threshold_shrinks_foreground():
    yy, xx = np.mgrid[:96, :96]
    image = (255 * np.exp(-((yy - 48) ** 2 + (xx - 48) ** 2) / 400)).astype(np.uint8)
    loose = segment(image, cellprob_threshold=-1.0).masks > 0
    strict = segment(image, cellprob_threshold=1.0).masks > 0
    assert 0 < strict.sum() < loose.sum()


def _ap_at_half(truth: np.ndarray, pred: np.ndarray) -> float:
    """TP / (TP + FP + FN) at IoU >= 0.5, where matches are unique (IoU > 0.5 forces that)."""
    n_true, n_pred = int(truth.max()), int(pred.max())
    pairs = truth.astype(np.int64) * (n_pred + 1) + pred
    overlap = np.bincount(pairs.ravel(), minlength=(n_true + 1) * (n_pred + 1))
    overlap = overlap.reshape(n_true + 1, n_pred + 1)
    true_area = overlap.sum(axis=1, keepdims=True)
    pred_area = overlap.sum(axis=0, keepdims=True)
    iou = overlap / np.maximum(true_area + pred_area - overlap, 1)
    tp = int((iou[1:, 1:] > 0.5).sum())
    return tp / max(n_true + n_pred - tp, 1)


def test_real_fluorescence_image_ap_above_0_4():
    image_path = require(NUCLEI_DEV / "fe9adb627a6f.png")
    import tifffile
    from PIL import Image

    image = np.asarray(Image.open(image_path))[..., :3]
    truth = tifffile.imread(require(NUCLEI_DEV / "fe9adb627a6f_labels.tif"))
    _, truth = np.unique(truth, return_inverse=True)  # make label ids consecutive
    masks = segment(image).masks
    assert masks.shape == truth.shape
    assert _ap_at_half(truth.reshape(masks.shape), masks) > 0.4
