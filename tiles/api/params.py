"""Checks of the query parameters large-image would otherwise choke on with a 500.

django-large-image passes ``band``, ``min``, ``left``... straight to ``int()``/``float()``
and ``style`` straight to large-image; a typo there must be a 400 naming the parameter.
"""

from __future__ import annotations

import json
import re
from functools import cache

from large_image.tilesource import AvailableTileSources, loadTileSources
from rest_framework import serializers

from config.rest import NoEmptyValuesSerializer
from depth_images.services import colormaps

# large-image's range: a number, or auto/full/min/max, optionally with a fraction.
MAX_THUMBNAIL_SIDE = 4096
STYLE_PARAMS = ("style", "band", "palette", "cmap", "min", "max", "nodata", "scheme")


RANGE = r"^((auto|full|min|max)(:\d*\.?\d+)?|[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)$"
COLOR = r"^#([0-9a-fA-F]{6}|[0-9a-fA-F]{8})$"
# Bounds that keep any valid style well inside the query-string limit.
MAX_STYLE_BANDS = 8
MAX_PALETTE_COLORS = 64
MAX_BOUND_CHARS = 24


def _band_schema() -> dict:
    bound = {
        "oneOf": [
            {"type": "number"},
            {"type": "string", "pattern": RANGE, "maxLength": MAX_BOUND_CHARS},
        ]
    }
    return {
        "type": "object",
        "properties": {
            "band": {"type": "integer", "minimum": 1},
            "frame": {"type": "integer", "minimum": 0},
            "min": bound,
            "max": bound,
            "palette": {
                "oneOf": [
                    {"type": "string", "enum": named_palettes()},
                    {
                        "type": "array",
                        "items": {"type": "string", "pattern": COLOR},
                        "minItems": 1,
                        "maxItems": MAX_PALETTE_COLORS,
                    },
                ]
            },
            "nodata": {"type": "number"},
            "scheme": {"type": "string", "enum": ["linear", "discrete"]},
            "composite": {"type": "string", "enum": ["lighten", "multiply"]},
            "clamp": {"type": "boolean"},
        },
        "additionalProperties": False,
    }


@cache
def style_schema() -> dict:
    """The JSON Schema of ``style``: one band's look, or several under ``bands``."""
    one = _band_schema()
    several = {
        "type": "object",
        "properties": {
            "bands": {"type": "array", "items": one, "minItems": 1, "maxItems": MAX_STYLE_BANDS}
        },
        "required": ["bands"],
        "additionalProperties": False,
    }
    return {"oneOf": [one, several]}


def validate_style(raw: str) -> dict:
    """Parse ``style`` and check it against ``style_schema``, naming the first problem."""
    try:
        style = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise serializers.ValidationError(f"is not valid JSON: {exc}") from exc
    if not isinstance(style, dict):
        raise serializers.ValidationError("must be a JSON object")
    if "bands" in style:
        bands = style["bands"]
        if (
            set(style) != {"bands"}
            or not isinstance(bands, list)
            or not 1 <= len(bands) <= MAX_STYLE_BANDS
        ):
            raise serializers.ValidationError(
                f'"bands" must be a list of 1 to {MAX_STYLE_BANDS} band styles, and alone'
            )
    else:
        bands = [style]
    for band in bands:
        _check_band_style(band)
    return style


def _check_band_style(band) -> None:
    if not isinstance(band, dict):
        raise serializers.ValidationError('"bands" must be a list of JSON objects')
    known = _band_schema()["properties"]
    for key, value in band.items():
        if key not in known:
            raise serializers.ValidationError(
                f"unknown key {key!r}; a band style takes {', '.join(known)}"
            )
        problem = _band_value_problem(key, value)
        if problem:
            raise serializers.ValidationError(f"{key!r} {problem}")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _band_value_problem(key: str, value) -> str | None:
    checks = {
        "band": (lambda v: _is_int(v) and v >= 1, "must be a band number, from 1"),
        "frame": (lambda v: _is_int(v) and v >= 0, "must be a frame number, from 0"),
        "min": (_is_bound, BOUND_PROBLEM),
        "max": (_is_bound, BOUND_PROBLEM),
        "palette": (
            _is_palette,
            f"must be a palette name or a list of 1 to {MAX_PALETTE_COLORS} #rrggbb colours",
        ),
        "nodata": (_is_number, "must be a number"),
        "scheme": (lambda v: v in ("linear", "discrete"), "must be linear or discrete"),
        "composite": (lambda v: v in ("lighten", "multiply"), "must be lighten or multiply"),
        "clamp": (lambda v: isinstance(v, bool), "must be true or false"),
    }
    check, problem = checks[key]
    return None if check(value) else problem


