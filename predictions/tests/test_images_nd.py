"""Reading microscopy files as labs have them: channels, z-stacks, OME-TIFF, ImageJ, sizes.

Every file is built from the real nuclei data with tifffile and must read back pixel-exact with
the right axes, channel names and physical size, however it is encoded.
"""

import io

import numpy as np
import pytest
import tifffile
from PIL import Image

from predictions.services import options
from predictions.services.axes import AxesError, AxesRequest
from predictions.services.engines import DEFAULTS
from predictions.services.images import ImageError, decode_labels, read_image, validate_image
from tests.helpers import microscopy as m

LIMITS = {"max_pixels": 10**8, "max_channels": 16}
ENCODINGS = {
    "plain": {},
    "big-endian": {"byteorder": ">"},
    "tiled": {"tile": (32, 32)},
    "lzw": {"compression": "lzw"},
    "zlib": {"compression": "zlib"},
    "bigtiff": {"bigtiff": True},
}


def read(data: bytes, **request):
    return read_image(io.BytesIO(data), request=AxesRequest(**request), **LIMITS)


@pytest.fixture(scope="module")
def two_channel():
    return m.two_channel_nuclei()


@pytest.fixture(scope="module")
def stack():
    return m.two_channel_stack()


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_ome_tiff_reads_back_exactly_with_names_and_sizes(two_channel, encoding):
    image = read(m.ome_tiff(two_channel, **ENCODINGS[encoding]))
    np.testing.assert_array_equal(image.data, two_channel.image)
    assert image.layout.axes == "CYX"
    assert image.channel_names == ("DAPI", "GFP")
    assert image.layout.pixel_size_um == pytest.approx(m.PIXEL_UM)
    assert image.spatial_shape == two_channel.labels.shape


@pytest.mark.parametrize("encoding", ["plain", "big-endian", "tiled", "zlib"])
def test_imagej_hyperstack_reads_back_as_zcyx(stack, encoding):
    image = read(m.imagej_hyperstack(stack, **ENCODINGS[encoding]))
    np.testing.assert_array_equal(image.data, stack.image)
    assert image.layout.axes == "ZCYX"
    assert image.layout.is_stack
    assert image.layout.pixel_size_um == pytest.approx(m.PIXEL_UM)
    assert image.layout.z_step_um == pytest.approx(m.Z_STEP_UM)
    assert image.array.shape == (31, 61, 57, 2)


def test_ome_z_stack_has_its_z_step(stack):
    image = read(m.ome_tiff(stack))
    np.testing.assert_array_equal(image.data, stack.image)
    assert image.layout.z_step_um == pytest.approx(m.Z_STEP_UM)
    assert image.channel_names == ("H2B", "Lamin")


def test_plain_pages_are_ambiguous_until_an_axis_is_named():
    sample = m.nuclei_stack()
    data = m.plain_stack(sample)
    with pytest.raises(ImageError) as caught:
        read(data)
    assert caught.value.param == "channel_axis"
    assert "z_axis=0" in str(caught.value)
    as_stack = read(data, z_axis=0)
    np.testing.assert_array_equal(as_stack.data, sample.image)
    request = AxesRequest(channel_axis=0)
    as_channels = read_image(io.BytesIO(data), request=request, max_pixels=10**8, max_channels=31)
    assert as_channels.data.shape == (1, 61, 57, 31)


def test_channel_axis_overrides_the_metadata(two_channel):
    # Fiji saved the two channels as slices: the metadata says ZYX, the user knows better.
    planes = np.moveaxis(two_channel.image[0], -1, 0)
    data = m._write(planes, imagej=True, metadata={"axes": "ZYX"})
    assert read(data).layout.is_stack
    image = read(data, channel_axis=0)
    assert image.layout.axes == "CYX"
    np.testing.assert_array_equal(image.data, two_channel.image)
    with pytest.raises(ImageError, match="same axis") as caught:
        read(data, channel_axis=0, z_axis=0)
    assert caught.value.param == "z_axis"


def test_physical_size_overrides_win(two_channel):
    image = read(m.ome_tiff(two_channel), pixel_size_um=0.1)
    assert image.layout.pixel_size_um == 0.1


def test_time_series_needs_t_index():
    frames = np.stack([np.full((3, 32, 32), t, np.uint16) for t in range(4)])  # TZYX
    data = m._write(frames, ome=True, metadata={"axes": "TZYX"})
    with pytest.raises(ImageError, match="t_index") as caught:
        read(data)
    assert caught.value.param == "t_index"
    assert int(read(data, t_index=2).data.max()) == 2
    with pytest.raises(ImageError, match="between 0 and 3"):
        read(data, t_index=9)


