import io
import zlib

import numpy as np
import pytest
import tifffile
from PIL import Image

from predictions.services.images import ImageError, decode_image, decode_labels, read_image
from tests.helpers.images import png_bytes

# The default limit (CELLSERVE_MAX_IMAGE_PIXELS); services take it as an argument.
MAX_PIXELS = 100_000_000


def tiff_bytes(array, **kwargs) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array, **kwargs)
    return buffer.getvalue()


def test_png_gray_keeps_values(blobs):
    decoded = decode_image(io.BytesIO(png_bytes(blobs)), max_pixels=MAX_PIXELS)
    assert decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, blobs)


def test_png_16bit_keeps_values():
    array = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 15).astype(np.uint16)
    decoded = decode_image(io.BytesIO(png_bytes(array)), max_pixels=MAX_PIXELS)
    assert decoded.dtype == np.uint16
    np.testing.assert_array_equal(decoded, array)


def test_tiff_16bit_keeps_values():
    array = np.random.default_rng(1).integers(0, 65535, (40, 50), dtype=np.uint16)
    np.testing.assert_array_equal(
        decode_image(io.BytesIO(tiff_bytes(array)), max_pixels=MAX_PIXELS), array
    )


def test_rgba_drops_alpha():
    rgba = np.random.default_rng(2).integers(0, 255, (20, 30, 4), dtype=np.uint8)
    decoded = decode_image(io.BytesIO(png_bytes(rgba)), max_pixels=MAX_PIXELS)
    np.testing.assert_array_equal(decoded, rgba[..., :3])


def test_jpeg_decodes_to_rgb():
    buffer = io.BytesIO()
    Image.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(buffer, format="JPEG")
    assert decode_image(buffer, max_pixels=MAX_PIXELS).shape == (16, 16, 3)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"hello, this is text and not an image", "not a PNG, JPEG or TIFF"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "not a PNG, JPEG or TIFF"),
    ],
)
def test_bad_bytes_are_refused_with_a_reason(data, message):
    with pytest.raises(ImageError, match=message):
        decode_image(io.BytesIO(data), max_pixels=MAX_PIXELS)


def test_truncated_png_is_refused(blobs):
    data = png_bytes(blobs)
    with pytest.raises(ImageError, match="truncated or corrupt"):
        decode_image(io.BytesIO(data[: len(data) // 2]), max_pixels=MAX_PIXELS)


def test_truncated_tiff_is_refused():
    data = tiff_bytes(np.ones((200, 200), np.uint16))
    with pytest.raises(ImageError, match="TIFF"):
        decode_image(io.BytesIO(data[: len(data) // 3]), max_pixels=MAX_PIXELS)


def test_pixel_limit_refuses_before_decoding(blobs):
    with pytest.raises(ImageError, match="above the limit"):
        decode_image(io.BytesIO(png_bytes(blobs)), max_pixels=100)


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG header claiming a huge size, with a tiny compressed body."""
    raw = zlib.compress(b"\x00" * 10)
    header = b"\x89PNG\r\n\x1a\n"

    def chunk(kind, body):
        return (
            len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")
        )

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return header + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def test_decompression_bomb_png_is_refused():
    # Pillow's own bomb check is off once large-image is imported (it sets Pillow's limit to
    # None); the pixel limit read from the header refuses the file either way.
    with pytest.raises(ImageError, match=r"decompression bomb|above the limit"):
        decode_image(io.BytesIO(png_header_only(30000, 30000)), max_pixels=50_000_000)


def test_png_above_configured_limit_is_refused_before_decoding():
    with pytest.raises(ImageError, match="12000x12000 pixels, above the limit"):
        decode_image(io.BytesIO(png_header_only(12000, 12000)), max_pixels=50_000_000)


@pytest.mark.parametrize("shape", [(3, 32, 32), (4, 5, 32, 32)])
def test_stacks_without_axis_metadata_are_refused_naming_channel_axis(shape):
    data = tiff_bytes(np.zeros(shape, np.uint16), photometric="minisblack")
    with pytest.raises(ImageError, match="channel_axis=0 for channels or z_axis=0") as caught:
        read_image(io.BytesIO(data), max_pixels=MAX_PIXELS, max_channels=16)
    assert caught.value.param == "channel_axis"


def test_decode_image_takes_only_plain_2d_images():
    data = tiff_bytes(
        np.zeros((32, 32, 7), np.uint8), photometric="minisblack", planarconfig="contig"
    )
    assert read_image(io.BytesIO(data), max_pixels=MAX_PIXELS, max_channels=16).data.shape == (
        1, 32, 32, 7,
    )  # fmt: skip
    with pytest.raises(ImageError, match="expected a 2D gray or RGB image"):
        decode_image(io.BytesIO(data), max_pixels=MAX_PIXELS)


def test_labels_are_renumbered_and_checked_for_size():
    labels = np.zeros((10, 10), np.int32)
    labels[1:3, 1:3], labels[5:8, 5:8] = 7, 42
    buffer = io.BytesIO()
    np.save(buffer, labels)
    decoded = decode_labels(buffer, shape=(10, 10), max_pixels=MAX_PIXELS)
    assert sorted(np.unique(decoded)) == [0, 1, 2]
    with pytest.raises(ImageError, match="masks are 10x10 but the image is 12x10"):
        decode_labels(buffer, shape=(10, 12), max_pixels=MAX_PIXELS)


def test_labels_refuse_pickles_and_negative_values():
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ImageError, match="could not be read"):
        decode_labels(buffer, max_pixels=MAX_PIXELS)
    buffer = io.BytesIO()
    np.save(buffer, -np.ones((4, 4), np.int16))
    with pytest.raises(ImageError, match="negative"):
        decode_labels(buffer, max_pixels=MAX_PIXELS)
