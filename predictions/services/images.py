"""Decoding and validation of microscopy images and label images.

One module for the API, the CLI and the tasks, so each refuses the same inputs with
the same words. Everything raises :class:`ImageError`, whose message is meant for users.

Supported: PNG, JPEG and TIFF (BigTIFF, OME-TIFF, ImageJ hyperstacks) images; .npy, TIFF and
PNG label images. A TIFF's axes come from its metadata or the request (``axes``); the decoded
image is canonical: ``(Z, Y, X, C)`` with its channel names and physical pixel size
(:class:`Canonical`). The web request only *validates* (``validate_image``,
``validate_labels``): headers always, the pixels only while decoding them stays within a memory
budget, otherwise a bounded check of the file's structure. The full decode happens in the worker.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

import numpy as np
import numpy.typing as npt
import tifffile
from PIL import Image, UnidentifiedImageError

from predictions.services import axes
from predictions.services.axes import AxesRequest, Layout
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
    """An input that cannot be used; the message says why, in a user's words.

    ``param`` is the request field the problem is about (the file, or the parameter that
    would resolve it).
    """

    def __init__(self, message: str, param: str = "input_image") -> None:
        super().__init__(message)
        self.param = param


NO_REQUEST = AxesRequest()


Source = str | Path | BinaryIO


def is_tiff(handle: BinaryIO) -> bool:
    """Whether the file starts as a TIFF (or BigTIFF) does; the handle is rewound."""
    handle.seek(0)
    magic = handle.read(4)
    handle.seek(0)
    return magic in TIFF_MAGIC


def _read_bytes(source: Source) -> bytes:
    if isinstance(source, str | Path):
        return Path(source).read_bytes()
    source.seek(0)
    data = source.read()
    source.seek(0)
    return data


def _check_pixels(shape: tuple[int, ...], max_pixels: int) -> None:
    """``shape`` is (Y, X, ...) for a plane or (Z, Y, X, C) for a layout; voxels count."""
    height, width = shape[:2]
    if height * width > max_pixels:
        raise ImageError(
            f"image is {width}x{height} pixels, above the limit of {max_pixels:,} pixels"
        )


def _check_layout(layout: Layout, max_pixels: int, max_channels: int) -> None:
    planes, height, width, channels = layout.shape
    if planes == 1:
        _check_pixels((height, width), max_pixels)
    elif layout.voxels > max_pixels:
        raise ImageError(
            f"image is {planes} planes of {width}x{height} pixels, {layout.voxels:,} voxels, "
            f"above the limit of {max_pixels:,} pixels (each voxel counts as a pixel)"
        )
    if channels > max_channels:
        raise ImageError(
            f"image has {channels} channels, more than the {max_channels} allowed "
            "(CELLSERVE_MAX_CHANNELS)"
        )
    _check_size((height, width))


def _pick_series(tif: tifffile.TiffFile, request: AxesRequest) -> int:
    count = len(tif.series)
    if request.series is None:
        if count > 1:
            raise ImageError(
                f"the file holds {count} images (series or positions); "
                f"choose one with series (0 to {count - 1})",
                "series",
            )
        return 0
    if not 0 <= request.series < count:
        raise ImageError(
            f"series must be between 0 and {count - 1}: the file holds {count} image(s)", "series"
        )
    return request.series


def tiff_layout(tif: tifffile.TiffFile, request: AxesRequest) -> tuple[Layout, np.dtype]:
    """The layout of the series the request picks, and its dtype (bool read as uint8)."""
    index = _pick_series(tif, request)
    series = tif.series[index]
    try:
        layout = axes.resolve(
            series.axes, series.shape, request, series=index, **_tiff_metadata(tif, index)
        )
    except axes.AxesError as exc:
        raise ImageError(str(exc), exc.param) from exc
    dtype = np.dtype(series.dtype)
    return layout, np.dtype(np.uint8) if dtype.kind == "b" else dtype


def _tiff_metadata(tif: tifffile.TiffFile, series: int) -> dict[str, Any]:
    if tif.is_ome and tif.ome_metadata:
        ome = axes.ome_pixels(tif.ome_metadata, series)
        return {
            "channel_names": ome.channel_names,
            "pixel_size_um": ome.pixel_size_um,
            "z_step_um": ome.z_step_um,
        }
    imagej = tif.imagej_metadata or {}
    unit = imagej.get("unit")
    page = tif.series[series].keyframe
    spacing = imagej.get("spacing")
    return {
        "pixel_size_um": axes.resolution_um(page.resolution, int(page.resolutionunit), unit),
        "z_step_um": axes.to_um(spacing, unit) if spacing else None,
    }


def _decode_tiff(
    data: BinaryIO, request: AxesRequest, max_pixels: int, max_channels: int
) -> Canonical:
    try:
        with tifffile.TiffFile(data) as tif:
            layout, _dtype = tiff_layout(tif, request)
            _check_layout(layout, max_pixels, max_channels)
            array = tif.series[layout.series].asarray()
    except ImageError:
        raise
    except Exception as exc:
        raise ImageError(f"TIFF could not be decoded ({exc})") from exc
    return Canonical(_checked_dtype(layout.canonical(array)), layout)


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
class Canonical:
    """A decoded image: ``data`` is ``(Z, Y, X, C)``; ``layout`` says what the file said."""

    data: np.ndarray
    layout: Layout

    @property
    def array(self) -> np.ndarray:
        """Channel-last, single Z and C dropped: (Y, X), (Y, X, C), (Z, Y, X) or (Z, Y, X, C).

        A plain 2D image comes out exactly as it was stored, as the seed's services expect.
        """
        array = self.data[0] if self.data.shape[0] == 1 else self.data
        return np.ascontiguousarray(array[..., 0] if array.shape[-1] == 1 else array)

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return spatial_shape(self.layout)

    @property
    def channel_names(self) -> tuple[str, ...]:
        return axes.channel_names(self.layout)

    def channels(self) -> np.ndarray:
        """Channel-last with the spatial axes of the masks: (Y, X, C) or (Z, Y, X, C)."""
        return self.data[0] if self.data.shape[0] == 1 else self.data

    def select(self, channels: Sequence[int] | None) -> np.ndarray:
        """:attr:`array` of only ``channels`` (all when None), as an engine takes it."""
        if channels is None or list(channels) == list(range(self.data.shape[-1])):
            return self.array
        return Canonical(self.data[..., list(channels)], self.layout).array


def spatial_shape(layout: Layout) -> tuple[int, ...]:
    """(Y, X) of a plane, (Z, Y, X) of a stack: the shape of its masks."""
    planes, height, width, _ = layout.shape
    return (height, width) if planes == 1 else (planes, height, width)


@dataclass(frozen=True)
class ImageInfo:
    """What a file's header says: its kind (a key of EXTENSIONS), shape, dtype and layout.

    ``shape`` is that of :attr:`Canonical.array`.
    """

    kind: str
    shape: tuple[int, ...]
    dtype: np.dtype
    layout: Layout

    @property
    def decoded_bytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.kind]

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return spatial_shape(self.layout)


def _squeezed(shape: tuple[int, int, int, int]) -> tuple[int, ...]:
    planes, height, width, channels = shape
    return (
        *((planes,) if planes > 1 else ()),
        height,
        width,
        *((channels,) if channels > 1 else ()),
    )


def validate_image(
    source: BinaryIO,
    *,
    max_pixels: int,
    decode_budget: int,
    max_channels: int,
    request: AxesRequest = NO_REQUEST,
) -> ImageInfo:
    """Check an upload in bounded time and memory; the worker decodes it for real."""
    data = _rewound(source, "file")
    info = probe_image(data, max_pixels=max_pixels, request=request, max_channels=max_channels)
    if info.decoded_bytes <= decode_budget:
        read_image(data, max_pixels=max_pixels, request=request, max_channels=max_channels)
    elif info.kind == "tiff":
        _check_tiff_structure(data)
    else:
        _check_pil_structure(data, info)
    return info


def probe_image(
    handle: BinaryIO,
    *,
    max_pixels: int,
    max_channels: int,
    request: AxesRequest = NO_REQUEST,
) -> ImageInfo:
    """The kind, shape, dtype and layout of an image, from its header alone."""
    handle.seek(0)
    magic = handle.read(4)
    handle.seek(0)
    if magic in TIFF_MAGIC:
        layout, dtype = _tiff_header(handle, request)
        kind = "tiff"
    else:
        img = _open_pil(handle, max_pixels)
        channels, pil_dtype = PIL_MODES.get(img.mode, (None, None))
        if channels is None:
            raise ImageError(f"unsupported image mode {img.mode!r}")
        layout = _plane_layout((img.height, img.width, channels), request)
        dtype = np.dtype(pil_dtype)
        kind = img.format.lower()  # type: ignore[union-attr]  # Pillow: format is Optional; _open_pil kept only PNG or JPEG
    _check_layout(layout, max_pixels, max_channels)
    return ImageInfo(kind, _squeezed(layout.shape), dtype, layout)


def _plane_layout(shape: tuple[int, ...], request: AxesRequest) -> Layout:
    """A PNG or JPEG: (Y, X) gray or (Y, X, S) colour, after decode_image's conversions."""
    if request.series not in (None, 0):
        raise ImageError("series must be 0: a PNG or JPEG holds one image", "series")
    plane = shape if shape[-1] != 1 else shape[:2]
    try:
        return axes.resolve("YXS"[: len(plane)], plane, request)
    except axes.AxesError as exc:
        raise ImageError(str(exc), exc.param) from exc


