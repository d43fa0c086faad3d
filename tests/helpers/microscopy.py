"""Microscopy files built from the real data, the ways microscopes, Fiji and Bio-Formats write them.

Each builder returns the file's bytes and the arrays it holds, so a test can check that reading
it back gives the same pixels, axes and sizes. The nuclei labels stay the ground truth.
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from scipy import ndimage as ndi

from tests.helpers.data import NUCLEI, NUCLEI3D_IMAGE, NUCLEI3D_MASKS, require

PIXEL_UM = 0.65
Z_STEP_UM = 2.0


@dataclass(frozen=True)
class Sample:
    """``image`` is canonical (Z, Y, X, C); ``labels`` (Y, X) or (Z, Y, X)."""

    image: np.ndarray
    labels: np.ndarray
    channel_names: tuple[str, ...]


def two_channel_nuclei() -> Sample:
    """The stardist 2D image as 'DAPI' and, as 'GFP', a cytoplasm-like ring signal around each
    nucleus (its dilation minus the nucleus), so the channels differ cell by cell."""
    dapi = tifffile.imread(require(NUCLEI / "stardist_img2d.tif")).astype(np.uint16)
    labels = tifffile.imread(require(NUCLEI / "stardist_mask2d.tif"))
    grown = ndi.grey_dilation(labels, size=(7, 7))
    ring = (grown > 0) & (labels == 0)
    rng = np.random.default_rng(0)
    gfp = (ring * (400 + (grown % 7) * 150) + rng.poisson(30, dapi.shape)).astype(np.uint16)
    return Sample(np.stack([dapi, gfp], -1)[None], labels, ("DAPI", "GFP"))


def nuclei_stack() -> Sample:
    """The real (31, 61, 57) z-stack and its labels."""
    image = tifffile.imread(require(NUCLEI3D_IMAGE))
    labels = tifffile.imread(require(NUCLEI3D_MASKS))
    return Sample(image[..., None], labels, ("ch0",))


def two_channel_stack() -> Sample:
    """The z-stack with a second channel: its intensities inverted inside the nuclei."""
    stack = nuclei_stack()
    image = stack.image[..., 0]
    second = np.where(stack.labels > 0, image.max() - image, 0).astype(image.dtype)
    return Sample(np.stack([image, second], -1), stack.labels, ("H2B", "Lamin"))


def _write(array: np.ndarray, **options: Any) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array, **options)
    return buffer.getvalue()


def ome_tiff(sample: Sample, **options: Any) -> bytes:
    """OME-TIFF with channel names and physical sizes, as Bio-Formats writes it (CYX / ZCYX)."""
    planes = sample.image.shape[0]
    array = np.moveaxis(sample.image, -1, 1)  # (Z, C, Y, X)
    metadata: dict[str, Any] = {
        "axes": "ZCYX",
        "Channel": {"Name": list(sample.channel_names)},
        "PhysicalSizeX": PIXEL_UM,
        "PhysicalSizeY": PIXEL_UM,
        "PhysicalSizeXUnit": "µm",
        "PhysicalSizeYUnit": "µm",
    }
    if planes == 1:
        array, metadata["axes"] = array[0], "CYX"
    else:
        metadata |= {"PhysicalSizeZ": Z_STEP_UM, "PhysicalSizeZUnit": "µm"}
    return _write(array, ome=True, metadata=metadata, photometric="minisblack", **options)


def imagej_hyperstack(sample: Sample, **options: Any) -> bytes:
    """As Fiji saves a hyperstack: TZCYX order, spacing and unit in its metadata."""
    array = np.moveaxis(sample.image, -1, 1)  # (Z, C, Y, X)
    return _write(
        array,
        imagej=True,
        resolution=(1 / PIXEL_UM, 1 / PIXEL_UM),
        metadata={"axes": "ZCYX", "spacing": Z_STEP_UM, "unit": "micron"},
        **options,
    )


def plain_stack(sample: Sample, **options: Any) -> bytes:
    """Pages without any axis metadata (what many acquisition scripts write): ambiguous."""
    array = np.moveaxis(sample.image, -1, 1).reshape(-1, *sample.image.shape[1:3])
    return _write(array, photometric="minisblack", metadata=None, **options)


def write_samples(directory: Path) -> list[Path]:
    """The README's example files, from the real data: a 2-channel OME-TIFF, an OME z-stack and
    a Fiji hyperstack (Z, C), each with its physical sizes."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "two_channel.ome.tif": ome_tiff(two_channel_nuclei()),
        "nuclei_stack.ome.tif": ome_tiff(nuclei_stack()),
        "hyperstack.tif": imagej_hyperstack(two_channel_stack()),
    }
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return [directory / name for name in files]


if __name__ == "__main__":
    for written in write_samples(Path(sys.argv[1] if len(sys.argv) > 1 else "samples")):
        print(written)  # noqa: T201  # a command's output
