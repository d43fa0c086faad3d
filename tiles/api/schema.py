"""OpenAPI responses for django-large-image's actions, which declare only their parameters.

Errors (JSON, whatever the success type) are added to every operation by config.schema.
"""

from django_large_image.rest.serializers import TileMetadataSerializer
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)

from tiles.api.params import ACTION_PARAMS, query_serializer, style_schema

# The image formats the tile, thumbnail and region endpoints serve (the path's {fmt}).
IMAGE_FORMATS = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "tif": "image/tiff",
    "tiff": "image/tiff",
}
IMAGE = OpenApiResponse(OpenApiTypes.BINARY, description="the encoded image")
IMAGE_RESPONSES = {(200, kind): IMAGE for kind in sorted(set(IMAGE_FORMATS.values()))}
FORMAT = OpenApiParameter("fmt", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(IMAGE_FORMATS))
JSON = OpenApiResponse(OpenApiTypes.OBJECT)
NOT_READY = OpenApiResponse(OpenApiTypes.OBJECT, description="not built yet: retry shortly")


class TileMetadataSchema(TileMetadataSerializer):
    """The package's serializer, with the type of its free-form field declared."""

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_additional_metadata(self, source):
        return super().get_additional_metadata(source)


# Every query parameter django-large-image declares somewhere; each action documents its own.
LIBRARY_QUERY_PARAMS = {
    "projection", "source", "palette", "band", "min", "max", "nodata", "scheme", "style",
    "left", "right", "top", "bottom", "units", "onlyMinMax", "bins", "density", "format",
    "max_width", "max_height",
}  # fmt: skip


def _parameters(action: str) -> list:
    """The action's query parameters, from the serializer that checks them."""
    own = ACTION_PARAMS[action]
    unused = sorted(LIBRARY_QUERY_PARAMS - set(own))
    return [query_serializer(action), *(OpenApiParameter(n, exclude=True) for n in unused)]


def _json(action: str, ok=None):
    return extend_schema(
        responses={200: ok or JSON, 409: NOT_READY}, parameters=_parameters(action)
    )


def _image(action: str):
    return extend_schema(
        responses={**IMAGE_RESPONSES, 409: NOT_READY}, parameters=[FORMAT, *_parameters(action)]
    )


HISTOGRAM = OpenApiResponse(
    {
        "oneOf": [
            {"type": "array", "items": {"type": "object", "additionalProperties": True}},
            {"type": "object", "additionalProperties": True},
        ]
    },
    description="one entry per band; with onlyMinMax, the statistics of every band",
)

IMAGE_ACTIONS = ("tile", "thumbnail", "region")
RESPONSES = {"tiles_metadata": TileMetadataSchema, "histogram": HISTOGRAM}
tile_layer_schema = extend_schema_view(
    **{
        action: _image(action) if action in IMAGE_ACTIONS else _json(action, RESPONSES.get(action))
        for action in ACTION_PARAMS
    }
)
standalone_schema = extend_schema_view(get=extend_schema(responses=JSON))


def style_parameters_are_json(result, generator, request, public):
    """A postprocessing hook: ``style`` is a JSON document, described by its JSON Schema."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["TileStyle"] = style_schema()
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "style" and parameter["in"] == "query":
                    parameter.pop("schema", None)
                    parameter["content"] = {
                        "application/json": {"schema": {"$ref": "#/components/schemas/TileStyle"}}
                    }
    return result
