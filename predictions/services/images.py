"""Decoding and validation of microscopy images and label images.

One module for the API, the CLI and the tasks, so each refuses the same inputs with
the same words. Everything raises :class:`ImageError`, whose message is meant for users.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
import tifffile
from PIL import Image, UnidentifiedImageError

DEFAULT_MAX_PIXELS = 100_000_000
TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
NPY_MAGIC = b"\x93NUMPY"


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
            if (
                len(tif.pages) > 1
                or series.ndim > 3
                or (series.ndim == 3 and series.shape[-1] not in (3, 4))
            ):
                raise ImageError(
                    f"TIFF has shape {tuple(series.shape)} across {len(tif.pages)} page(s); "
                    "only single-page 2D images (gray, RGB or RGBA) are supported"
                )
            _check_pixels(series.shape, max_pixels)
            return series.asarray()
    except ImageError:
        raise
    except Exception as exc:
        raise ImageError(f"TIFF could not be decoded ({exc})") from exc


def _decode_pil(data: bytes, max_pixels: int) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            # Our own pixel limit (checked next, from the header) is the one users configure.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            _check_pixels((img.height, img.width), max_pixels)
            if getattr(img, "n_frames", 1) > 1:
                raise ImageError("multi-frame images are not supported; upload a single 2D image")
            img.load()
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageError(f"image refused as a decompression bomb ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise ImageError("file is not a PNG, JPEG or TIFF image") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"image is truncated or corrupt ({exc})") from exc
    if img.mode in ("P", "PA", "LA", "CMYK", "YCbCr", "1"):
        img = img.convert("RGBA" if "A" in img.mode or img.mode == "P" else "RGB")
    if img.mode == "I;16B":
        img = img.convert("I;16")
    return np.asarray(img)


def decode_image(source: Source, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
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
    if min(array.shape[:2]) < 2:
        raise ImageError(f"image is too small ({array.shape[1]}x{array.shape[0]} pixels)")
    if array.dtype == bool:
        array = array.astype(np.uint8)
    if array.dtype.kind not in "uif":
        raise ImageError(f"unsupported pixel type {array.dtype}")
    return np.ascontiguousarray(array)


def decode_labels(
    source: Source, shape: tuple[int, int] | None = None, max_pixels: int = DEFAULT_MAX_PIXELS
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
        labels = decode_image(io.BytesIO(data), max_pixels)
    if labels.ndim != 2:
        raise ImageError(f"masks must be a 2D label image, got shape {labels.shape}")
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise ImageError("masks must hold whole-number labels")
    elif labels.dtype.kind not in "uib":
        raise ImageError(f"masks have unsupported type {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise ImageError("masks must not hold negative labels")
    if shape is not None and labels.shape != tuple(shape):
        raise ImageError(
            f"masks are {labels.shape[1]}x{labels.shape[0]} but the image is {shape[1]}x{shape[0]}"
        )
    return relabel_sequential(labels)


def relabel_sequential(labels: np.ndarray) -> np.ndarray:
    """Map label ids to 1..N (ascending), background 0, in the smallest fitting uint dtype."""
    ids, inverse = np.unique(labels, return_inverse=True)
    has_background = ids.size and ids[0] == 0
    new_ids = np.arange(ids.size) + (0 if has_background else 1)
    dtype = np.uint16 if new_ids.size < 2**16 else np.uint32
    return new_ids.astype(dtype)[inverse.reshape(labels.shape)]


def load_npy(data: bytes) -> np.ndarray:
    """A .npy array, never unpickling objects (uploaded files are untrusted)."""
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as exc:
        raise ImageError(f".npy file could not be read ({exc})") from exc
