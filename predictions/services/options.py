"""A request's reading and segmentation options, checked against the image they apply to.

The API, the CLI and the tasks all go through :func:`resolve`, so a z-stack without a 3D mode
or a fourth channel for Cellpose-SAM is refused with the same words everywhere. What comes out
is what the worker runs: channel indices, a definite 3D mode and anisotropy.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from predictions.services import axes, engines
from predictions.services.axes import AxesError, Layout


@dataclass(frozen=True)
class Options:
    """The options as a user gives them: channels by index or name, 3D mode maybe unset."""

    channels: tuple[int | str, ...] | None = None
    nuclear_channel: int | str | None = None
    do_3D: bool | None = None  # cellpose's own name for it
    anisotropy: float | None = None
    stitch_threshold: float = 0.0


@dataclass(frozen=True)
class Resolved:
    """What the engine gets: ``channels`` index the image's channels (in the order given)."""

    channels: tuple[int, ...]
    params: engines.SegmentationParams


def resolve(
    layout: Layout, model_type: str, options: Options, params: engines.SegmentationParams
) -> Resolved:
    """Check ``options`` against ``layout``; raise AxesError naming the parameter at fault."""
    channels = axes.select_channels(layout, options.channels, engines.MAX_CHANNELS.get(model_type))
    nuclear = _nuclear_channel(layout, model_type, options.nuclear_channel)
    do_3d = _three_d(layout, options)
    return Resolved(
        channels=(nuclear,) if nuclear is not None else channels,
        params=replace(
            params,
            do_3D=do_3d,
            stitch_threshold=options.stitch_threshold,
            anisotropy=_anisotropy(layout, options),
            nuclear_channel=0 if nuclear is not None else None,
        ),
    )


def _nuclear_channel(layout: Layout, model_type: str, spec: int | str | None) -> int | None:
    if spec is None:
        return None
    if model_type != "watershed":
        raise AxesError(
            "nuclear_channel is for model_type=watershed; Cellpose-SAM takes channels",
            "nuclear_channel",
        )
    return axes.channel_index(layout, spec, "nuclear_channel")


def _three_d(layout: Layout, options: Options) -> bool:
    stitching = options.stitch_threshold > 0
    if not layout.is_stack:
        for param, asked in (
            ("do_3D", options.do_3D),
            ("stitch_threshold", stitching),
            ("anisotropy", options.anisotropy is not None),
        ):
            if asked:
                raise AxesError(
                    f"{param} applies to z-stacks, and this image is 2D (axes "
                    f"{layout.axes}); if the file's planes are z, say so with z_axis",
                    param,
                )
        return False
    if options.do_3D and stitching:
        raise AxesError(
            "choose one: do_3D=true segments the stack in 3D, stitch_threshold stitches 2D planes",
            "stitch_threshold",
        )
    if options.do_3D is False and not stitching:
        raise AxesError(
            f"the image is a z-stack of {layout.shape[0]} planes: segment it with do_3D=true, "
            "or plane by plane with stitch_threshold > 0 (cells stitched across planes by IoU)",
            "do_3D",
        )
    return not stitching


def _anisotropy(layout: Layout, options: Options) -> float | None:
    """Given, or the z step over the pixel size when the file (or request) says both."""
    if options.anisotropy is not None or not layout.is_stack:
        return options.anisotropy
    if layout.z_step_um and layout.pixel_size_um:
        return layout.z_step_um / layout.pixel_size_um
    return None
