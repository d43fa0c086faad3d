"""Whole-slide images in blocks: plan, windowed reads, emptiness, stitching and metrics."""

import tracemalloc

import numpy as np
import pytest
import tifffile
from PIL import Image
from scipy import ndimage

from predictions.services import blocks, engines, evaluate, measure
from predictions.services.axes import AxesRequest
from predictions.services.images import ImageError, relabel_sequential
from tests.helpers.data import NUCLEI, NUCLEI_DEV, require

# --- plan -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "size", "overlap"),
    [
        ((300, 340), 100, 40),  # not a multiple of the block size
        ((256, 256), 128, 0),  # a multiple, no overlap
        ((50, 70), 256, 32),  # smaller than one block
        ((1, 1), 5, 3),
        ((97, 13), 10, 100),  # overlap larger than the image
    ],
)
def test_plan_covers_the_image_once(shape, size, overlap):
    plan = blocks.plan_blocks(shape, size, overlap)
    covered = np.zeros(shape, int)
    for index, block in enumerate(plan):
        assert block.index == index
        covered[block.core] += 1
        for core, window, extent in zip(block.core, block.window, shape, strict=True):
            assert core.stop - core.start <= size
            assert window.start == max(0, core.start - overlap)
            assert window.stop == min(extent, core.stop + overlap)
        assert block.shape == (
            block.window[0].stop - block.window[0].start,
            block.window[1].stop - block.window[1].start,
        )
    assert (covered == 1).all()
    starts = [(b.core[0].start, b.core[1].start) for b in plan]
    assert starts == sorted(starts)  # row-major
    assert len(plan) == -(-shape[0] // size) * -(-shape[1] // size)


def test_plan_of_an_image_smaller_than_a_block_is_one_block():
    (block,) = blocks.plan_blocks((50, 70), 256, 32)
    assert block.core == block.window == (slice(0, 50), slice(0, 70))


@pytest.mark.parametrize(
    ("shape", "size", "overlap", "message"),
    [
        ((100, 100), 64, -1, "overlap must be >= 0"),
        ((100, 100), 0, 8, "block_size must be > 0"),
        ((100, 100), -3, 8, "block_size must be > 0"),
        ((100, 100), 64.5, 8, "block_size must be a whole number"),
        ((100, 100), None, 8, "block_size must be a whole number"),
        ((100, 100), 64, None, "overlap must be a whole number"),
        ((0, 100), 64, 8, "shape must be two positive sizes"),
        ((100,), 64, 8, "shape must be two positive sizes"),
    ],
)
def test_plan_refuses_bad_arguments(shape, size, overlap, message):
    with pytest.raises(ValueError, match=message):
        blocks.plan_blocks(shape, size, overlap)


# --- windowed reads -------------------------------------------------------------------------

WINDOWS = [
    (slice(0, 300), slice(0, 500)),
    (slice(37, 141), slice(60, 333)),
    (slice(250, 300), slice(451, 500)),
    (slice(5, 6), slice(7, 8)),
]


def _write_tiffs(directory):
    """name -> (path, the full array channel-last)."""
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 255, (300, 500), np.uint8)
    rgb = rng.integers(0, 255, (300, 500, 3), np.uint8)
    cyx = rng.integers(0, 60000, (2, 300, 500), np.uint16)
    files = {}

    def add(name, full, **kwargs):
        path = directory / name
        tifffile.imwrite(path, kwargs.pop("data", full), **kwargs)
        files[name] = (path, full)

    add("striped.tif", gray, rowsperstrip=16)
    add("tiled.tif", gray, tile=(64, 64), compression="zlib")
    add("bigtiff.tif", gray, tile=(64, 64), bigtiff=True)
    add("rgb.tif", rgb, photometric="rgb", tile=(64, 64))
    add("planar.tif", rgb, data=np.moveaxis(rgb, -1, 0), photometric="rgb", planarconfig="separate")
    add("cyx.ome.tif", np.moveaxis(cyx, 0, -1), data=cyx, metadata={"axes": "CYX"}, tile=(64, 64))
    add("yx.ome.tif", gray, metadata={"axes": "YX"})
    add("imagej.tif", np.moveaxis(cyx, 0, -1), data=cyx, imagej=True, metadata={"axes": "CYX"})
    return files


@pytest.fixture(scope="module")
def tiffs(tmp_path_factory):
    return _write_tiffs(tmp_path_factory.mktemp("tiffs"))


