from django.urls import path
from django_large_image import rest as large_image_rest
from rest_framework.routers import SimpleRouter

from tiles.api.schema import standalone_schema
from tiles.api.viewsets import (
    DepthDatasetTilesViewSet,
    JobInputTilesViewSet,
    JobMaskTilesViewSet,
    JobOverlayTilesViewSet,
)

# django-large-image's action URLs end in file extensions: no trailing slash.
router = SimpleRouter(trailing_slash=False)
router.register("tiles/inputs", JobInputTilesViewSet, basename="tiles-input")
router.register("tiles/overlays", JobOverlayTilesViewSet, basename="tiles-overlay")
router.register("tiles/masks", JobMaskTilesViewSet, basename="tiles-masks")
router.register("tiles/depth-datasets", DepthDatasetTilesViewSet, basename="tiles-depth")

urlpatterns = [*router.urls]


@standalone_schema
class TileSourcesView(large_image_rest.ListTileSourcesView):
    """The large-image readers installed here."""


@standalone_schema
class ColormapsView(large_image_rest.ListColormapsView):
    """Palettes the ``palette`` parameter accepts."""


@standalone_schema
class FormatsView(large_image_rest.ListAvailableFormatsView):
    """Image formats tiles, thumbnails and regions can be encoded in."""


# django-large-image's standalone endpoints, at the paths its own urls module gives them.
standalone_urlpatterns = [
    path("api/large-image/sources", TileSourcesView.as_view(), name="large-image-sources"),
    path("api/large-image/colormaps", ColormapsView.as_view(), name="large-image-colormaps"),
    path("api/large-image/formats", FormatsView.as_view(), name="large-image-formats"),
]
