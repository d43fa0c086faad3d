"""Every tile endpoint the URLconf serves is in the OpenAPI schema, with its parameters."""

import json
import re

import pytest

from config.schema import COMMON_ERRORS
from tiles.api.urls import router

pytestmark = pytest.mark.django_db


def routed_paths() -> set[str]:
    """The router's URL patterns, written the way the schema writes paths."""
    paths = set()
    for pattern in router.urls:
        regex = pattern.pattern.regex.pattern.lstrip("^").rstrip("$")
        regex = re.sub(r"\(\?P<pk>[^)]*\)", "{id}", regex)
        regex = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", regex)
        paths.add("/api/v1/" + regex.replace("\\.", "."))
    return paths


def test_every_tile_route_is_documented(api_client):
    schema = json.loads(api_client.get("/api/schema/", {"format": "json"}).content)
    documented = set(schema["paths"])
    expected = routed_paths()
    assert len(expected) == 4 * 13  # 13 endpoints for each of the four layers
    assert expected <= documented, sorted(expected - documented)
    for standalone in ("sources", "colormaps", "formats"):
        assert f"/api/large-image/{standalone}" in documented
    tile = schema["paths"]["/api/v1/tiles/masks/{id}/tiles/{z}/{x}/{y}.{fmt}"]["get"]
    names = {p["name"] for p in tile["parameters"]}
    assert {"id", "z", "x", "y", "fmt", "band", "palette", "min", "max", "style"} <= names
    assert set(tile["responses"]) == {"200", "409", *COMMON_ERRORS}
    assert set(tile["responses"]["200"]["content"]) == {"image/png", "image/jpeg", "image/tiff"}
    assert set(tile["responses"]["400"]["content"]) == {"application/json"}
    fmt = next(p for p in tile["parameters"] if p["name"] == "fmt")
    assert sorted(fmt["schema"]["enum"]) == ["jpeg", "jpg", "png", "tif", "tiff"]
