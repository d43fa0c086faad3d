"""Channels and planes are large-image frames: multichannel inputs, z-stacks and mask volumes.

Jobs are made from the real nuclei data written the ways microscopes and Fiji write it, and
their tiles are built by the build service itself; what large-image serves is compared with
the arrays the files hold.
"""

import io
import json

import numpy as np
import pytest
import tifffile
from PIL import Image

from predictions.services import axes
from predictions.services.labels import CHANNEL_COLORS, label_color_hex
from tests.helpers import microscopy as m
from tiles import viewer
from tiles.models import Layer, TiledImage
from tiles.services import build, pyramid
from tiles.tests.microscopy_jobs import microscopy_job

pytestmark = pytest.mark.django_db


def base(prefix: str, job) -> str:
    return f"/api/v1/tiles/{prefix}/{job.pk}"


def picture(response) -> np.ndarray:
    assert response.status_code == 200, response.content[:300]
    return np.asarray(Image.open(io.BytesIO(response.content)))


def region(client, prefix, job, frame, box) -> np.ndarray:
    left, top, right, bottom = box
    query = {"left": left, "right": right, "top": top, "bottom": bottom, "frame": frame}
    response = client.get(f"{base(prefix, job)}/data/region.tif", query)
    assert response.status_code == 200, response.content[:300]
    return np.squeeze(tifffile.imread(io.BytesIO(response.content)))


def tiled(job, layer) -> TiledImage:
    return TiledImage.objects.get(job=job, layer=layer)


@pytest.fixture(scope="module")
def nuclei2() -> m.Sample:
    return m.two_channel_nuclei()


@pytest.fixture(scope="module")
def stack2() -> m.Sample:
    return m.two_channel_stack()


@pytest.fixture
def channels_job(user, nuclei2):
    return microscopy_job(user, m.ome_tiff(nuclei2), "two.ome.tif", masks=nuclei2.labels)


@pytest.fixture
def stack_job(user, stack2):
    return microscopy_job(user, m.ome_tiff(stack2), "stack.ome.tif", masks=stack2.labels)


# -- input layer --------------------------------------------------------------------------


def test_plain_inputs_stay_plain(large_job, job16):
    for job in (large_job, job16):
        assert set(TiledImage.objects.filter(job=job).values_list("frames", flat=True)) == {1}
    gray = axes.resolve("YX", (10, 20), axes.AxesRequest())
    rgb = axes.resolve("YXS", (10, 20, 3), axes.AxesRequest())
    channels = axes.resolve("CYX", (2, 10, 20), axes.AxesRequest())
    assert build.is_plain(gray)
    assert build.is_plain(rgb)
    assert not build.is_plain(channels)


def test_each_channel_is_a_named_frame(api_client, channels_job, nuclei2):
    assert tiled(channels_job, Layer.INPUT).frames == 2
    meta = api_client.get(f"{base('inputs', channels_job)}/info/metadata").json()
    assert meta["channels"] == ["DAPI", "GFP"]
    assert [(f["Frame"], f["IndexC"]) for f in meta["frames"]] == [(0, 0), (1, 1)]
    assert (meta["sizeX"], meta["sizeY"], meta["levels"]) == (512, 512, 2)  # a pyramid
    assert meta["dtype"] == "uint16"


def test_a_channel_region_is_that_channel_exactly(api_client, channels_job, nuclei2):
    box = (100, 40, 420, 300)  # left, top, right, bottom; across tiles
    for channel in (0, 1):
        np.testing.assert_array_equal(
            region(api_client, "inputs", channels_job, channel, box),
            nuclei2.image[0, 40:300, 100:420, channel],
        )


def test_a_channel_tile_shows_that_channel(api_client, channels_job, nuclei2):
    url = f"{base('inputs', channels_job)}/tiles/1/1/0.png"  # full resolution, x 256..511
    identity = json.dumps({"min": 0, "max": 255})  # DAPI lies within 0..255
    dapi = picture(api_client.get(url, {"frame": 0, "style": identity}))
    expected = nuclei2.image[0, 0:256, 256:512, 0]
    np.testing.assert_array_equal(dapi[..., 0] if dapi.ndim == 3 else dapi, expected)
    gfp = picture(api_client.get(url, {"frame": 1}))
    assert not np.array_equal(gfp, picture(api_client.get(url, {"frame": 0})))
    # the coarse level comes from the file's own reduced level, per frame
    coarse = picture(api_client.get(f"{base('inputs', channels_job)}/tiles/0/0/0.png?frame=1"))
    assert coarse.shape[:2] == (256, 256)


