"""OpenAPI responses for django-large-image's actions, which declare only their parameters."""

from django_large_image.rest.serializers import TileMetadataSerializer
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)

IMAGE = OpenApiResponse(OpenApiTypes.BINARY, description="the encoded image")
JSON = OpenApiResponse(OpenApiTypes.OBJECT)
ERRORS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="a parameter the image cannot take"),
    404: OpenApiResponse(OpenApiTypes.OBJECT, description="no such object (or not yours)"),
    409: OpenApiResponse(OpenApiTypes.OBJECT, description="not built yet: retry shortly"),
}


class TileMetadataSchema(TileMetadataSerializer):
    """The package's serializer, with the type of its free-form field declared."""

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_additional_metadata(self, source):
        return super().get_additional_metadata(source)


def _responses(ok):
    return extend_schema(responses={200: ok, **ERRORS})


tile_layer_schema = extend_schema_view(
    tiles_metadata=_responses(TileMetadataSchema),
    tile=_responses(IMAGE),
    tile_corners=_responses(JSON),
    thumbnail=_responses(IMAGE),
    region=_responses(IMAGE),
    pixel=_responses(JSON),
    histogram=_responses(OpenApiResponse(OpenApiTypes.OBJECT, description="one entry per band")),
    metadata=_responses(JSON),
    metadata_internal=_responses(JSON),
    bands=_responses(JSON),
    band=_responses(JSON),
    frames=_responses(JSON),
    tiffdump=_responses(JSON),
)
standalone_schema = extend_schema_view(get=extend_schema(responses=JSON))
