"""Legacy endpoints: the original depth-image service's two, kept with their paths and shapes."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from depth_images import selectors
from depth_images.api import serializers as s
from depth_images.api.datasets import UPLOAD_RESPONSES, upload_response
from depth_images.api.rendering import legacy_images

DEFAULT_DATASET = "default"


class LegacyUploadView(APIView):
    # Files come as multipart only: a urlencoded body cannot carry them.
    parser_classes = [MultiPartParser]

    @extend_schema(
        summary="Upload a depth CSV (original endpoint)",
        description=f"As POST /api/v1/depth-datasets/, into the dataset `{DEFAULT_DATASET}` "
        "unless `dataset` names another. 200 whenever the rows were stored in the request.",
        request=s.LegacyUploadSerializer,
        responses={code: r for code, r in UPLOAD_RESPONSES.items() if code != 201},
    )
    def post(self, request: Request) -> Response:
        body = s.LegacyUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return upload_response(
            request,
            body.validated_data["dataset"],
            body.validated_data["file"],
            created_status=status.HTTP_200_OK,
        )


class LegacyImagesView(APIView):
    @extend_schema(
        summary="One colormapped PNG per depth in a range (original endpoint)",
        description="Base64 PNGs (RGB, one row of 150 pixels each) for every depth with "
        "depth_min <= depth <= depth_max, in depth order.",
        parameters=[
            OpenApiParameter("depth_min", OpenApiTypes.NUMBER, OpenApiParameter.PATH),
            OpenApiParameter("depth_max", OpenApiTypes.NUMBER, OpenApiParameter.PATH),
            OpenApiParameter(
                "dataset", OpenApiTypes.STR, description=f"default `{DEFAULT_DATASET}`"
            ),
            s.RenderSerializer,
        ],
        responses={
            200: s.LegacyImagesSerializer,
            404: OpenApiResponse(description="No such dataset, or no rows in the range."),
        },
    )
    def get(self, request: Request, depth_min: str, depth_max: str) -> Response:
        options = s.FrameSerializer(
            data={**request.query_params.dict(), "depth_min": depth_min, "depth_max": depth_max}
        )
        options.is_valid(raise_exception=True)
        name = request.query_params.get("dataset", DEFAULT_DATASET)
        dataset = selectors.own_dataset_named(request.user, name)
        if dataset is None:
            raise NotFound(f"no depth dataset named {name!r}")
        return Response(legacy_images(dataset, options.validated_data))
