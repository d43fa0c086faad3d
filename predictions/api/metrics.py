import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from predictions import selectors
from predictions.api.predictions import read_json, require_completed
from predictions.api.serializers import ShapeAnalysisSerializer


class ShapeAnalysisView(APIView):
    @extend_schema(
        summary="Shape analysis of every cell of a completed job",
        parameters=[OpenApiParameter("job_id", OpenApiTypes.UUID, required=True)],
        responses={200: ShapeAnalysisSerializer},
    )
    def get(self, request: Request) -> Response:
        job_id = request.query_params.get("job_id")
        if not job_id:
            raise ValidationError({"job_id": ["this query parameter is required"]})
        try:
            job_uuid = uuid.UUID(job_id)
        except ValueError:
            raise ValidationError(
                {"job_id": [f"{job_id!r} is not a valid job id (UUID)"]}
            ) from None
        job = selectors.job_for(request.user, job_uuid)
        if job is None:
            raise NotFound("no such job")
        require_completed(job)
        return Response(read_json(job.result_shape_analysis))
