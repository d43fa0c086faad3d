"""Which axis of a microscopy file is which, and how large a pixel is.

A file's own metadata (tifffile's ``series.axes``, OME-XML, ImageJ's ``channels``/``slices``)
says what its axes are; the request's ``channel_axis`` and ``z_axis`` override it, as they do in
cellpose. Whatever cannot be decided is refused with an :class:`AxesError` that names the
parameter that resolves it. The result is a :class:`Layout`: how to turn the file's array into
the canonical ``(Z, Y, X, C)`` one, from the header alone.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Canonical axis order: planes, rows, columns, channels (channel-last, as Pillow and the
# seed's RGB images have it, so a plain 2D image keeps its array exactly).
CANONICAL = "ZYXC"
# tifffile's letters that mean "unknown": a generic image sequence or a shaped array.
UNKNOWN_AXES = frozenset("IQ")
KNOWN_AXES = frozenset("ZCSTYX")
# Length units as OME and ImageJ write them -> micrometres.
UNIT_UM = {
    "pm": 1e-6,
    "å": 1e-4,
    "angstrom": 1e-4,
    "nm": 1e-3,
    "nanometer": 1e-3,
    "µm": 1.0,
    "μm": 1.0,
    "um": 1.0,
    "micron": 1.0,
    "microns": 1.0,
    "micrometer": 1.0,
    "\\u00b5m": 1.0,
    "mm": 1e3,
    "millimeter": 1e3,
    "cm": 1e4,
    "centimeter": 1e4,
    "m": 1e6,
    "meter": 1e6,
}
# TIFF ResolutionUnit 3 is centimetres. Inches (2) are left out on purpose: image editors write
# 72 or 96 dpi by default, and reading that as 350 µm pixels would be worse than no size.
RESOLUTION_UNIT_CM = 3


class AxesError(ValueError):
    """An axis question the file cannot answer; ``param`` is the request field that can."""

    def __init__(self, message: str, param: str = "input_image") -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class AxesRequest:
    """What a request says about reading its image; every field may be left out."""

    channel_axis: int | None = None
    z_axis: int | None = None
    t_index: int | None = None
    series: int | None = None
    pixel_size_um: float | None = None
    z_step_um: float | None = None


@dataclass(frozen=True)
class Layout:
    """How one series of a file becomes the canonical ``(Z, Y, X, C)`` array.

    ``axes`` are the series' axes as resolved (one letter per source axis; the overrides
    applied), ``take`` the index kept along axes that are dropped (T, or unknown of size 1).
    """

    axes: str
    source_shape: tuple[int, ...]
    series: int = 0
    take: dict[int, int] = field(default_factory=dict)
    drop_alpha: bool = False
    channel_names: tuple[str, ...] = ()
    pixel_size_um: float | None = None
    z_step_um: float | None = None

    @property
    def shape(self) -> tuple[int, int, int, int]:
        sizes = {
            a.replace("S", "C"): n
            for i, (a, n) in enumerate(zip(self.axes, self.source_shape, strict=True))
            if i not in self.take
        }
        channels = sizes.get("C", 1) - (1 if self.drop_alpha else 0)
        return (sizes.get("Z", 1), sizes["Y"], sizes["X"], channels)

    @property
    def is_stack(self) -> bool:
        return self.shape[0] > 1

    @property
    def is_rgb(self) -> bool:
        return "S" in self.axes and self.shape[3] == 3

    @property
    def voxels(self) -> int:
        z, y, x, _ = self.shape
        return z * y * x

    def canonical(self, array: np.ndarray) -> np.ndarray:
        """The series' array, as read, rearranged into ``(Z, Y, X, C)``."""
        index = tuple(self.take.get(i, slice(None)) for i in range(array.ndim))
        kept = "".join(a for i, a in enumerate(self.axes) if i not in self.take)
        array = array[index]
        kept = kept.replace("S", "C")
        for axis in CANONICAL:
            if axis not in kept:
                array = array[..., None]
                kept += axis
        array = np.transpose(array, [kept.index(a) for a in CANONICAL])
        return array[..., :-1] if self.drop_alpha else array


