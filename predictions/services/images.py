"""Decoding and validation of microscopy images and label images.

One module for the API, the CLI and the tasks, so each refuses the same inputs with
the same words. Everything raises :class:`ImageError`, whose message is meant for users.

Supported: PNG, JPEG and TIFF (BigTIFF too) images; .npy, TIFF and PNG label images. The
web request only *validates* (``validate_image``, ``validate_labels``): headers always, the
pixels only while decoding them stays within a memory budget, otherwise a bounded check of
the file's structure. The full decode happens in the worker.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

import numpy as np
import numpy.typing as npt
import tifffile
from PIL import Image, UnidentifiedImageError

from predictions.services.labels import label_dtype

TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
NPY_MAGIC = b"\x93NUMPY"
IMAGE_FORMATS = "PNG, JPEG or TIFF"
LABEL_FORMATS = ".npy, TIFF or PNG"
# What each accepted kind of file is stored as: our extension, never the uploader's.
EXTENSIONS = {"png": ".png", "jpeg": ".jpg", "tiff": ".tif", "npy": ".npy"}
# Pillow modes -> (decoded channels, dtype) after decode_image's conversions.
PIL_MODES = {
    "L": (1, np.uint8),
    "I;16": (1, np.uint16),
    "I;16L": (1, np.uint16),
    "I;16B": (1, np.uint16),
    "I": (1, np.int32),
    "F": (1, np.float32),
    "1": (3, np.uint8),
    "P": (3, np.uint8),
    "PA": (3, np.uint8),
    "LA": (3, np.uint8),
    "RGB": (3, np.uint8),
    "RGBA": (3, np.uint8),
    "CMYK": (3, np.uint8),
    "YCbCr": (3, np.uint8),
}


class ImageError(ValueError):
    """An input that cannot be used; the message says why, in a user's words."""


Source = str | Path | BinaryIO


def _read_bytes(source: Source) -> bytes:
    if isinstance(source, str | Path):
        return Path(source).read_bytes()
    source.seek(0)
    data = source.read()
    source.seek(0)
    return data


def _check_pixels(shape: tuple[int, ...], max_pixels: int) -> None:
    height, width = shape[:2]
    if height * width > max_pixels:
        raise ImageError(
            f"image is {width}x{height} pixels, above the limit of {max_pixels:,} pixels"
        )


def _decode_tiff(data: bytes, max_pixels: int) -> np.ndarray:
    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            series = tif.series[0]
            _check_tiff_layout(series.shape, len(tif.pages))
            _check_pixels(series.shape, max_pixels)
            return series.asarray()
    except ImageError:
        raise
    except Exception as exc:
        raise ImageError(f"TIFF could not be decoded ({exc})") from exc


