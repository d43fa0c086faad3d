"""The reading and segmentation options that ``segment`` and ``measure`` share with the API.

Each option also takes cellpose's own spelling (``--z_axis``, ``--do_3D``), so a command line
written for cellpose's CLI reads the same here.
"""

from __future__ import annotations

import argparse
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError

from predictions.services import axes, batch, options


def add_reading_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("reading the image (default: as its metadata says)")
    group.add_argument("--channel-axis", "--channel_axis", type=int, dest="channel_axis")
    group.add_argument("--z-axis", "--z_axis", type=int, dest="z_axis")
    group.add_argument("--t-index", "--t_index", type=int, dest="t_index")
    group.add_argument("--series", type=int)
    group.add_argument("--pixel-size-um", "--pixel_size_um", type=float, dest="pixel_size_um")
    group.add_argument("--z-step-um", "--z_step_um", type=float, dest="z_step_um")


def add_segmentation_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("channels and 3D")
    group.add_argument("--channels", help="indices or names, comma-separated (e.g. DAPI,GFP)")
    group.add_argument("--nuclear-channel", "--nuclear_channel", dest="nuclear_channel")
    group.add_argument(
        "--do-3D", "--do_3D", dest="do_3D", action=argparse.BooleanOptionalAction, default=None
    )
    group.add_argument("--anisotropy", type=float)
    group.add_argument(
        "--stitch-threshold", "--stitch_threshold", type=float, default=0.0,
        dest="stitch_threshold",
    )  # fmt: skip


def reading(given: dict[str, Any]) -> batch.Reading:
    for name in ("pixel_size_um", "z_step_um"):
        if given[name] is not None and not given[name] > 0:
            raise CommandError(f"--{name.replace('_', '-')} must be above 0")
    request = axes.AxesRequest(
        channel_axis=given["channel_axis"],
        z_axis=given["z_axis"],
        t_index=given["t_index"],
        series=given["series"],
        pixel_size_um=given["pixel_size_um"],
        z_step_um=given["z_step_um"],
    )
    return batch.Reading(
        settings.CELLSERVE_MAX_IMAGE_PIXELS, settings.CELLSERVE_MAX_CHANNELS, request
    )


def segmentation_options(given: dict[str, Any]) -> options.Options:
    try:
        channels = axes.parse_channel_list(given["channels"]) if given["channels"] else None
        nuclear = given["nuclear_channel"]
        nuclear_spec = axes.parse_channel_list(nuclear)[0] if nuclear else None
    except axes.AxesError as exc:
        raise CommandError(f"--{exc.param.replace('_', '-')}: {exc}") from exc
    return options.Options(
        channels=channels,
        nuclear_channel=nuclear_spec,
        do_3D=given["do_3D"],
        anisotropy=given["anisotropy"],
        stitch_threshold=given["stitch_threshold"],
    )