def resolve(
    axes: str,
    shape: Sequence[int],
    request: AxesRequest,
    *,
    series: int = 0,
    channel_names: Sequence[str] = (),
    pixel_size_um: float | None = None,
    z_step_um: float | None = None,
) -> Layout:
    """The layout of a series whose metadata says ``axes``, with the request's overrides."""
    shape = tuple(int(n) for n in shape)
    letters = _overridden(axes.upper(), len(shape), request)
    take = _taken(letters, shape, request.t_index)
    _check_unknown(letters, shape, take)
    _check_channels(letters, shape)
    sizes = dict(zip(letters, shape, strict=True))
    samples = sizes.get("S", 1)
    channels = sizes.get("C", samples)
    names = tuple(channel_names) if len(channel_names) == channels else ()
    return Layout(
        axes=letters,
        source_shape=shape,
        series=series,
        take=take,
        drop_alpha="S" in letters and samples in (2, 4),
        channel_names=names,
        pixel_size_um=request.pixel_size_um or pixel_size_um,
        z_step_um=request.z_step_um or z_step_um,
    )


def _overridden(axes: str, ndim: int, request: AxesRequest) -> str:
    letters = list(axes)
    overrides = {"channel_axis": (request.channel_axis, "C"), "z_axis": (request.z_axis, "Z")}
    chosen: dict[int, str] = {}
    for param, (value, letter) in overrides.items():
        if value is None:
            continue
        if not -ndim <= value < ndim:
            raise AxesError(
                f"axis {value} does not exist: the file's array has {ndim} axes ({axes})", param
            )
        index = value % ndim
        if letters[index] in "YX":
            raise AxesError(
                f"axis {value} is the image's {letters[index]} axis ({axes}); choose another axis",
                param,
            )
        if index in chosen:
            raise AxesError("channel_axis and z_axis name the same axis", param)
        chosen[index] = letter
    for index, letter in chosen.items():
        # The overridden letter moves: the axis the metadata called C (or Z) becomes unknown.
        letters = ["I" if (a == letter or (letter == "C" and a == "S")) else a for a in letters]
        letters[index] = letter
    return "".join(letters)


def _taken(axes: str, shape: tuple[int, ...], t_index: int | None) -> dict[int, int]:
    # Single unknown or time axes carry nothing; nor does a single C beside colour samples.
    droppable = UNKNOWN_AXES | {"T"} | ({"C"} if "S" in axes else set())
    take = {i: 0 for i, (a, n) in enumerate(zip(axes, shape, strict=True)) if n == 1 and a in
            droppable}  # fmt: skip
    if "T" not in axes or shape[axes.index("T")] == 1:
        if t_index:
            raise AxesError("the image has no time axis; leave t_index out", "t_index")
        return take
    frames = shape[axes.index("T")]
    if t_index is None:
        raise AxesError(
            f"the image is a time series of {frames} frames; "
            f"choose one with t_index (0 to {frames - 1})",
            "t_index",
        )
    if not 0 <= t_index < frames:
        raise AxesError(f"t_index must be between 0 and {frames - 1}", "t_index")
    take[axes.index("T")] = t_index
    return take


def _check_unknown(axes: str, shape: tuple[int, ...], take: dict[int, int]) -> None:
    for index, (letter, size) in enumerate(zip(axes, shape, strict=True)):
        if index in take:
            continue
        if letter in UNKNOWN_AXES:
            raise AxesError(
                f"the file holds {size} images along axis {index} (shape {shape}) and its "
                "metadata does not say whether they are channels or z planes; set "
                f"channel_axis={index} for channels or z_axis={index} for a z-stack",
                "channel_axis",
            )
        if letter not in KNOWN_AXES:
            raise AxesError(
                f"the file has an axis {letter!r} of size {size} (axes {axes}) that cellserve "
                "cannot use; supported axes are Y, X, channels (C or RGB samples) and Z",
                "input_image",
            )
    for letter in "YX":
        if axes.count(letter) != 1:
            raise AxesError(f"the file's axes {axes} have no single {letter} axis")
    for letter in "CZ":
        if axes.count(letter) > 1:
            raise AxesError(f"the file's axes {axes} have two {letter} axes")


def _check_channels(axes: str, shape: tuple[int, ...]) -> None:
    sizes = dict(zip(axes, shape, strict=True))
    if sizes.get("C", 1) > 1 and sizes.get("S", 1) > 1:
        raise AxesError(
            f"the file has both channels and colour samples (axes {axes}, shape {shape}); "
            "only one kind of channel is supported",
        )


# --- metadata -------------------------------------------------------------------------------