def test_channels_composite_with_a_band_per_frame(api_client, channels_job):
    url = f"{base('inputs', channels_job)}/tiles/1/0/0.png"
    bands = [
        {"frame": 0, "palette": ["#000000", "#ff0000"], "composite": "lighten"},
        {"frame": 1, "palette": ["#000000", "#00ff00"], "composite": "lighten"},
    ]
    both = picture(api_client.get(url, {"style": json.dumps({"bands": bands})}))
    red = picture(api_client.get(url, {"style": json.dumps({"bands": bands[:1]})}))
    assert both[..., 1].max() > 0  # GFP drawn in green
    assert red[..., 1].max() == 0
    assert red[..., 0].max() > 0
    np.testing.assert_array_equal(both[..., 0], red[..., 0])  # the red band is DAPI alone


def test_thumbnail_of_a_frame(api_client, channels_job):
    url = f"{base('inputs', channels_job)}/data/thumbnail.png"
    first, second = (picture(api_client.get(url, {"frame": f, "max_width": 64})) for f in (0, 1))
    assert first.shape[:2] == second.shape[:2] == (64, 64)
    assert not np.array_equal(first, second)


@pytest.mark.parametrize("writer", [m.ome_tiff, m.imagej_hyperstack])
def test_a_stack_is_a_frame_per_plane_and_channel(api_client, user, stack2, writer):
    job = microscopy_job(user, writer(stack2), "stack.tif")
    planes, height, width, channels = stack2.image.shape
    assert tiled(job, Layer.INPUT).frames == planes * channels == 62
    meta = api_client.get(f"{base('inputs', job)}/info/metadata").json()
    assert meta["IndexRange"] == {"IndexZ": planes, "IndexC": channels}
    assert meta["channels"] == job.image_metadata["channel_names"]
    frame = 2 * 17 + 1
    assert (meta["frames"][frame]["IndexZ"], meta["frames"][frame]["IndexC"]) == (17, 1)
    for z, c in ((0, 0), (17, 1), (planes - 1, 0)):
        np.testing.assert_array_equal(
            region(api_client, "inputs", job, z * channels + c, (0, 0, width, height)),
            stack2.image[z, :, :, c],
        )


def test_the_built_stack_is_an_ome_tiff_with_names_and_sizes(stack_job):
    with tifffile.TiffFile(tiled(stack_job, Layer.INPUT).file.path) as tiff:
        series = tiff.series[0]
        assert (series.axes, series.shape) == ("ZCYX", (31, 2, 61, 57))
        assert tiff.is_ome
        xml = tiff.ome_metadata
    for attribute in ('Name="H2B"', 'Name="Lamin"', 'PhysicalSizeX="0.65"', 'PhysicalSizeZ="2.0"'):
        assert attribute in xml


def test_axes_named_by_the_job_make_frames(api_client, user):
    sample = m.nuclei_stack()
    job = microscopy_job(user, m.plain_stack(sample), "pages.tif", z_axis=0)
    assert tiled(job, Layer.INPUT).frames == 31
    meta = api_client.get(f"{base('inputs', job)}/info/metadata").json()
    assert meta["IndexRange"] == {"IndexZ": 31}
    np.testing.assert_array_equal(
        region(api_client, "inputs", job, 30, (0, 0, 57, 61)), sample.image[30, ..., 0]
    )


# -- masks and overlay -----------------------------------------------------------------------


def test_a_mask_volume_is_a_frame_per_plane(api_client, stack_job):
    masks = np.load(stack_job.result_masks.path)
    assert masks.ndim == 3
    row = tiled(stack_job, Layer.MASKS)
    assert (row.frames, row.max_value) == (31, masks.max())
    meta = api_client.get(f"{base('masks', stack_job)}/info/metadata").json()
    assert [f["IndexZ"] for f in meta["frames"]] == list(range(31))
    for z in (0, 15, 30):
        np.testing.assert_array_equal(
            region(api_client, "masks", stack_job, z, (0, 0, 57, 61)), masks[z]
        )


