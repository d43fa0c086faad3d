"""Result files: the PNG overlay, the ZIP of per-cell 16-bit TIFFs, and .npy arrays.

Each works from one pass over the label image (``find_objects`` for the cell boxes,
a lookup table for colours), never a full-image comparison per cell. Images come channel-last
with the masks' spatial axes: (Y, X[, C]) or, for a z-stack, (Z, Y, X[, C]).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

import numpy as np
import numpy.typing as npt
import tifffile
from PIL import Image
from scipy import ndimage
from skimage.segmentation import find_boundaries

from predictions.services import labels

OVERLAY_ALPHA = 0.45
UINT16_MAX = np.iinfo(np.uint16).max


def display_limits(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each channel's 0.5 and 99.5 percentiles: percentiles rather than min/max, so one hot
    pixel in a 16-bit image does not leave the rest black."""
    channels = image[..., None] if image.ndim == 2 else image
    low, high = np.percentile(channels, [0.5, 99.5], axis=(0, 1))
    return low, high


def display_rgb(
    image: np.ndarray, limits: tuple[np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """8-bit RGB for viewing: each channel stretched between its ``display_limits`` (the
    image's own, or given: a tiled job's overlay uses one contrast for every band).

    Gray and RGB images show as they are; other channel counts as a composite in the channel
    palette.
    """
    channels = image[..., None] if image.ndim == 2 else image
    low, high = limits if limits is not None else display_limits(image)
    span = np.where(high > low, high - low, 1)
    scaled = (channels.astype(np.float32) - low) * (255.0 / span)
    if channels.shape[2] not in (1, 3):
        scaled = np.clip(scaled, 0, 255) @ labels.channel_colors(channels.shape[2])
    rgb = np.clip(scaled, 0, 255).astype(np.uint8)
    return np.repeat(rgb, 3, axis=2) if rgb.shape[2] == 1 else rgb


def projected(image: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A z-stack as its maximum-intensity projection; each pixel shows the highest label
    above it, so every cell's outline is that of its footprint where no other cell hides it."""
    if masks.ndim == 2:
        return image, masks
    return image.max(axis=0), masks.max(axis=0)


def tinted(
    image: np.ndarray, masks: np.ndarray, limits: tuple[np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """The image for viewing with each cell tinted in its own colour."""
    base = display_rgb(image, limits)
    colours = labels.label_colors(int(masks.max(initial=0)))
    inside = masks > 0
    tint = colours[masks[inside]].astype(np.float32)
    base[inside] = (base[inside] * (1 - OVERLAY_ALPHA) + tint * OVERLAY_ALPHA).astype(np.uint8)
    return base


def render_overlay(image: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """The image with each cell tinted in its own colour and white cell boundaries."""
    image, masks = projected(image, masks)
    base = tinted(image, masks)
    base[find_boundaries(masks, mode="inner")] = 255
    return base


def write_png(rgb: np.ndarray, target: str | Path | BinaryIO) -> None:
    # Level 1: several times faster than the default, files only slightly larger.
    Image.fromarray(rgb).save(target, format="PNG", compress_level=1)


def to_uint16(image: np.ndarray) -> npt.NDArray[np.uint16]:
    """Pixel values for the 16-bit cell TIFFs.

    Integer images keep their values. Float images in [0, 1] are scaled to the full
    16-bit range (a plain cast would make them all 0); other floats are clipped.
    """
    if image.dtype.kind in "ui":
        return image.astype(np.uint16, copy=False)
    values = image * UINT16_MAX if image.size and np.nanmax(image) <= 1.0 else image
    return cast(
        npt.NDArray[np.uint16], np.clip(np.nan_to_num(values), 0, UINT16_MAX).astype(np.uint16)
    )


@dataclass(frozen=True)
class About:
    """What the file said about the image, for metadata in the exports."""

    channel_names: tuple[str, ...] = ()
    pixel_size_um: float | None = None
    z_step_um: float | None = None
    rgb: bool = False


def has_channels(image: np.ndarray, masks: np.ndarray) -> bool:
    return image.ndim == masks.ndim + 1


def cell_crops(
    image16: np.ndarray, masks: np.ndarray
) -> Iterator[tuple[int, npt.NDArray[np.uint16]]]:
    """Yield (label, crop) for every cell: its bounding box, pixels outside the cell set to 0."""
    channels = has_channels(image16, masks)
    for index, box in enumerate(ndimage.find_objects(masks)):
        if box is None:
            continue
        label = index + 1
        inside = masks[box] == label
        crop = image16[box]
        if channels:
            inside = inside[..., None]
        yield label, np.where(inside, crop, 0).astype(np.uint16)


def write_cells_zip(
    image: np.ndarray,
    masks: np.ndarray,
    target: str | Path | BinaryIO,
    about: About | None = None,
) -> int:
    """ZIP of ``cell_0001.tif``... (named by label); returns the number of cells written.

    Gray and RGB planes are plain TIFFs, as the seed writes them. Channels other than RGB and
    z-stacks are ImageJ hyperstacks (CYX, ZYX or ZCYX) with the pixel size, so Fiji opens
    each crop with its channels and planes apart.
    """
    about = about or About(rgb=has_channels(image, masks) and image.shape[-1] == 3)
    count = 0
    image16 = to_uint16(image)
    plain = masks.ndim == 2 and (not has_channels(image, masks) or about.rgb)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for label, crop in cell_crops(image16, masks):
            buffer = io.BytesIO()
            if plain:
                tifffile.imwrite(buffer, crop, photometric="rgb" if crop.ndim == 3 else None)
            else:
                _write_hyperstack(buffer, crop, has_channels(image, masks), about)
            archive.writestr(f"cell_{label:04d}.tif", buffer.getvalue())
            count += 1
    return count


def _write_hyperstack(target: BinaryIO, crop: np.ndarray, channels: bool, about: About) -> None:
    """Channel-last (Z?, Y, X, C?) as ImageJ's (Z?, C?, Y, X) order."""
    letters = ("Z" if crop.ndim - channels == 3 else "") + ("C" if channels else "") + "YX"
    array = np.moveaxis(crop, -1, -3) if channels else crop
    metadata: dict[str, object] = {"axes": letters}
    options: dict[str, object] = {}
    if about.pixel_size_um:
        metadata["unit"] = "um"
        options["resolution"] = (1 / about.pixel_size_um, 1 / about.pixel_size_um)
    if about.z_step_um and "Z" in letters:
        metadata["spacing"] = about.z_step_um
    if channels:
        metadata["mode"] = "composite"
    tifffile.imwrite(target, array, imagej=True, metadata=metadata, **options)  # type: ignore[arg-type]  # tifffile: options are keyword arguments of imwrite


def write_npy(array: np.ndarray, target: str | Path) -> None:
    np.save(target, array, allow_pickle=False)