def to_um(value: Any, unit: str | None) -> float | None:
    """A physical length in µm, or None for a missing, unknown or non-positive one."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    factor = UNIT_UM.get((unit or "µm").strip().lower())
    if factor is None or not math.isfinite(number) or number <= 0:
        return None
    return number * factor


@dataclass(frozen=True)
class OmePixels:
    """What an OME-XML ``Pixels`` element says about channels and physical size."""

    channel_names: tuple[str, ...] = ()
    pixel_size_um: float | None = None
    z_step_um: float | None = None


def ome_pixels(xml: str, image: int) -> OmePixels:
    """Channel names and physical sizes of the ``image``-th OME Image (one per series)."""
    try:
        root = ET.fromstring(xml)  # noqa: S314  # tifffile already parsed it; no external entities
    except ET.ParseError:
        return OmePixels()
    images = [e for e in root if _local(e.tag) == "Image"]
    if image >= len(images):
        return OmePixels()
    pixels = next((e for e in images[image] if _local(e.tag) == "Pixels"), None)
    if pixels is None:
        return OmePixels()
    names = tuple((e.get("Name") or "").strip() for e in pixels if _local(e.tag) == "Channel")
    return OmePixels(
        channel_names=names if all(names) else (),
        pixel_size_um=to_um(pixels.get("PhysicalSizeX"), pixels.get("PhysicalSizeXUnit")),
        z_step_um=to_um(pixels.get("PhysicalSizeZ"), pixels.get("PhysicalSizeZUnit")),
    )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def resolution_um(
    resolution: tuple[float, float] | None, unit_code: int | None, imagej_unit: str | None
) -> float | None:
    """Pixel width from the TIFF resolution tags (pixels per unit), in µm.

    ImageJ writes its unit in its own metadata and leaves ResolutionUnit as NONE.
    """
    if not resolution or not resolution[0] or (resolution == (1.0, 1.0) and not imagej_unit):
        return None
    if imagej_unit:
        return to_um(1.0 / resolution[0], _imagej_unit(imagej_unit))
    if unit_code == RESOLUTION_UNIT_CM:
        return to_um(1.0 / resolution[0], "cm")
    return None


def _imagej_unit(unit: str) -> str:
    # ImageJ escapes µ in its text metadata.
    return re.sub(r"\\u00[bB]5", "µ", unit)


# --- channels -------------------------------------------------------------------------------


def channel_names(layout: Layout) -> tuple[str, ...]:
    """The file's channel names, or ``ch0``, ``ch1``, ... where it has none."""
    count = layout.shape[3]
    if len(layout.channel_names) == count:
        return layout.channel_names
    return tuple(f"ch{i}" for i in range(count))


def parse_channel_list(text: str) -> tuple[int | str, ...]:
    """``"0,2"`` or ``"DAPI, GFP"``: indices where a part is a whole number, names otherwise."""
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in parts):
        raise AxesError("give channel indices or names separated by commas, e.g. 0,1", "channels")
    # isdecimal and ASCII: '²' is a digit to isdigit() but no number to int().
    return tuple(int(p) if p.isascii() and p.isdecimal() else p for p in parts)


def channel_index(layout: Layout, spec: int | str, param: str) -> int:
    """The index of one channel given by index or by name."""
    names = channel_names(layout)
    if isinstance(spec, int):
        if not 0 <= spec < len(names):
            raise AxesError(
                f"channel {spec} does not exist; the image has {len(names)} channel(s) "
                f"({', '.join(names)})",
                param,
            )
        return spec
    if spec not in names:
        raise AxesError(
            f"no channel is named {spec!r}; the image's channels are {', '.join(names)}", param
        )
    return names.index(spec)


def select_channels(
    layout: Layout, specs: Sequence[int | str] | None, limit: int | None
) -> tuple[int, ...]:
    """The channels that go to the model: those asked for, or the first ``limit``."""
    count = layout.shape[3]
    if specs is None:
        return tuple(range(count if limit is None else min(count, limit)))
    chosen = tuple(channel_index(layout, s, "channels") for s in specs)
    if len(set(chosen)) != len(chosen):
        raise AxesError("a channel is named more than once", "channels")
    if limit is not None and len(chosen) > limit:
        raise AxesError(
            f"{len(chosen)} channels were asked for; this model takes at most {limit}", "channels"
        )
    return chosen
