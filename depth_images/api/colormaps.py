from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from depth_images.api.serializers import ColormapListSerializer
from depth_images.services import colormaps


class ColormapListView(APIView):
    @extend_schema(
        summary="Colormap names accepted by the depth image endpoints",
        description="Every matplotlib colormap (with its reversed `_r` twin). A custom one is "
        "given as `colors=` instead of `colormap=`.",
        responses={200: ColormapListSerializer},
    )
    def get(self, request: Request) -> Response:
        return Response(
            {"default": colormaps.DEFAULT_COLORMAP, "colormaps": colormaps.available_colormaps()}
        )