@pytest.mark.parametrize(
    "name",
    [
        "striped.tif",
        "tiled.tif",
        "bigtiff.tif",
        "rgb.tif",
        "planar.tif",
        "cyx.ome.tif",
        "yx.ome.tif",
        "imagej.tif",
    ],
)
@pytest.mark.parametrize("window", WINDOWS)
def test_read_window_is_pixel_exact(tiffs, name, window):
    path, full = tiffs[name]
    data = blocks.read_window(path, window)
    assert data.dtype == full.dtype
    np.testing.assert_array_equal(data, full[window])


def test_read_window_reads_pyramid_levels(tmp_path):
    image = np.random.default_rng(1).integers(0, 65535, (600, 1000), np.uint16)
    path = tmp_path / "pyramid.ome.tif"
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        tif.write(image, tile=(128, 128), subifds=2, metadata={"axes": "YX"})
        tif.write(image[::2, ::2], tile=(128, 128), subfiletype=1)
        tif.write(image[::4, ::4], tile=(128, 128), subfiletype=1)
    window = (slice(33, 140), slice(101, 230))
    for level, step in enumerate((1, 2, 4)):
        got = blocks.read_window(path, window, level=level)
        np.testing.assert_array_equal(got, image[::step, ::step][window])
    with pytest.raises(ImageError, match="level must be between 0 and 2"):
        blocks.read_window(path, window, level=3)


def test_read_window_refuses_stacks_and_windows_outside(tmp_path):
    path = tmp_path / "stack.tif"
    tifffile.imwrite(
        path, np.zeros((3, 40, 50), np.uint8), photometric="minisblack", metadata={"axes": "ZYX"}
    )
    with pytest.raises(ImageError, match="only 2D images are read in blocks"):
        blocks.read_window(path, (slice(0, 10), slice(0, 10)))
    flat = tmp_path / "flat.tif"
    tifffile.imwrite(flat, np.zeros((40, 50), np.uint8))
    with pytest.raises(ValueError, match="not a non-empty range"):
        blocks.read_window(flat, (slice(0, 41), slice(0, 10)))
    with pytest.raises(ImageError, match="series must be between"):
        blocks.read_window(flat, (slice(0, 10), slice(0, 10)), AxesRequest(series=1))


def test_read_window_reads_as_the_job_does(tmp_path):
    """The T plane, the channel axis and the series a job asked for, as the whole-image path."""
    rng = np.random.default_rng(3)
    series = rng.integers(0, 255, (4, 60, 70), np.uint8)
    path = tmp_path / "time.tif"
    tifffile.imwrite(path, series, metadata={"axes": "TYX"})
    window = (slice(5, 40), slice(10, 66))
    got = blocks.read_window(path, window, AxesRequest(t_index=2))
    np.testing.assert_array_equal(got, series[2][window])
    unknown = tmp_path / "unknown.tif"
    channels = rng.integers(0, 255, (60, 70, 2), np.uint8)
    tifffile.imwrite(unknown, np.moveaxis(channels, -1, 0), photometric="minisblack")
    got = blocks.read_window(unknown, window, AxesRequest(channel_axis=0))
    np.testing.assert_array_equal(got, channels[window])
    two = tmp_path / "two.ome.tif"
    with tifffile.TiffWriter(two) as tif:
        tif.write(series[0], metadata={"axes": "YX"})
        tif.write(series[3], metadata={"axes": "YX"})
    got = blocks.read_window(two, window, AxesRequest(series=1))
    np.testing.assert_array_equal(got, series[3][window])


