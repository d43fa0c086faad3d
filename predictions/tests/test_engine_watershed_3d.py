"""The watershed engine on stacks: ``do_3D``, ``stitch_threshold``, ``nuclear_channel``, and the
stitching module against Cellpose's ``stitch3D`` (no Django, no DB)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from predictions.services import evaluate
from predictions.services.engines import SegmentationParams
from predictions.services.engines import watershed as engine
from predictions.services.engines.stitch import stitch_planes
from tests.helpers.data import SHARED_DATA, require

NUCLEI3D = SHARED_DATA / "nuclei3d"


def spheres(centres, radius, shape=(32, 64, 64), spacing=(1.0, 1.0, 1.0), seed=0) -> np.ndarray:
    """Bright balls (value 200, radius in (Y, X) pixels) on a dark, slightly noisy background."""
    zz, yy, xx = np.indices(shape, dtype=float)
    inside = np.zeros(shape, bool)
    for cz, cy, cx in centres:
        inside |= ((zz - cz) * spacing[0]) ** 2 + (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
    noise = np.random.default_rng(seed).normal(0, 3, shape)
    return np.clip(np.where(inside, 200, 20) + noise, 0, 255).astype(np.uint8)


def segment(image: np.ndarray, **params):
    return engine.create_engine().segment(image, SegmentationParams(**params))


def assert_consecutive(masks: np.ndarray) -> None:
    ids = np.unique(masks)
    assert ids[0] == 0
    np.testing.assert_array_equal(ids[1:], np.arange(1, len(ids)))


def same_objects(a: np.ndarray, b: np.ndarray) -> bool:
    """The same partition into objects, whatever the label numbers."""
    if not np.array_equal(a > 0, b > 0):
        return False
    cells = a > 0
    pairs = np.unique(np.stack([a[cells], b[cells]]).astype(np.int64), axis=1)
    return pairs.shape[1] == np.unique(a[cells]).size == np.unique(b[cells]).size


@pytest.fixture(scope="module")
def real_stack() -> tuple[np.ndarray, np.ndarray]:
    import tifffile

    image = tifffile.imread(require(NUCLEI3D / "stardist_img3d.tif"))
    truth = tifffile.imread(require(NUCLEI3D / "stardist_mask3d.tif"))
    return image, truth


def ap50(truth: np.ndarray, masks: np.ndarray) -> float:
    return float(evaluate.evaluate(truth, masks, (0.5,))["average_precision"]["0.5"])


# --- do_3D ---------------------------------------------------------------------------------


def test_two_touching_spheres_are_two_labels():
    result = segment(spheres([(16, 32, 22), (16, 32, 42)], radius=11), do_3D=True)
    assert result.num_cells == 2
    left, right = result.masks[16, 32, 17], result.masks[16, 32, 47]
    assert left > 0
    assert right > 0
    assert left != right
    assert result.masks.shape == (32, 64, 64)
    assert result.masks.dtype == np.uint16


def test_3d_flows_layout_and_direction():
    result = segment(spheres([(16, 32, 32)], radius=12), do_3D=True)
    assert result.flows.shape == (4, 32, 64, 64)
    assert result.flows.dtype == np.float32
    assert np.isfinite(result.flows).all()
    dz, dy, dx, logit = result.flows
    assert dz[8, 32, 32] > 0.5  # below the centre in Z: towards it is +z
    assert dz[24, 32, 32] < -0.5
    assert dy[16, 24, 32] > 0.5
    assert dx[16, 32, 40] < -0.5
    assert dz[1, 1, 1] == dy[1, 1, 1] == dx[1, 1, 1] == 0
    assert logit[16, 32, 32] > 0 > logit[1, 1, 1]


def test_real_stack_3d(real_stack):
    image, truth = real_stack
    result = segment(image, do_3D=True)
    assert result.masks.shape == image.shape
    assert result.flows.shape == (4, *image.shape)
    assert_consecutive(result.masks)
    assert result.num_cells >= 20  # 51 true nuclei
    assert ap50(truth, result.masks) > 0.25  # measured 0.354; Otsu + components: 0.10
    # Its planes are about twice as far apart as its pixels.
    assert ap50(truth, segment(image, do_3D=True, anisotropy=2.0).masks) > 0.45  # measured 0.635


def test_anisotropy_reaches_the_distance_transform(monkeypatch):
    samplings = []
    edt = ndi.distance_transform_edt

    def recording(image, sampling=None, **kwargs):
        samplings.append(None if sampling is None else tuple(sampling))
        return edt(image, sampling=sampling, **kwargs)

    monkeypatch.setattr(engine.ndi, "distance_transform_edt", recording)
    image = spheres([(8, 32, 22), (8, 32, 42)], radius=11, shape=(16, 64, 64), spacing=(2.5, 1, 1))
    flat = segment(image, do_3D=True, anisotropy=2.5)
    assert samplings
    assert set(samplings) == {(2.5, 1.0, 1.0)}
    assert flat.num_cells == 2
    assert not np.array_equal(flat.masks, segment(image, do_3D=True).masks)


@pytest.mark.parametrize("anisotropy", [0.0, -1.0, float("nan")])
def test_bad_anisotropy_is_refused(anisotropy):
    with pytest.raises(ValueError, match="anisotropy"):
        segment(spheres([(16, 32, 32)], radius=8), do_3D=True, anisotropy=anisotropy)


@pytest.mark.parametrize("params", [{"do_3D": True}, {"stitch_threshold": 0.5}])
@pytest.mark.parametrize("value", [0, 7])
def test_constant_stack_gives_no_cells(params, value):
    result = segment(np.full((5, 12, 14), value, np.uint16), **params)
    assert result.num_cells == 0
    assert result.masks.shape == (5, 12, 14)
    assert result.flows.shape == (4 if params.get("do_3D") else 3, 5, 12, 14)
    assert np.isfinite(result.flows).all()


@pytest.mark.parametrize("params", [{"do_3D": True}, {"stitch_threshold": 0.5}])
def test_small_and_flat_stacks_do_not_crash(params):
    rng = np.random.default_rng(2)
    for stack in (rng.random((1, 9, 9)), rng.random((2, 3, 4)), spheres([(0, 32, 32)], 10)[:1]):
        result = segment(stack, **params)
        assert result.masks.shape == stack.shape
        assert np.isfinite(result.flows).all()


def test_a_2d_image_is_not_a_stack():
    with pytest.raises(ValueError, match=r"\(Z, Y, X\)"):
        segment(np.zeros((8, 8)), do_3D=True)


# --- channels ------------------------------------------------------------------------------


def two_channel(stack: bool) -> tuple[np.ndarray, list[tuple[int, ...]], list[tuple[int, ...]]]:
    """Nuclei in channel 1; in channel 0, noise and sharper, brighter decoy blocks elsewhere."""
    nuclei = spheres([(16, 20, 20), (16, 44, 44)], radius=9)
    decoy = np.random.default_rng(3).normal(30, 10, nuclei.shape)
    decoys = [(16, 12, 52), (16, 52, 12), (16, 32, 32)]
    for z, y, x in decoys:
        decoy[z - 5 : z + 5, y - 5 : y + 5, x - 5 : x + 5] = 250
    image = np.stack([np.clip(decoy, 0, 255).astype(np.uint8), nuclei], axis=-1)
    if not stack:
        return image[16], [(20, 20), (44, 44)], [d[1:] for d in decoys]
    return image, [(16, 20, 20), (16, 44, 44)], decoys


@pytest.mark.parametrize("params", [{"do_3D": True}, {"stitch_threshold": 0.3}, {}])
def test_nuclear_channel_selects_the_channel(params):
    image, nuclei, decoys = two_channel(stack=bool(params))
    result = segment(image, nuclear_channel=1, **params)
    assert result.masks.shape == image.shape[:-1]
    assert result.num_cells == 2
    assert len({int(result.masks[c]) for c in nuclei} - {0}) == 2
    assert all(result.masks[c] == 0 for c in decoys)
    other = segment(image, nuclear_channel=0, **params)
    assert all(other.masks[c] > 0 for c in decoys)
    assert all(other.masks[c] == 0 for c in nuclei)


def test_nuclear_channel_out_of_range_is_refused():
    image, _, _ = two_channel(stack=False)
    with pytest.raises(ValueError, match="nuclear_channel"):
        segment(image, nuclear_channel=2)
    with pytest.raises(ValueError, match="nuclear_channel"):
        segment(image[..., 0], nuclear_channel=1)
    assert segment(image[..., 1], nuclear_channel=0).num_cells == 2


@pytest.mark.parametrize("channels", [2, 5, 16])
def test_any_channel_count_uses_the_signal_channel(channels):
    """Without ``nuclear_channel``: the channel that splits most cleanly, among empty ones."""
    nuclei = spheres([(16, 20, 20), (16, 44, 44)], radius=9)
    noise = np.random.default_rng(4).normal(50, 20, (*nuclei.shape, channels))
    image = np.clip(noise, 0, 255).astype(np.uint8)
    image[..., channels // 2] = nuclei
    assert segment(image, do_3D=True).num_cells == 2
    assert segment(image[16]).num_cells == 2


def test_four_channels_are_not_rgba():
    """A 4-channel image whose fourth channel varies keeps it: it may hold the nuclei."""
    nuclei = spheres([(16, 20, 20), (16, 44, 44)], radius=9)[16]
    image = np.zeros((*nuclei.shape, 4), np.uint8)
    image[..., :3] = np.random.default_rng(5).integers(0, 40, (*nuclei.shape, 3))
    image[..., 3] = nuclei
    assert segment(image).num_cells == 2


# --- stitching -----------------------------------------------------------------------------


def test_stitching_follows_the_best_overlap():
    planes = np.zeros((3, 10, 20), np.uint16)
    planes[0, 2:8, 2:8] = 5  # one cell ...
    planes[1, 2:8, 3:9] = 1  # ... moved one pixel: IoU 30/42
    planes[1, 2:8, 10:12] = 2  # new in plane 1
    planes[2, 2:8, 3:6] = 4  # plane 2: split in two halves
    planes[2, 2:8, 6:9] = 3
    stitched = stitch_planes(planes, 0.2)
    assert stitched.dtype == np.uint16
    assert stitched[0, 4, 4] == stitched[1, 4, 4] == 1
    assert stitched[1, 4, 10] == 2
    # Both halves have IoU 0.5 with label 1: a tie, so both keep it, as in Cellpose.
    assert stitched[2, 4, 4] == stitched[2, 4, 7] == 1
    strict = stitch_planes(planes, 0.75)  # no IoU reaches 0.75: every cell is new
    assert len(np.unique(strict)) - 1 == 5


def test_stitching_gives_each_previous_label_to_its_best_match_only():
    planes = np.zeros((2, 10, 20), np.uint16)
    planes[0, 2:8, 2:10] = 1
    planes[1, 2:8, 2:7] = 1  # IoU 30/48
    planes[1, 2:8, 7:10] = 2  # IoU 18/48: also above the threshold, but not the best
    stitched = stitch_planes(planes, 0.25)
    assert stitched[1, 4, 3] == stitched[0, 4, 3] == 1
    assert stitched[1, 4, 8] == 2


def test_stitching_never_reuses_a_label_across_an_empty_plane():
    planes = np.zeros((3, 8, 8), np.uint16)
    planes[0, 1:4, 1:4] = 1
    planes[2, 5:8, 5:8] = 1
    stitched = stitch_planes(planes, 0.5)
    assert stitched[0, 2, 2] == 1
    assert stitched[2, 6, 6] == 2


def random_planes(rng: np.random.Generator) -> np.ndarray:
    z, y, x = rng.integers(2, 8), rng.integers(8, 32), rng.integers(8, 32)
    sigma = (0, rng.uniform(0.5, 3), rng.uniform(0.5, 3))
    field = ndi.gaussian_filter(rng.random((z, y, x)), sigma)
    cut = rng.uniform(0.3, 0.8)
    return np.stack([ndi.label(p > np.quantile(p, cut))[0] for p in field]).astype(np.uint16)


@pytest.mark.slow  # imports cellpose, and with it torch
def test_stitching_matches_cellpose_on_random_stacks():
    from cellpose.utils import stitch3D

    rng = np.random.default_rng(0)
    for _ in range(200):
        planes, threshold = random_planes(rng), float(rng.choice([0.01, 0.25, 0.5, 0.75, 1.0]))
        assert same_objects(stitch_planes(planes, threshold), stitch3D(planes.copy(), threshold))


@pytest.mark.slow  # imports cellpose, and with it torch
def test_stitching_matches_cellpose_on_real_planes(real_stack):
    from cellpose.utils import stitch3D

    image, truth = real_stack
    truth_planes = np.stack([ndi.label(plane)[0] for plane in truth]).astype(np.uint16)
    ours = segment(image, stitch_threshold=0.5, min_size=0)
    engine_planes = np.stack([ndi.label(plane)[0] for plane in ours.masks]).astype(np.uint16)
    for planes in (truth_planes, engine_planes):
        for threshold in (0.1, 0.25, 0.5, 0.9):
            theirs = stitch3D(planes.copy(), threshold)
            assert same_objects(stitch_planes(planes, threshold), theirs)


def test_stitched_real_stack(real_stack):
    image, truth = real_stack
    result = segment(image, stitch_threshold=0.5)
    assert result.masks.shape == image.shape
    assert result.flows.shape == (3, *image.shape)
    assert result.flows.dtype == np.float32
    assert_consecutive(result.masks)
    assert result.num_cells >= 20
    # Measured 0.16: nuclei here touch along Z, which stitching by IoU cannot split (the true
    # 2D labels, stitched the same way, score 0.18).
    assert ap50(truth, result.masks) > 0.08
    # Stitched objects, not planes, are what min_size counts.
    sizes = np.bincount(segment(image, stitch_threshold=0.5, min_size=300).masks.ravel())[1:]
    assert sizes.size
    assert sizes.min() >= 300


def test_stitched_flows_are_the_planes_2d_flows():
    stack = spheres([(16, 32, 32)], radius=12)
    result = segment(stack, stitch_threshold=0.5)
    assert result.num_cells == 1
    dy, dx, _ = result.flows
    assert dy[16, 24, 32] > 0.5
    assert dx[16, 32, 40] < -0.5