def test_mask_pixel_is_the_label_of_that_plane(api_client, stack_job):
    masks = np.load(stack_job.result_masks.path)
    z, y, x = (int(i) for i in np.argwhere(masks > 0)[len(np.argwhere(masks > 0)) // 2])
    other = next(p for p in range(31) if masks[p, y, x] != masks[z, y, x])
    url = f"{base('masks', stack_job)}/data/pixel"
    assert api_client.get(url, {"left": x, "top": y, "frame": z}).json()["value"] == [
        masks[z, y, x]
    ]
    assert api_client.get(url, {"left": x, "top": y, "frame": other}).json()["value"] == [
        masks[other, y, x]
    ]


def test_mask_plane_tiles_keep_the_label_palette(api_client, stack_job):
    masks = np.load(stack_job.result_masks.path)
    z = 15
    tile = picture(api_client.get(f"{base('masks', stack_job)}/tiles/0/0/0.png", {"frame": z}))
    plane = masks[z]
    visible = tile[: plane.shape[0], : plane.shape[1]]
    assert (visible[..., 3][plane == 0] == 0).all()
    assert (visible[..., 3][plane > 0] == 255).all()
    y, x = np.argwhere(plane > 0)[0]
    colour = label_color_hex(int(plane[y, x]))
    red, green, blue = (int(v) for v in visible[y, x, :3])
    assert f"#{red:02x}{green:02x}{blue:02x}" == colour


def test_2d_masks_and_the_overlay_stay_one_frame(channels_job, stack_job):
    assert tiled(channels_job, Layer.MASKS).frames == 1
    assert tiled(stack_job, Layer.OVERLAY).frames == 1  # the overlay PNG is a projection


# -- bad frames --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "rest", "query"),
    [
        ("inputs", "tiles/0/0/0.png", {"frame": 62}),
        ("inputs", "data/thumbnail.png", {"frame": 99}),
        ("inputs", "data/region.tif", {"frame": 62, "left": 0, "right": 5, "top": 0, "bottom": 5}),
        ("masks", "data/pixel", {"frame": 31, "left": 1, "top": 1}),
        ("masks", "tiles/0/0/0.png", {"frame": 31}),
    ],
)
def test_a_frame_past_the_last_names_frame(api_client, stack_job, prefix, rest, query):
    response = api_client.get(f"{base(prefix, stack_job)}/{rest}", query)
    assert response.status_code == 400, response.content[:300]
    assert "frame" in response.json()
    assert "0 to" in response.json()["frame"][0]


def test_a_band_frame_past_the_last_names_style(api_client, stack_job):
    style = json.dumps({"bands": [{"frame": 0}, {"frame": 62, "palette": ["#000000", "#00ff00"]}]})
    response = api_client.get(f"{base('inputs', stack_job)}/tiles/0/0/0.png", {"style": style})
    assert response.status_code == 400
    assert "style" in response.json()


def test_a_plain_image_has_only_frame_zero(api_client, large_job):
    url = f"{base('inputs', large_job)}/tiles/0/0/0.png"
    assert api_client.get(url, {"frame": 0}).status_code == 200
    response = api_client.get(url, {"frame": 1})
    assert response.status_code == 400
    assert "frame" in response.json()


# -- writing and the viewer ------------------------------------------------------------------


def test_frame_levels_are_subifds_and_labels_stay_real(tmp_path):
    labels = np.zeros((3, 600, 513), np.uint16)
    labels[:, :, 0::2], labels[:, :, 1::2] = 1, 3
    dest = pyramid.write_frames(labels, tmp_path / "l.ome.tiff", axes="ZYX", labels=True)
    with tifffile.TiffFile(dest) as tiff:
        levels = [level.asarray() for level in tiff.series[0].levels]
    assert [level.shape for level in levels] == [(3, 600, 513), (3, 300, 257), (3, 150, 129)]
    np.testing.assert_array_equal(levels[0], labels)
    assert all(set(np.unique(level)) <= {1, 3} for level in levels[1:])


def test_intensity_levels_average_and_keep_the_dtype(tmp_path):
    image = np.arange(2 * 300 * 301, dtype=np.uint16).reshape(2, 300, 301)
    dest = pyramid.write_frames(image, tmp_path / "i.ome.tiff", axes="CYX", labels=False)
    with tifffile.TiffFile(dest) as tiff:
        base_level, half = (level.asarray() for level in tiff.series[0].levels)
    np.testing.assert_array_equal(base_level, image)
    assert half.dtype == np.uint16
    assert half.shape == (2, 150, 151)
    assert half[1, 3, 4] == np.rint(image[1, 6:8, 8:10].mean())


def test_viewer_gets_channels_and_planes_from_the_job(stack_job, large_job):
    layers = {spec["name"]: spec for spec in viewer.job_viewer_context(stack_job)["tile_layers"]}
    channels = layers[Layer.INPUT]["channels"]
    assert [c["name"] for c in channels] == ["H2B", "Lamin"]
    assert [c["color"] for c in channels] == list(CHANNEL_COLORS[:2])
    assert layers[Layer.INPUT]["planes"] == layers[Layer.MASKS]["planes"] == 31
    assert "planes" not in layers[Layer.OVERLAY]
    plain = viewer.job_viewer_context(large_job)["tile_layers"]
    assert not any("channels" in spec or "planes" in spec for spec in plain)
