"""The project's URLs plus django-large-image's own viewsets, for ``bench/tiles.py`` only.

``PlainViewSet`` is django-large-image's documented example (``ImageFileDetailViewSet``:
``ListModelMixin`` + ``GenericViewSet`` + ``LargeImageFileDetailMixin`` with a ``queryset``
and ``FILE_FIELD_NAME``) over ``TiledImage``. It names no authentication or permission
classes, so, dropped into this project, it gets the project's ``REST_FRAMEWORK`` defaults:
token or session authentication, authenticated users only. It has nothing else of ours: no
owner scoping, no parameter checks, no default style. It is the bench's baseline.

``PlainNoAuthViewSet`` is the same with ``AllowAny`` and no authentication: context only.
``PlainUploadViewSet`` serves a job's original upload, to show what large-image does with the
unconverted file.
"""

from django.urls import include, path
from django_large_image.rest import LargeImageFileDetailMixin
from rest_framework import mixins, serializers, viewsets
from rest_framework.permissions import AllowAny
from rest_framework.routers import SimpleRouter

from config.urls import urlpatterns as project_urls
from predictions.models import PredictionJob
from tiles.api.urls import urlpatterns as tiles_urls
from tiles.models import TiledImage


class TiledImageSerializer(serializers.ModelSerializer):
    class Meta:
        model = TiledImage
        fields = ["id", "layer", "width", "height"]


class PlainViewSet(mixins.ListModelMixin, viewsets.GenericViewSet, LargeImageFileDetailMixin):
    queryset = TiledImage.objects.all()
    serializer_class = TiledImageSerializer
    FILE_FIELD_NAME = "file"


class PlainNoAuthViewSet(PlainViewSet):
    authentication_classes = []
    permission_classes = [AllowAny]


class PlainUploadViewSet(viewsets.GenericViewSet, LargeImageFileDetailMixin):
    queryset = PredictionJob.objects.all()
    FILE_FIELD_NAME = "input_image"


# The plain routes sit where a viewset dropped into this project would: under api/v1/, right
# before our tile routes. Resolving either URL walks the same project routes first (ours also
# walks the plain ones): URL resolution is linear, so a plain route first in the list would
# save it ~0.08 ms a request that has nothing to do with the viewsets.
plain_router = SimpleRouter(trailing_slash=False)
plain_router.register("bench/plain/tiled", PlainViewSet, basename="bench-plain")
plain_router.register("bench/plain-noauth/tiled", PlainNoAuthViewSet, basename="bench-noauth")
upload_router = SimpleRouter(trailing_slash=False)
upload_router.register("bench/plain/uploads", PlainUploadViewSet, basename="bench-upload")

at = next(i for i, p in enumerate(project_urls) if getattr(p, "urlconf_name", None) is tiles_urls)
urlpatterns = [
    *project_urls[:at],
    path("api/v1/", include(plain_router.urls)),
    *project_urls[at:],
    *upload_router.urls,
]