def _open_pil(handle: BinaryIO, max_pixels: int) -> Image.Image:
    """Open (read the header of) a PNG or JPEG; anything else Pillow knows is refused."""
    try:
        with warnings.catch_warnings():
            # Our own pixel limit (checked next, from the header) is the one users configure.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(handle)
    except Image.DecompressionBombError as exc:
        raise ImageError(f"image refused as a decompression bomb ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise ImageError(f"file is not a {IMAGE_FORMATS} image") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"image is truncated or corrupt ({exc})") from exc
    if img.format not in ("PNG", "JPEG"):
        raise ImageError(f"file is a {img.format} image; only {IMAGE_FORMATS} images are supported")
    _check_pixels((img.height, img.width), max_pixels)
    if getattr(img, "n_frames", 1) > 1:
        raise ImageError("multi-frame images are not supported; upload a single 2D image")
    return img


def _decode_pil(data: bytes, max_pixels: int) -> np.ndarray:
    img = _open_pil(io.BytesIO(data), max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img.load()
    except Image.DecompressionBombError as exc:
        raise ImageError(f"image refused as a decompression bomb ({exc})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"image is truncated or corrupt ({exc})") from exc
    if img.mode in ("P", "PA", "LA", "CMYK", "YCbCr", "1"):
        img = img.convert("RGBA" if "A" in img.mode or img.mode == "P" else "RGB")
    if img.mode == "I;16B":
        img = img.convert("I;16")
    return np.asarray(img)


def _check_size(shape: tuple[int, ...]) -> None:
    if min(shape[:2]) < 2:
        raise ImageError(f"image is too small ({shape[1]}x{shape[0]} pixels)")


@dataclass(frozen=True)
class ImageInfo:
    """What a file's header says: its kind (a key of EXTENSIONS) and its decoded array."""

    kind: str
    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def decoded_bytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.kind]


def validate_image(
    source: BinaryIO,
    *,
    max_pixels: int,
    decode_budget: int,
) -> ImageInfo:
    """Check an upload in bounded time and memory; the worker decodes it for real."""
    data = _rewound(source, "file")
    info = probe_image(data, max_pixels=max_pixels)
    if info.decoded_bytes <= decode_budget:
        decode_image(data, max_pixels=max_pixels)
    elif info.kind == "tiff":
        _check_tiff_structure(data)
    else:
        _check_pil_structure(data, info)
    return info


def probe_image(handle: BinaryIO, *, max_pixels: int) -> ImageInfo:
    """The kind, shape and dtype of an image, from its header alone."""
    handle.seek(0)
    magic = handle.read(4)
    handle.seek(0)
    dtype: npt.DTypeLike | None
    if magic in TIFF_MAGIC:
        shape, dtype = _tiff_shape(handle, max_pixels)
        kind = "tiff"
    else:
        img = _open_pil(handle, max_pixels)
        channels, dtype = PIL_MODES.get(img.mode, (None, None))
        if channels is None:
            raise ImageError(f"unsupported image mode {img.mode!r}")
        shape = (img.height, img.width) if channels == 1 else (img.height, img.width, channels)
        kind = img.format.lower()  # type: ignore[union-attr]  # Pillow: format is Optional; _open_pil kept only PNG or JPEG
    _check_size(shape)
    return ImageInfo(kind, tuple(int(n) for n in shape), np.dtype(dtype))


def _rewound(handle: BinaryIO, what: str) -> BinaryIO:
    handle.seek(0, io.SEEK_END)
    if handle.tell() == 0:
        raise ImageError(f"{what} is empty (0 bytes)")
    handle.seek(0)
    return handle


def _tiff_shape(handle: BinaryIO, max_pixels: int) -> tuple[tuple[int, ...], np.dtype]:
    try:
        with tifffile.TiffFile(handle) as tif:
            series = tif.series[0]
            _check_tiff_layout(series.shape, len(tif.pages))
            _check_pixels(series.shape, max_pixels)
            shape, dtype = tuple(series.shape), series.dtype
    except ImageError:
        raise
    except Exception as exc:
        raise ImageError(f"TIFF could not be read ({exc})") from exc
    if len(shape) == 3 and shape[-1] == 4:
        shape = (*shape[:2], 3)
    if len(shape) == 3 and shape[-1] == 1:
        shape = shape[:2]
    return shape, np.dtype(np.uint8 if dtype.kind == "b" else dtype)


def _check_tiff_layout(shape: tuple[int, ...], pages: int) -> None:
    if pages > 1 or len(shape) > 3 or (len(shape) == 3 and shape[-1] not in (3, 4)):
        raise ImageError(
            f"TIFF has shape {tuple(shape)} across {pages} page(s); "
            "only single-page 2D images (gray, RGB or RGBA) are supported"
        )


def _check_tiff_structure(handle: BinaryIO) -> None:
    """Every strip or tile lies inside the file, and the first one decodes."""
    handle.seek(0, io.SEEK_END)
    size = handle.tell()
    handle.seek(0)
    try:
        with tifffile.TiffFile(handle) as tif:
            page = tif.pages.first
            ends = np.add(page.dataoffsets, page.databytecounts, dtype=np.int64)
            if len(ends) == 0 or int(ends.max()) > size:
                raise ImageError("TIFF is truncated: its image data ends past the end of the file")
            next(page.segments())
    except ImageError:
        raise
    except Exception as exc:
        raise ImageError(f"TIFF could not be decoded ({exc})") from exc


def _check_pil_structure(handle: BinaryIO, info: ImageInfo) -> None:
    """PNG: every chunk's checksum; JPEG: the whole stream, decoded at 1/8 scale."""
    handle.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(handle)
            if info.kind == "jpeg":
                img.draft(img.mode, (max(1, img.width // 8), max(1, img.height // 8)))
                img.load()
            else:
                img.verify()
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"image is truncated or corrupt ({exc})") from exc


def decode_image(source: Source, *, max_pixels: int) -> np.ndarray:
    """Decode a PNG, JPEG or TIFF into a 2D (H, W) or colour (H, W, 3) array.

    Alpha is dropped: it carries no signal for segmentation. Pixel values and dtype are
    kept as stored (8-bit, 16-bit or float), so exports keep the original intensities.
    """
    data = _read_bytes(source)
    if not data:
        raise ImageError("file is empty (0 bytes)")
    if data[:4] in TIFF_MAGIC:
        array = _decode_tiff(data, max_pixels)
    else:
        array = _decode_pil(data, max_pixels)
    return _normalize_channels(array)


def _normalize_channels(array: np.ndarray) -> np.ndarray:
    if array.ndim == 3 and array.shape[-1] == 4:
        array = array[..., :3]
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] != 3):
        raise ImageError(f"image has unsupported shape {array.shape}")
    _check_size(array.shape)
    if array.dtype == bool:
        array = array.astype(np.uint8)
    if array.dtype.kind not in "uif":
        raise ImageError(f"unsupported pixel type {array.dtype}")
    return np.ascontiguousarray(array)


def validate_labels(
    source: BinaryIO,
    shape: tuple[int, ...],
    *,
    max_pixels: int,
    decode_budget: int,
) -> ImageInfo:
    """Check an uploaded label image against the image's shape, in bounded time and memory."""
    data = _rewound(source, "mask file")
    info = probe_labels(data, max_pixels=max_pixels)
    _check_label_shape(info.shape, shape)
    if info.decoded_bytes <= decode_budget:
        decode_labels(data, shape, max_pixels=max_pixels)
    elif info.kind == "tiff":
        _check_tiff_structure(data)
    elif info.kind == "png":
        _check_pil_structure(data, info)
    return info


def probe_labels(handle: BinaryIO, *, max_pixels: int) -> ImageInfo:
    """The kind, shape and dtype of a label image, from its header alone."""
    handle.seek(0)
    if handle.read(len(NPY_MAGIC)) == NPY_MAGIC:
        info = _npy_header(handle)
        _check_pixels(info.shape if len(info.shape) >= 2 else (1, 1), max_pixels)
    else:
        info = probe_image(handle, max_pixels=max_pixels)
        if info.kind == "jpeg":
            raise ImageError(f"masks must be lossless ({LABEL_FORMATS}), not JPEG")
    if info.dtype.kind not in "uibf":
        raise ImageError(f"masks have unsupported type {info.dtype}")
    return info


def _npy_header(handle: BinaryIO) -> ImageInfo:
    handle.seek(0)
    try:
        version = np.lib.format.read_magic(handle)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, _fortran, dtype = read_header(handle)
    except Exception as exc:
        raise ImageError(f".npy file could not be read ({exc})") from exc
    return ImageInfo("npy", tuple(int(n) for n in shape), np.dtype(dtype))


def _check_label_shape(labels: tuple[int, ...], image: tuple[int, ...] | None) -> None:
    if len(labels) != 2:
        raise ImageError(f"masks must be a 2D label image, got shape {tuple(labels)}")
    if image is not None and tuple(labels) != tuple(image[:2]):
        raise ImageError(
            f"masks are {labels[1]}x{labels[0]} but the image is {image[1]}x{image[0]}"
        )


def decode_labels(
    source: Source, shape: tuple[int, ...] | None = None, *, max_pixels: int
) -> np.ndarray:
    """Decode a label image (.npy, .tif or .png): integers, 0 for background.

    Labels are renumbered 1..N in ascending order of their ids, so the result follows
    the masks contract whatever ids the file used.
    """
    data = _read_bytes(source)
    if not data:
        raise ImageError("mask file is empty (0 bytes)")
    if data.startswith(NPY_MAGIC):
        labels = load_npy(data)
        _check_pixels(labels.shape, max_pixels)
    else:
        labels = decode_image(io.BytesIO(data), max_pixels=max_pixels)
    _check_label_shape(labels.shape, None)
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise ImageError("masks must hold whole-number labels")
    elif labels.dtype.kind not in "uib":
        raise ImageError(f"masks have unsupported type {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise ImageError("masks must not hold negative labels")
    _check_label_shape(labels.shape, shape)
    return relabel_sequential(labels)


def relabel_sequential(labels: np.ndarray) -> np.ndarray:
    """Map label ids to 1..N (ascending), background 0, in the smallest fitting uint dtype."""
    ids, inverse = np.unique(labels, return_inverse=True)
    has_background = ids.size and ids[0] == 0
    new_ids = np.arange(ids.size) + (0 if has_background else 1)
    dtype = label_dtype(int(new_ids.max(initial=0)))
    return new_ids.astype(dtype)[inverse.reshape(labels.shape)]


def load_npy(data: bytes) -> np.ndarray:
    """A .npy array, never unpickling objects (uploaded files are untrusted)."""
    try:
        return cast(npt.NDArray[Any], np.load(io.BytesIO(data), allow_pickle=False))
    except Exception as exc:
        raise ImageError(f".npy file could not be read ({exc})") from exc