def _pattern(rows, cols):
    return ((rows * 3 + cols * 5 + rows // 256 * 7) % 256).astype(np.uint8)


def test_read_window_memory_is_bounded_by_the_window(tmp_path):
    side, tile = 8192, 256
    path = tmp_path / "large.tif"

    def tiles():
        for top in range(0, side, tile):
            for left in range(0, side, tile):
                rows, cols = np.mgrid[top : top + tile, left : left + tile]
                yield _pattern(rows, cols)

    tifffile.imwrite(
        path,
        tiles(),
        shape=(side, side),
        dtype=np.uint8,
        tile=(tile, tile),
        compression="zlib",
        bigtiff=True,
    )
    window = (slice(4000, 4256), slice(5000, 5256))  # straddles four tiles
    blocks.read_window(path, (slice(0, 8), slice(0, 8)))  # imports and caches out of the count
    tracemalloc.start()
    try:
        data = blocks.read_window(path, window)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rows, cols = np.mgrid[window]
    np.testing.assert_array_equal(data, _pattern(rows, cols))
    full = side * side
    assert peak < full / 32, f"peak {peak / 2**20:.1f} MiB for a 64 MiB image"


# --- foreground -----------------------------------------------------------------------------


def test_flat_blocks_have_no_foreground():
    assert not blocks.has_foreground(np.zeros((300, 300), np.uint8))
    assert not blocks.has_foreground(np.full((256, 256), 60000, np.uint16))
    assert not blocks.has_foreground(np.full((256, 256, 3), 240, np.uint8))  # white glass
    assert not blocks.has_foreground(np.full((100, 120), 0.37, np.float32))
    rng = np.random.default_rng(0)
    noise = rng.normal(100, 5, (384, 384))
    assert not blocks.has_foreground(noise.astype(np.uint16))
    assert not blocks.has_foreground(noise * 1e-3 + 7)  # scale-free: the same noise, rescaled
    assert not blocks.has_foreground(np.zeros((0, 10)))


def test_a_small_nucleus_makes_a_block_foreground():
    rows, cols = np.mgrid[:384, :384]
    image = np.random.default_rng(1).normal(100, 5, (384, 384))
    image[(rows - 190) ** 2 + (cols - 150) ** 2 <= 16] += 20  # radius 4, 4 noise sigmas
    assert blocks.has_foreground(image.astype(np.uint16))
    assert blocks.has_foreground(image * 1e-3 + 7)
    flat = np.zeros((200, 200), np.uint8)
    flat[50:55, 60:65] = 30
    assert blocks.has_foreground(flat)
    flat[50:55, 60:65] = 1  # one grey level: still a nucleus, in a binary image
    assert blocks.has_foreground(flat)
    rgba = np.zeros((200, 200, 4), np.uint8)
    rgba[..., 3] = 255  # a constant alpha counts for nothing...
    assert not blocks.has_foreground(rgba)
    rgba[80:90, 80:90, 1] = 100  # ...a nucleus in one channel does
    assert blocks.has_foreground(rgba)


def _real_images():
    images = []
    for path in sorted(require(NUCLEI_DEV).glob("*.png")):
        image = np.asarray(Image.open(path))[..., :3]
        images.append(
            (path.stem, image, tifffile.imread(path.with_name(f"{path.stem}_labels.tif")))
        )
    stardist = require(NUCLEI / "stardist_img2d.tif")
    images.append(
        ("stardist", tifffile.imread(stardist), tifffile.imread(NUCLEI / "stardist_mask2d.tif"))
    )
    return images


def test_every_real_block_with_nuclei_has_foreground():
    checked = 0
    for name, image, truth in _real_images():
        assert blocks.has_foreground(image), name
        for size in (64, 128):
            for block in blocks.plan_blocks(image.shape[:2], size, 32):
                if truth[block.core].any():
                    checked += 1
                    assert blocks.has_foreground(image[block.window]), (name, block)
    assert checked > 800


# --- stitching: a deterministic engine ------------------------------------------------------


def _threshold_engine(image):
    return ndimage.label(image > 0.5)[0]


def _discs(shape, centres, radius):
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    image = np.zeros(shape, np.float32)
    for r, c in centres:
        image[(rows - r) ** 2 + (cols - c) ** 2 <= radius**2] = 1.0
    return image


def _stitched(image, size, overlap, engine=_threshold_engine, out=None, skip_flat=False):
    plan = blocks.plan_blocks(image.shape[:2], size, overlap)

    def load(index):
        window = image[plan[index].window]
        if skip_flat and not blocks.has_foreground(window):
            return None
        return engine(window)

    masks = np.zeros(image.shape[:2], np.uint32) if out is None else out
    return plan, blocks.stitch(plan, load, masks), masks


def _assert_one_to_one(expected, got):
    """Same foreground, and each expected label maps to exactly one label and back."""
    np.testing.assert_array_equal(expected > 0, got > 0)
    pairs = np.unique(np.stack([expected[got > 0], got[got > 0]]), axis=1)
    assert pairs.shape[1] == len(np.unique(expected)) - 1 == len(np.unique(got)) - 1


def _assert_labels_are_1_to_n(masks, result):
    assert np.array_equal(np.unique(masks), np.arange(result.num_cells + 1))
    assert result.block.shape == result.local_id.shape == (result.num_cells,)


@pytest.mark.parametrize("offset", [0, 7, 12])
def test_cells_across_block_edges_and_corners_come_out_whole(offset):
    """Discs on a 25-pixel grid: with offset 0 many centroids lie exactly on core boundaries,
    some on four-block corners; each comes out as one label, as the whole-image labelling."""
    shape = (300, 340)
    centres = [(r, c) for r in range(offset, 300, 25) for c in range(offset, 340, 25)]
    image = _discs(shape, centres, 9)
    plan, result, masks = _stitched(image, 100, 40)
    _assert_labels_are_1_to_n(masks, result)
    _assert_one_to_one(_threshold_engine(image), masks)
    assert result.duplicates == 0
    assert not result.renumbered
    if offset == 0:
        # Centroid exactly on the corner of four cores: the block below and to the right owns it.
        label = masks[100, 100]
        (owner,) = [b for b in plan if b.core[0].start == 100 and b.core[1].start == 100]
        assert result.block[label - 1] == owner.index
        assert result.labels_of_block(owner.index).tolist().count(label) == 1


def test_a_long_cell_across_a_four_block_corner():
    image = np.zeros((200, 200), np.float32)
    rows, cols = np.mgrid[:200, :200]
    image[((rows - 98) / 30.0) ** 2 + ((cols - 103) / 8.0) ** 2 <= 1] = 1  # crosses 4 cores
    image[70:131, :5] = 1  # along the image border, which is no cut, across two cores
    _, result, masks = _stitched(image, 100, 40)
    _assert_labels_are_1_to_n(masks, result)
    _assert_one_to_one(_threshold_engine(image), masks)
    assert result.num_cells == 2


def test_a_cell_longer_than_the_overlap_allows_is_lost():
    """The documented limit: a cell no window holds whole is cut in every block, and dropped."""
    image = _discs((200, 200), [(50, 150)], 8)
    image[:, 40:46] = 1  # 200 rows tall; windows are 140
    _, result, masks = _stitched(image, 100, 40)
    assert result.num_cells == 1
    assert masks[:, 40:46].max() == 0


def test_labels_are_numbered_in_block_order_then_local_order():
    image = _discs((200, 200), [(30, 30), (60, 60), (30, 150), (150, 40), (150, 160)], 8)
    plan, result, masks = _stitched(image, 100, 40)
    assert result.block.tolist() == [0, 0, 1, 2, 3]
    assert (masks[30, 30], masks[60, 60], masks[150, 160]) == (1, 2, 5)
    for label, (block, local) in enumerate(zip(result.block, result.local_id, strict=True), 1):
        window_labels = _threshold_engine(image[plan[block].window])
        assert np.array_equal(window_labels == local, masks[plan[block].window] == label)


def test_empty_blocks_are_skipped_without_changing_the_result():
    image = _discs((300, 400), [(50, 50), (100, 99), (250, 120)], 9)  # nothing right of x=130
    _, full, masks_full = _stitched(image, 100, 40)
    _, skipping, masks = _stitched(image, 100, 40, skip_flat=True)
    assert len(skipping.skipped) == 6
    assert skipping.num_cells == full.num_cells == 3
    np.testing.assert_array_equal(masks, masks_full)


def test_stitch_into_a_memory_mapped_npy(tmp_path):
    centres = [(r, c) for r in range(10, 300, 30) for c in range(10, 260, 30)]
    image = _discs((300, 260), centres, 8)
    path = tmp_path / "masks.npy"
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint32, shape=image.shape)
    _, result, masks = _stitched(image, 64, 32, out=out)
    out.flush()
    del out, masks
    loaded = np.load(path)
    assert loaded.dtype == np.uint32
    assert loaded.shape == image.shape
    _assert_labels_are_1_to_n(loaded, result)
    _assert_one_to_one(_threshold_engine(image), loaded)
    assert result.dtype == np.uint16  # the narrowest dtype of the result, for exports


def test_stitching_memory_is_bounded_by_a_block(tmp_path):
    """A 3072x3072 image of 16,384 discs, stitched into a memory-mapped file: the traced peak
    (the memmap's pages are not traced) stays a few windows, far below the image's labels."""
    side, spacing, radius = 3072, 24, 8
    plan = blocks.plan_blocks((side, side), 384, 32)

    def load(index):  # discs on a grid, drawn from the window's coordinates alone
        rows, cols = np.ogrid[plan[index].window]
        dr, dc = (
            (rows + spacing // 2) % spacing - spacing // 2,
            (cols + spacing // 2) % spacing - spacing // 2,
        )
        return ndimage.label(dr**2 + dc**2 <= radius**2)[0]

    out = np.lib.format.open_memmap(
        tmp_path / "masks.npy", mode="w+", dtype=np.uint32, shape=(side, side)
    )
    load(0)
    tracemalloc.start()
    try:
        result = blocks.stitch(plan, load, out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.num_cells == (side // spacing + 1) ** 2
    assert int(out.max()) == result.num_cells
    window = max(b.shape[0] * b.shape[1] for b in plan)
    assert peak < 40 * window, f"peak {peak / 2**20:.1f} MiB"
    assert peak < out.nbytes / 4


def test_stitch_checks_its_inputs():
    plan = blocks.plan_blocks((100, 100), 50, 10)
    with pytest.raises(ValueError, match="unsigned integer dtype"):
        blocks.stitch(plan, lambda i: None, np.zeros((100, 100), np.int32))
    with pytest.raises(ValueError, match="do not tile"):
        blocks.stitch(plan, lambda i: None, np.zeros((100, 101), np.uint32))
    with pytest.raises(ValueError, match="its window is"):
        blocks.stitch(plan, lambda i: np.zeros((5, 5), np.uint8), np.zeros((100, 100), np.uint32))
    centres = [(r, c) for r in range(4, 200, 9) for c in range(4, 200, 9)]  # 484 cells
    with pytest.raises(ValueError, match="uint8 cannot hold"):
        _stitched(_discs((200, 200), centres, 3), 50, 10, out=np.zeros((200, 200), np.uint8))


def test_owned_cells_drops_cut_cells_and_keeps_those_centred_in_the_core():
    plan = blocks.plan_blocks((200, 200), 100, 40)
    block = plan[0]  # window rows and columns 0..140
    labels = np.zeros(block.shape, np.uint16)
    labels[130:140, 10:20] = 1  # touches the bottom window edge, inside the image: cut
    labels[0:10, 10:20] = 2  # touches the top edge, an image border: kept
    labels[95:115, 50:60] = 3  # centroid row 104.5, outside the core
    labels[90:105, 50:60] = 4  # centroid row 97, in the core
    labels[20:30, 20:30] = 7
    assert blocks.owned_cells(labels, block, (200, 200)).tolist() == [2, 4, 7]
    # The same labels seen in an image that ends with the window: the bottom edge is a border.
    alone = blocks.plan_blocks((140, 140), 140, 40)[0]
    assert blocks.owned_cells(labels, alone, (140, 140)).tolist() == [1, 2, 3, 4, 7]


# --- stitching: inconsistent blocks ---------------------------------------------------------


def _disc(shape, centre, radius):
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    return (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius**2


def _hand_made(plan, cells):
    """Block labels from ``{block: [(mask in image coordinates), ...]}``, local ids 1, 2, ..."""

    def load(index):
        block = plan[index]
        labels = np.zeros(block.shape, np.uint16)
        for local, mask in enumerate(cells.get(index, []), 1):
            labels[mask[block.window]] = local
        return labels

    return load


@pytest.mark.parametrize(
    ("upper", "lower", "winner"),
    [
        (98, 102, 2),  # the lower block's copy is better centred: it replaces the upper's
        (97, 101, 0),  # the upper block's copy is better centred: the lower's is dropped
    ],
)
def test_a_cell_two_blocks_both_own_comes_out_once(upper, lower, winner):
    shape = (200, 200)
    plan = blocks.plan_blocks(shape, 100, 40)
    first = _disc(shape, (upper, 50), 8)
    second = _disc(shape, (lower, 50), 8)
    other = _disc(shape, (150, 150), 8)
    load = _hand_made(plan, {0: [first], 2: [second], 3: [other]})
    masks = np.zeros(shape, np.uint32)
    result = blocks.stitch(plan, load, masks)
    _assert_labels_are_1_to_n(masks, result)
    assert result.num_cells == 2
    assert result.duplicates == 1
    assert result.block.tolist() == [winner, 3]
    np.testing.assert_array_equal(masks == 1, first if winner == 0 else second)
    assert not result.renumbered


def test_a_cell_split_in_one_block_and_whole_in_another():
    """Block 0 splits a cell in two halves; block 2 sees it whole and better centred: the whole
    cell replaces both halves and the label left unused is closed up."""
    shape = (200, 200)
    plan = blocks.plan_blocks(shape, 100, 40)
    whole = _disc(shape, (103, 50), 9)
    seen_by_0 = _disc(shape, (97, 50), 9)
    cols = np.arange(200)[None, :]
    load = _hand_made(
        plan,
        {
            0: [_disc(shape, (20, 20), 6), seen_by_0 & (cols < 50), seen_by_0 & (cols >= 50)],
            1: [_disc(shape, (30, 150), 6)],
            2: [whole],
            3: [_disc(shape, (150, 150), 6)],
        },
    )
    masks = np.zeros(shape, np.uint32)
    result = blocks.stitch(plan, load, masks)
    _assert_labels_are_1_to_n(masks, result)
    assert result.renumbered
    assert result.num_cells == 4
    assert result.block.tolist() == [0, 2, 1, 3]
    np.testing.assert_array_equal(masks == 2, whole)
    assert result.duplicates == 2


def test_where_two_different_cells_overlap_the_earlier_keeps_the_pixels():
    shape = (200, 200)
    plan = blocks.plan_blocks(shape, 100, 40)
    upper, lower = _disc(shape, (92, 50), 8), _disc(shape, (106, 50), 8)
    assert (upper & lower).sum() > 0
    masks = np.zeros(shape, np.uint32)
    result = blocks.stitch(plan, _hand_made(plan, {0: [upper], 2: [lower]}), masks)
    assert result.num_cells == 2
    assert result.duplicates == 0
    np.testing.assert_array_equal(masks == 1, upper)
    np.testing.assert_array_equal(masks == 2, lower & ~upper)


# --- metrics --------------------------------------------------------------------------------


def _assert_tables_equal(got, expected):
    assert set(got) == set(expected)
    for name, column in expected.items():
        if name in measure.INTEGER_FIELDS:
            np.testing.assert_array_equal(got[name], column, err_msg=name)
        else:
            np.testing.assert_allclose(got[name], column, rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("pixel_size_um", [None, 0.325])
def test_block_metrics_equal_whole_image_metrics(pixel_size_um):
    rng = np.random.default_rng(4)
    shape = (310, 290)
    image = np.zeros(shape, np.float32)
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    for r in range(12, 300, 28):
        for c in range(12, 290, 28):
            a, b, angle = rng.uniform(3, 11), rng.uniform(3, 11), rng.uniform(0, np.pi)
            dr, dc = rows - r, cols - c
            u = dr * np.cos(angle) + dc * np.sin(angle)
            v = -dr * np.sin(angle) + dc * np.cos(angle)
            image[(u / a) ** 2 + (v / b) ** 2 <= 1] = 1
    image[200:206, 0:20] = 1  # on the image border
    _, result, masks = _stitched(image, 96, 32)
    table = blocks.measure_blocks(result, masks, pixel_size_um=pixel_size_um)
    _assert_tables_equal(table, measure.measure_cells(masks, pixel_size_um=pixel_size_um))
    assert table["cell_id"].tolist() == list(range(1, result.num_cells + 1))


def test_block_metrics_of_no_cells():
    _, result, masks = _stitched(np.zeros((64, 64), np.float32), 32, 8)
    table = blocks.measure_blocks(result, masks)
    assert result.num_cells == 0
    assert set(measure.INDIVIDUAL_FIELDS) <= set(table)
    assert all(len(column) == 0 for column in table.values())


# --- real data ------------------------------------------------------------------------------


def _mosaic(image, truth, copies=2):
    """``copies`` x ``copies`` tiles of the image; the truth's labels distinct in each tile."""
    truth = relabel_sequential(truth).astype(np.int64)
    n = int(truth.max())
    rows = [
        [np.where(truth > 0, truth + (i * copies + j) * n, 0) for j in range(copies)]
        for i in range(copies)
    ]
    reps = (copies, copies) + (1,) * (image.ndim - 2)
    return np.tile(image, reps), np.block(rows)


def _seam_cells(truth, plan):
    """Ground-truth labels whose bounding box crosses a core boundary."""
    rows = {b.core[0].start for b in plan} - {0}
    cols = {b.core[1].start for b in plan} - {0}
    crossing = []
    for label, box in enumerate(ndimage.find_objects(truth), 1):
        if box is not None and (
            any(box[0].start < r < box[0].stop for r in rows)
            or any(box[1].start < c < box[1].stop for c in cols)
        ):
            crossing.append(label)
    return np.array(crossing, np.int64)


def _covering(truth, pred):
    """Per ground-truth label (index label - 1): the predicted labels covering >= 10% of it."""
    ov = evaluate.overlaps(truth, pred)
    big = ov.intersection >= 0.1 * ov.true_areas[ov.true_index]
    pred_ids = np.unique(pred)
    pred_ids = pred_ids[pred_ids > 0]
    return ov.true_index[big], pred_ids[ov.pred_index[big]]


def _segment_mosaic(image, truth, size, overlap):
    engine = engines.get_engine("watershed")
    params = engines.SegmentationParams()
    whole = engine.segment(image, params).masks
    plan = blocks.plan_blocks(image.shape[:2], size, overlap)
    segmented = {}

    def load(index):
        window = image[plan[index].window]
        if not blocks.has_foreground(window):
            return None
        segmented[index] = engine.segment(window, params).masks
        return segmented[index]

    masks = np.zeros(image.shape[:2], np.uint32)
    result = blocks.stitch(plan, load, masks)
    _assert_labels_are_1_to_n(masks, result)
    seam = _seam_cells(truth, plan)
    counts = {}
    for name, pred in (("whole", whole), ("stitched", masks)):
        true_index, labels = _covering(truth, pred)
        per_cell = np.bincount(true_index, minlength=int(truth.max()))
        counts[name] = int((per_cell[seam - 1] >= 2).sum())
    # A split the stitching made: a seam cell in pieces from different blocks, though some block
    # that holds it whole in its window segmented it as one cell. (When every block that sees
    # it splits it, the engine split it, as it may split any cell.)
    true_index, labels = _covering(truth, masks)
    boxes = ndimage.find_objects(truth)
    made = 0
    for label in seam:
        pieces = labels[true_index == label - 1]
        if len(set(result.block[pieces - 1].tolist())) < 2:
            continue
        cell = truth == label
        for block in plan:
            box = boxes[label - 1]
            inside = all(
                w.start <= b.start and b.stop <= w.stop
                for w, b in zip(block.window, box, strict=True)
            )
            if inside and block.index in segmented:
                _, covering = _covering(cell[block.window], segmented[block.index])
                if covering.size == 1:
                    made += 1
                    break
    ap = {
        name: evaluate.evaluate(truth, pred)["average_precision"]["0.5"]
        for name, pred in (("whole", whole), ("stitched", masks))
    }
    return {
        "plan": plan,
        "result": result,
        "masks": masks,
        "seam_cells": seam.size,
        "split": counts,
        "split_by_stitching": made,
        "ap": ap,
    }


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("stardist", 384),  # 1024x1024 uint16 fluorescence, 3x3 blocks
        ("1d9eacb3161f", 256),  # 1048x696 RGB, 5x3 blocks
    ],
)
def test_real_mosaic_stitched_as_well_as_segmented_whole(name, size):
    if name == "stardist":
        image = tifffile.imread(require(NUCLEI / "stardist_img2d.tif"))
        truth = tifffile.imread(NUCLEI / "stardist_mask2d.tif")
    else:
        path = require(NUCLEI_DEV / f"{name}.png")
        image = np.asarray(Image.open(path))[..., :3]
        truth = tifffile.imread(path.with_name(f"{name}_labels.tif"))
    mosaic, mosaic_truth = _mosaic(image, truth)
    # Overlap 60: over twice the largest nucleus's diameter (about 31 pixels) in these images.
    run = _segment_mosaic(mosaic, mosaic_truth, size, 60)
    assert run["seam_cells"] >= 30
    assert run["split_by_stitching"] == 0
    # Each block is segmented on its own (its own normalisation and diameter estimate), so the
    # engine splits a few cells differently from the whole image, either way; the seams add none.
    assert run["split"]["stitched"] <= run["split"]["whole"] + max(1, run["seam_cells"] // 20)
    assert run["ap"]["stitched"] >= run["ap"]["whole"] - 0.03
    table = blocks.measure_blocks(run["result"], run["masks"], pixel_size_um=0.5)
    _assert_tables_equal(table, measure.measure_cells(run["masks"], pixel_size_um=0.5))