BOUND_PROBLEM = "must be a number or one of auto, full, min, max (e.g. min:0.02)"


def _is_bound(value) -> bool:
    if isinstance(value, str):
        return len(value) <= MAX_BOUND_CHARS and re.match(RANGE, value) is not None
    return _is_number(value)


def _is_palette(value) -> bool:
    if isinstance(value, str):
        return value in named_palettes()
    return (
        isinstance(value, list)
        and 1 <= len(value) <= MAX_PALETTE_COLORS
        and all(isinstance(c, str) and re.match(COLOR, c) for c in value)
    )


# Which reader opens the file; a projection means nothing to a microscopy image.
OPEN = ("source",)
STYLED = (*OPEN, *STYLE_PARAMS)
BOUNDS = ("left", "right", "top", "bottom")
# The query parameters each action reads; the schema is generated from the same table.
ACTION_PARAMS = {
    "tiles_metadata": OPEN,
    "tile": (*STYLED, "frame"),
    "tile_corners": OPEN,
    "thumbnail": (*STYLED, "frame", "max_width", "max_height"),
    "region": (*STYLED, *BOUNDS, "units", "frame"),
    "pixel": (*STYLED, "left", "top", "frame"),
    "histogram": (*OPEN, "bins", "onlyMinMax", "density"),
    "metadata": OPEN,
    "metadata_internal": OPEN,
    "bands": OPEN,
    "band": (*OPEN, "band"),
    "frames": OPEN,
    "tiffdump": OPEN,
}
REQUIRED = {"region": BOUNDS, "pixel": ("left", "top"), "band": ("band",)}


def _fields(action: str) -> dict[str, serializers.Field]:
    loadTileSources()
    f = serializers
    side = {"min_value": 1, "max_value": MAX_THUMBNAIL_SIDE}
    # django-large-image reads a pixel's position with int(); bands are numbered from 1.
    position = (f.IntegerField, {"min_value": 0}) if action == "pixel" else (f.FloatField, {})
    kinds = {
        "band": (f.IntegerField, {"min_value": 1 if action == "band" else 0}),
        "min": (f.RegexField, {"regex": RANGE, "max_length": MAX_BOUND_CHARS}),
        "max": (f.RegexField, {"regex": RANGE, "max_length": MAX_BOUND_CHARS}),
        "palette": (f.ChoiceField, {"choices": named_palettes()}),
        "cmap": (f.ChoiceField, {"choices": named_palettes()}),
        "nodata": (f.FloatField, {}),
        "scheme": (f.ChoiceField, {"choices": ["linear", "discrete"]}),
        "style": (f.CharField, {"help_text": "a large-image style, as JSON"}),
        "frame": (f.IntegerField, {"min_value": 0}),
        "max_width": (f.IntegerField, side),
        "max_height": (f.IntegerField, side),
        "left": position,
        "top": position,
        "right": (f.FloatField, {}),
        "bottom": (f.FloatField, {}),
        "units": (f.ChoiceField, {"choices": ["pixels", "base_pixels", "fraction"]}),
        "source": (f.ChoiceField, {"choices": sorted(AvailableTileSources)}),
        "bins": (f.IntegerField, {"min_value": 1, "max_value": 65536}),
        "onlyMinMax": (f.BooleanField, {}),
        "density": (f.BooleanField, {}),
    }
    required = REQUIRED.get(action, ())
    return {
        name: kinds[name][0](**kinds[name][1], required=name in required)
        for name in ACTION_PARAMS[action]
    }


class TileQuerySerializer(NoEmptyValuesSerializer):
    """The checks shared by every action's query parameters (see ``query_serializer``)."""

    def validate_style(self, value: str) -> str:
        validate_style(value)
        return value

    def validate(self, attrs):
        # Pixels or fractions alike: a region needs an extent (where it lies is checked
        # against the image's size in the view).
        if "left" in attrs and "right" in attrs and attrs["right"] <= attrs["left"]:
            raise serializers.ValidationError({"region": "right must be greater than left"})
        if "top" in attrs and "bottom" in attrs and attrs["bottom"] <= attrs["top"]:
            raise serializers.ValidationError({"region": "bottom must be greater than top"})
        return attrs


@cache
def named_palettes() -> list[str]:
    """Palette names: matplotlib's colormaps, as the depth images take them; other colours go
    in a ``style`` as a list."""
    return colormaps.available_colormaps()


@cache
def query_serializer(action: str) -> type[TileQuerySerializer]:
    """The serializer of one action's query parameters, also its OpenAPI parameters."""
    name = "".join(part.title() for part in action.split("_")) + "TileQuery"
    return type(name, (TileQuerySerializer,), _fields(action))


def has_style(query) -> bool:
    return any(name in query for name in STYLE_PARAMS)