def _rewound(handle: BinaryIO, what: str) -> BinaryIO:
    handle.seek(0, io.SEEK_END)
    if handle.tell() == 0:
        raise ImageError(f"{what} is empty (0 bytes)")
    handle.seek(0)
    return handle


def _tiff_header(handle: BinaryIO, request: AxesRequest) -> tuple[Layout, np.dtype]:
    try:
        with tifffile.TiffFile(handle) as tif:
            return tiff_layout(tif, request)
    except ImageError:
        raise
    except Exception as exc:
        raise ImageError(f"TIFF could not be read ({exc})") from exc


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


def read_image(
    source: Source,
    *,
    max_pixels: int,
    max_channels: int,
    request: AxesRequest = NO_REQUEST,
) -> Canonical:
    """Decode a PNG, JPEG or TIFF into its canonical ``(Z, Y, X, C)`` array and layout.

    Alpha is dropped: it carries no signal for segmentation. Pixel values and dtype are
    kept as stored (8-bit, 16-bit or float), so exports keep the original intensities.
    """
    data = _read_bytes(source)
    if not data:
        raise ImageError("file is empty (0 bytes)")
    if data[:4] in TIFF_MAGIC:
        return _decode_tiff(io.BytesIO(data), request, max_pixels, max_channels)
    plane = _normalize_channels(_decode_pil(data, max_pixels))
    layout = _plane_layout(plane.shape, request)
    _check_layout(layout, max_pixels, max_channels)
    return Canonical(layout.canonical(plane), layout)


