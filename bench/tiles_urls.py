"""The project's URLs plus django-large-image's documented viewset over ``TiledImage`` (the
baseline of ``bench/tiles.py``: the project's default authentication and permissions, nothing
else of ours), the same open to anyone (context), and one serving a job's original upload."""

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


plain_router = SimpleRouter(trailing_slash=False)
plain_router.register("bench/plain/tiled", PlainViewSet, basename="bench-plain")
plain_router.register("bench/plain-noauth/tiled", PlainNoAuthViewSet, basename="bench-noauth")
plain_router.register("bench/plain/uploads", PlainUploadViewSet, basename="bench-upload")

# Where a viewset dropped into this project would sit: under api/v1/, right before our routes,
# so both walk the same project routes first (first in the list would save ~0.08 ms a request).
at = next(i for i, p in enumerate(project_urls) if getattr(p, "urlconf_name", None) is tiles_urls)
urlpatterns = [*project_urls[:at], path("api/v1/", include(plain_router.urls)), *project_urls[at:]]
