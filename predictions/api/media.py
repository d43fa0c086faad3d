from pathlib import PurePosixPath

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.views import APIView

from config.media import serve_file
from predictions import selectors
from predictions.models import PredictionJob

# The name a download gets: what the user uploaded, else the stored file's own name.
UPLOAD_NAMES = {"input_image": "input_image_name", "input_masks": "input_masks_name"}


def download_name(job: PredictionJob, field: str) -> str:
    """The uploaded name with the extension of what the file is (x.html holding a PNG is
    x.png), or the stored file's own name."""
    stored = PurePosixPath(getattr(job, field).name)
    original = getattr(job, UPLOAD_NAMES[field], "") if field in UPLOAD_NAMES else ""
    if not original:
        return stored.name
    return PurePosixPath(original.replace("\\", "/")).stem[:200] + stored.suffix


class MediaView(APIView):
    @extend_schema(
        summary="A stored file of one of your jobs (the /media/ URLs the API returns)",
        description="Always an attachment with the file's real type; owner and staff only.",
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            404: OpenApiResponse(description="No such file, or not yours."),
        },
    )
    def get(self, request: Request, path: str):
        found = selectors.job_with_file(request.user, path)
        if found is None:
            raise NotFound("no such file")
        job, field = found
        return serve_file(getattr(job, field), download_name(job, field))