def decode_image(source: Source, *, max_pixels: int) -> np.ndarray:
    """A plain 2D image as (H, W) or (H, W, 3); see :func:`read_image` for the rest."""
    image = read_image(source, max_pixels=max_pixels, max_channels=2**31)
    if image.layout.is_stack or image.layout.shape[3] not in (1, 3):
        raise ImageError(
            f"expected a 2D gray or RGB image; this one has axes {image.layout.axes} "
            f"and shape {image.layout.source_shape}"
        )
    return image.array


def _normalize_channels(array: np.ndarray) -> np.ndarray:
    if array.ndim == 3 and array.shape[-1] == 4:
        array = array[..., :3]
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] != 3):
        raise ImageError(f"image has unsupported shape {array.shape}")
    _check_size(array.shape)
    return _checked_dtype(array)


def _checked_dtype(array: np.ndarray) -> np.ndarray:
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
    """The kind, shape and dtype of a label image (2D, or 3D for a z-stack), from its header."""
    handle.seek(0)
    magic = handle.read(len(NPY_MAGIC))
    if magic == NPY_MAGIC:
        info = _npy_header(handle)
    elif magic[:4] in TIFF_MAGIC:
        info = _tiff_labels_header(handle)
    else:
        info = probe_image(handle, max_pixels=max_pixels, max_channels=3)
        if info.kind == "jpeg":
            raise ImageError(f"masks must be lossless ({LABEL_FORMATS}), not JPEG")
    _check_label_voxels(info.shape, max_pixels)
    if info.dtype.kind not in "uibf":
        raise ImageError(f"masks have unsupported type {info.dtype}")
    return info


