from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from depth_images import selectors
from depth_images.api import serializers as s
from depth_images.api.rendering import NPYRenderer, PNGRenderer, frame_response

FRAME_HELP = (
    "The dataset's rows with depth_min <= depth <= depth_max (default: all), stacked top to "
    "bottom by increasing depth: one image row per depth, {width} pixels wide."
)

# DRF's ?format= override exists for every multi-renderer view; the path already says it.
NO_FORMAT = OpenApiParameter("format", exclude=True)


class FrameView(APIView):
    kind = ""
    options_class = s.FrameSerializer

    def get(self, request: Request, pk) -> HttpResponse:
        dataset = selectors.dataset_for(request.user, pk)
        if dataset is None:
            raise NotFound("no such depth dataset")
        options = self.options_class(data=request.query_params)
        options.is_valid(raise_exception=True)
        return frame_response(dataset, options.validated_data, self.kind)


class FramePNGView(FrameView):
    kind = "png"
    renderer_classes = [JSONRenderer, PNGRenderer]

    @extend_schema(
        summary="Rows in a depth range as one colormapped PNG",
        description=FRAME_HELP.format(width="150"),
        parameters=[s.FrameSerializer, NO_FORMAT],
        responses={
            (200, "image/png"): OpenApiTypes.BINARY,
            404: OpenApiResponse(description="No such dataset, or no rows in the range."),
        },
    )
    def get(self, request: Request, pk) -> HttpResponse:
        return super().get(request, pk)


class FrameNPYView(FrameView):
    kind = "npy"
    options_class = s.DepthRangeSerializer
    renderer_classes = [JSONRenderer, NPYRenderer]

    @extend_schema(
        summary="Rows in a depth range as a uint8 (rows, 150) .npy array",
        description=FRAME_HELP.format(width="150"),
        parameters=[s.DepthRangeSerializer, NO_FORMAT],
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            404: OpenApiResponse(description="No such dataset, or no rows in the range."),
        },
    )
    def get(self, request: Request, pk) -> HttpResponse:
        return super().get(request, pk)
