"""Area resizing and colormaps, without Django."""

import io

import matplotlib
import numpy as np
import pytest
from PIL import Image

from depth_images.services import colormaps, depths, resize


def test_area_matrix_averages_each_output_pixels_footprint():
    matrix = resize.area_matrix(4, 3)
    # Output pixel 0 covers input [0, 4/3): all of pixel 0 and a third of pixel 1.
    assert np.allclose(matrix[:, 0], [0.75, 0.25, 0, 0])
    assert np.allclose(matrix[:, 1], [0, 0.5, 0.5, 0])
    assert np.allclose(resize.area_matrix(200, 150).sum(axis=0), 1.0)


def test_resize_keeps_constants_and_the_mean():
    rows = np.random.default_rng(0).uniform(13, 237, (64, 200))
    resized = resize.resize_rows(rows)
    assert resized.shape == (64, 150)
    assert resized.dtype == np.uint8
    assert np.array_equal(resize.resize_rows(np.full((2, 200), 77.0)), np.full((2, 150), 77))
    assert np.allclose(resized.mean(axis=1), rows.mean(axis=1), atol=0.6)
    assert resized.min() >= np.floor(rows.min())
    assert resized.max() <= np.ceil(rows.max())


def test_resize_equals_opencv_inter_area():
    cv2 = pytest.importorskip("cv2")
    rows = np.random.default_rng(1).uniform(0, 255, (100, 200)).astype(np.float32)
    expected = np.rint(cv2.resize(rows, (150, 100), interpolation=cv2.INTER_AREA))
    assert np.array_equal(resize.resize_rows(rows), expected.astype(np.uint8))


def test_range_keys_are_inclusive_and_exact():
    assert depths.range_keys(9000.1, 9000.3) == (9_000_100, 9_000_300)
    assert depths.range_keys(9000.05, 9000.15) == (9_000_050, 9_000_150)
    keys, ok = depths.to_keys(np.array([9000.1, 0.1 + 0.2, 1.00049, np.nan]))
    assert keys[:2].tolist() == [9_000_100, 300]
    assert ok.tolist() == [True, True, False, False]


@pytest.mark.parametrize("name", ["viridis", "gray", "copper", "YlOrBr_r", "turbo"])
def test_lookup_table_gives_matplotlibs_colors(name):
    values = np.arange(256, dtype=np.uint8)[None, :]
    cmap = colormaps.resolve(name)
    ours = colormaps.colorize(values, colormaps.lookup_table(cmap))
    theirs = matplotlib.colormaps[name](values / 255.0, bytes=True)[..., :3]
    assert np.array_equal(ours, theirs)


def test_vmin_vmax_stretch_and_clip():
    table = colormaps.lookup_table(colormaps.resolve("gray"), vmin=50, vmax=150)
    assert table[:51].tolist() == [[0, 0, 0]] * 51
    assert table[150:].tolist() == [[255, 255, 255]] * 106
    assert 120 < table[100][0] < 135


def test_custom_colors_interpolate_between_the_given_colors():
    cmap = colormaps.resolve(colors=["000000", "#8b4513", "white"])
    table = colormaps.lookup_table(cmap)
    assert table[0].tolist() == [0, 0, 0]
    assert table[255].tolist() == [255, 255, 255]
    assert np.abs(table[128].astype(int) - [0x8B, 0x45, 0x13]).max() <= 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "nope"}, "unknown colormap 'nope'"),
        ({"colors": ["red"]}, "at least 2 colors"),
        ({"colors": ["red", "notacolor"]}, "'notacolor' is not a color"),
        ({"name": "gray", "colors": ["red", "blue"]}, "either a colormap name or"),
    ],
)
def test_bad_colormaps_are_refused(kwargs, message):
    with pytest.raises(colormaps.ColormapError, match=message):
        colormaps.resolve(**kwargs)
    with pytest.raises(colormaps.ColormapError, match="must be below"):
        colormaps.lookup_table(colormaps.resolve("gray"), vmin=10, vmax=10)


def test_png_round_trips():
    rgb = np.random.default_rng(2).integers(0, 256, (30, 150, 3), dtype=np.uint8)
    decoded = np.asarray(Image.open(io.BytesIO(colormaps.encode_png(rgb))))
    assert np.array_equal(decoded, rgb)


def test_every_listed_colormap_resolves():
    names = colormaps.available_colormaps()
    assert len(names) > 100
    for name in names:
        colormaps.resolve(name)