def _label_info(kind: str, shape: tuple[int, ...], dtype: npt.DTypeLike) -> ImageInfo:
    letters = "ZYX"[-len(shape) :] if len(shape) in (2, 3) else "I" * len(shape)
    return ImageInfo(kind, shape, np.dtype(dtype), Layout(letters, shape))


def _tiff_labels_header(handle: BinaryIO) -> ImageInfo:
    """Labels have no channels: every axis of a label TIFF but Y, X and one more is single."""
    handle.seek(0)
    try:
        with tifffile.TiffFile(handle) as tif:
            series = tif.series[0]
            shape, dtype = _label_shape(series.axes, series.shape), series.dtype
    except ImageError:
        raise
    except Exception as exc:
        raise ImageError(f"TIFF could not be read ({exc})") from exc
    return _label_info("tiff", shape, np.uint8 if np.dtype(dtype).kind == "b" else dtype)


def _label_shape(letters: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    if "S" in letters and shape[letters.index("S")] > 1:
        raise ImageError(f"masks must be a label image, not a colour image (shape {shape})")
    return tuple(int(n) for n in shape if n > 1) or (1, 1)


def _check_label_voxels(shape: tuple[int, ...], max_pixels: int) -> None:
    if len(shape) == 3 and int(np.prod(shape, dtype=np.int64)) > max_pixels:
        raise ImageError(
            f"masks hold {int(np.prod(shape, dtype=np.int64)):,} voxels, "
            f"above the limit of {max_pixels:,} pixels"
        )
    _check_pixels(shape if len(shape) >= 2 else (1, 1), max_pixels)


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
    return _label_info("npy", tuple(int(n) for n in shape), dtype)


def _check_label_shape(labels: tuple[int, ...], image: tuple[int, ...] | None) -> None:
    """``image`` is the image's spatial shape: (Y, X), or (Z, Y, X) for a z-stack."""
    if len(labels) not in (2, 3) or (image is not None and len(image) == 2 and len(labels) != 2):
        raise ImageError(f"masks must be a 2D label image, got shape {tuple(labels)}")
    if image is None or tuple(labels) == tuple(image):
        return
    if len(image) == 2:
        raise ImageError(
            f"masks are {labels[1]}x{labels[0]} but the image is {image[1]}x{image[0]}"
        )
    raise ImageError(
        f"masks have shape {tuple(labels)} but the image's z-stack is {tuple(image)} "
        "(planes, height, width); give a label volume of the same shape"
    )


def decode_labels(
    source: Source, shape: tuple[int, ...] | None = None, *, max_pixels: int
) -> np.ndarray:
    """Decode a label image (.npy, .tif or .png): integers, 0 for background.

    2D, or 3D (Z, Y, X) for a z-stack. Labels are renumbered 1..N in ascending order of
    their ids, so the result follows the masks contract whatever ids the file used.
    """
    data = _read_bytes(source)
    if not data:
        raise ImageError("mask file is empty (0 bytes)")
    if data.startswith(NPY_MAGIC):
        labels = load_npy(data)
        _check_label_voxels(labels.shape, max_pixels)
    elif data[:4] in TIFF_MAGIC:
        info = probe_labels(io.BytesIO(data), max_pixels=max_pixels)
        _check_label_shape(info.shape, shape)
        labels = _decode_label_tiff(data, info.shape)
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


def _decode_label_tiff(data: bytes, shape: tuple[int, ...]) -> np.ndarray:
    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            return tif.series[0].asarray().reshape(shape)
    except Exception as exc:
        raise ImageError(f"TIFF could not be decoded ({exc})") from exc


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
