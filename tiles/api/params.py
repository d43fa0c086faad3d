"""Checks of the query parameters large-image would otherwise choke on with a 500.

django-large-image passes ``band``, ``min``, ``left``... straight to ``int()``/``float()``
and ``style`` straight to large-image; a typo there must be a 400 naming the parameter.
"""

from __future__ import annotations

import json
import re

from large_image.tilesource import AvailableTileSources, loadTileSources
from large_image.tilesource.utilities import getPaletteColors
from rest_framework import serializers

# large-image's range keywords: a number, or auto/full/min/max, optionally with a fraction.
RANGE_KEYWORD = re.compile(r"^(auto|full|min|max)(:\d*\.?\d+)?$")
MAX_THUMBNAIL_SIDE = 4096
STYLE_PARAMS = ("style", "band", "palette", "cmap", "min", "max", "nodata", "scheme")


def validate_range(value: str) -> str:
    if RANGE_KEYWORD.match(value):
        return value
    try:
        float(value)
    except ValueError:
        raise serializers.ValidationError(
            "must be a number or one of auto, full, min, max (e.g. min:0.02)"
        )
    return value


def validate_palette(palette) -> None:
    try:
        getPaletteColors(palette)
    except (ValueError, TypeError) as exc:
        raise serializers.ValidationError(f"unknown palette {palette!r}: {exc}")


def validate_style(raw: str) -> dict:
    try:
        style = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise serializers.ValidationError(f"is not valid JSON: {exc}")
    if not isinstance(style, dict):
        raise serializers.ValidationError("must be a JSON object")
    bands = style.get("bands", [style])
    if not isinstance(bands, list) or not all(isinstance(b, dict) for b in bands):
        raise serializers.ValidationError('"bands" must be a list of JSON objects')
    for band in bands:
        if "palette" in band:
            validate_palette(band["palette"])
        for key in ("min", "max"):
            if key in band and not isinstance(band[key], (int, float)):
                validate_range(str(band[key]))
        if "band" in band and not isinstance(band["band"], (int, str)):
            raise serializers.ValidationError('"band" must be a band number or name')
    return style


class TileQuerySerializer(serializers.Serializer):
    """Every query parameter the tile endpoints read; all optional unless an action says."""

    band = serializers.IntegerField(min_value=0, required=False)
    min = serializers.CharField(required=False, validators=[validate_range])
    max = serializers.CharField(required=False, validators=[validate_range])
    palette = serializers.CharField(required=False)
    cmap = serializers.CharField(required=False)
    nodata = serializers.FloatField(required=False)
    scheme = serializers.ChoiceField(["linear", "discrete"], required=False)
    style = serializers.CharField(required=False)
    frame = serializers.IntegerField(min_value=0, required=False)
    max_width = serializers.IntegerField(min_value=1, max_value=MAX_THUMBNAIL_SIDE, required=False)
    max_height = serializers.IntegerField(min_value=1, max_value=MAX_THUMBNAIL_SIDE, required=False)
    left = serializers.FloatField(required=False)
    right = serializers.FloatField(required=False)
    top = serializers.FloatField(required=False)
    bottom = serializers.FloatField(required=False)
    units = serializers.ChoiceField(["pixels", "base_pixels", "fraction"], required=False)
    source = serializers.CharField(required=False)
    projection = serializers.CharField(required=False, max_length=200)
    bins = serializers.IntegerField(min_value=1, max_value=65536, required=False)

    def __init__(
        self, *args, required: tuple[str, ...] = (), integers: tuple[str, ...] = (), **kwargs
    ):
        super().__init__(*args, **kwargs)
        for name in integers:  # django-large-image reads these with int()
            self.fields[name] = serializers.IntegerField(min_value=0)
        for name in required:
            self.fields[name].required = True

    def validate_style(self, value: str) -> str:
        validate_style(value)
        return value

    def validate_palette(self, value: str) -> str:
        validate_palette(value)
        return value

    def validate_cmap(self, value: str) -> str:
        validate_palette(value)
        return value

    def validate_source(self, value: str) -> str:
        loadTileSources()
        if value not in AvailableTileSources:
            raise serializers.ValidationError(
                f"unknown source {value!r}; choose one of {', '.join(sorted(AvailableTileSources))}"
            )
        return value

    def validate(self, attrs):
        # Pixels or fractions alike: a region needs an extent (where it lies is checked
        # against the image's size in the view).
        if "left" in attrs and "right" in attrs and attrs["right"] <= attrs["left"]:
            raise serializers.ValidationError({"region": "right must be greater than left"})
        if "top" in attrs and "bottom" in attrs and attrs["bottom"] <= attrs["top"]:
            raise serializers.ValidationError({"region": "bottom must be greater than top"})
        return attrs


def has_style(query) -> bool:
    return any(name in query for name in STYLE_PARAMS)