def test_several_series_need_series():
    buffer = io.BytesIO()
    with tifffile.TiffWriter(buffer, ome=True) as tif:
        tif.write(np.zeros((32, 32), np.uint8))
        tif.write(np.ones((40, 40), np.uint8))
    with pytest.raises(ImageError, match="series") as caught:
        read(buffer.getvalue())
    assert caught.value.param == "series"
    assert read(buffer.getvalue(), series=1).spatial_shape == (40, 40)


def test_a_png_has_only_series_0():
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(buffer, format="PNG")
    assert read(buffer.getvalue(), series=0).spatial_shape == (20, 30)
    with pytest.raises(ImageError, match="series must be 0") as caught:
        read(buffer.getvalue(), series=1)
    assert caught.value.param == "series"


def test_too_many_channels_and_voxels_are_refused():
    data = m._write(np.zeros((20, 16, 16), np.uint8), ome=True, metadata={"axes": "CYX"})
    with pytest.raises(ImageError, match="20 channels, more than the 16"):
        read(data)
    big = m._write(np.zeros((10, 40, 40), np.uint8), ome=True, metadata={"axes": "ZYX"})
    with pytest.raises(ImageError, match="voxels"):
        read_image(io.BytesIO(big), max_pixels=10_000, max_channels=16)


def test_validation_reads_only_the_header_above_the_budget(stack):
    data = m.ome_tiff(stack, tile=(32, 32))
    info = validate_image(io.BytesIO(data), decode_budget=0, **LIMITS)
    assert info.shape == (31, 61, 57, 2)
    assert info.spatial_shape == (31, 61, 57)


def test_label_volumes_match_a_stack(stack):
    volume = m._write(stack.labels.astype(np.uint16), photometric="minisblack", metadata=None)
    labels = decode_labels(io.BytesIO(volume), (31, 61, 57), max_pixels=10**8)
    assert labels.shape == (31, 61, 57)
    assert labels.max() == len(np.unique(stack.labels)) - 1
    with pytest.raises(ImageError, match="z-stack is"):
        decode_labels(io.BytesIO(volume), (30, 61, 57), max_pixels=10**8)
    with pytest.raises(ImageError, match="2D label image"):
        decode_labels(io.BytesIO(volume), (61, 57), max_pixels=10**8)


def resolve(data: bytes, model: str = "cpsam", **given):
    return options.resolve(read(data).layout, model, options.Options(**given), DEFAULTS)


def test_channels_by_name_and_index(two_channel):
    data = m.ome_tiff(two_channel)
    assert resolve(data, channels=("GFP",)).channels == (1,)
    assert resolve(data, channels=(1, 0)).channels == (1, 0)
    assert resolve(data).channels == (0, 1)
    with pytest.raises(AxesError, match="no channel is named 'RFP'") as caught:
        resolve(data, channels=("RFP",))
    assert caught.value.param == "channels"
    with pytest.raises(AxesError, match="more than once"):
        resolve(data, channels=(0, 1, 0))
    four = m.Sample(np.concatenate([two_channel.image] * 2, -1), two_channel.labels, ("a",) * 4)
    with pytest.raises(AxesError, match="at most 3") as caught:
        resolve(m.ome_tiff(four), channels=(0, 1, 2, 3))
    assert caught.value.param == "channels"
    assert resolve(m.ome_tiff(four)).channels == (0, 1, 2)
    assert resolve(m.ome_tiff(four), "watershed").channels == (0, 1, 2, 3)


def test_nuclear_channel_is_for_the_watershed(two_channel):
    data = m.ome_tiff(two_channel)
    assert resolve(data, "watershed", nuclear_channel="DAPI").channels == (0,)
    with pytest.raises(AxesError) as caught:
        resolve(data, "cpsam", nuclear_channel="DAPI")
    assert caught.value.param == "nuclear_channel"


def test_a_stack_defaults_to_3d_with_anisotropy_from_its_sizes(stack):
    data = m.ome_tiff(stack)
    plan = resolve(data)
    assert plan.params.do_3D
    assert plan.params.anisotropy == pytest.approx(m.Z_STEP_UM / m.PIXEL_UM)
    stitched = resolve(data, stitch_threshold=0.3)
    assert not stitched.params.do_3D
    assert stitched.params.stitch_threshold == 0.3
    for given, param in (
        ({"do_3D": False}, "do_3D"),
        ({"do_3D": True, "stitch_threshold": 0.3}, "stitch_threshold"),
    ):
        with pytest.raises(AxesError) as caught:
            resolve(data, **given)
        assert caught.value.param == param


def test_3d_options_on_a_2d_image_are_refused(two_channel):
    with pytest.raises(AxesError, match="applies to z-stacks") as caught:
        resolve(m.ome_tiff(two_channel), do_3D=True)
    assert caught.value.param == "do_3D"
