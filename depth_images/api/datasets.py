from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from config.exceptions import NotReady
from config.rest import OwnedObjectsMixin
from depth_images.api import serializers as s
from depth_images.models import DatasetStatus, DepthDataset
from depth_images.services import depth_csv, ingest

UPLOAD_RESPONSES = {
    200: OpenApiResponse(s.UploadResponseSerializer, description="Added to an existing dataset."),
    201: OpenApiResponse(s.UploadResponseSerializer, description="A new dataset was created."),
    202: OpenApiResponse(
        s.UploadResponseSerializer, description="Large file: queued for a worker; poll status_url."
    ),
    409: OpenApiResponse(description="An earlier upload into this dataset is still queued."),
}


def upload_response(request: Request, name: str, file, *, created_status: int) -> Response:
    """Ingest (or queue) ``file`` into the caller's dataset ``name``; the shared upload reply."""
    try:
        outcome = ingest.upload(request.user, name, file)
    except depth_csv.DepthCSVError as exc:
        raise ValidationError({"file": [str(exc)]}) from exc
    except ingest.DatasetBusy as exc:
        raise NotReady(str(exc)) from exc
    status_url = reverse("depthdataset-detail", args=[outcome.dataset.pk], request=request)
    result = outcome.result
    if result is None:
        code = status.HTTP_202_ACCEPTED
        message = f"queued: a worker ingests the file into {name!r}; poll status_url"
    else:
        code = created_status if outcome.created else status.HTTP_200_OK
        message = (
            f"ingested {result.rows_in_file} rows into {name!r}: {result.rows_added} added, "
            f"{result.rows_replaced} replaced, {result.skipped_empty_rows} empty rows skipped"
        )
    body = {
        "message": message,
        "dataset": s.DepthDatasetSerializer(outcome.dataset).data,
        "ingest": result.as_dict() if result else None,
        "status_url": status_url,
    }
    return Response(body, status=code, headers={"Location": status_url})


@extend_schema_view(
    list=extend_schema(summary="List your depth datasets"),
    retrieve=extend_schema(summary="One depth dataset (poll it after a 202)"),
    destroy=extend_schema(summary="Delete a depth dataset and all its rows"),
)
class DepthDatasetViewSet(
    OwnedObjectsMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = s.DepthDatasetSerializer
    # Files come as multipart only: a urlencoded body cannot carry them.
    parser_classes = [MultiPartParser]
    filterset_fields = ["status", "name"]
    owned_model = DepthDataset

    @extend_schema(
        summary="Upload a CSV into a named dataset (rows at existing depths are replaced)",
        request=s.DepthUploadSerializer,
        responses=UPLOAD_RESPONSES,
    )
    def create(self, request: Request) -> Response:
        body = s.DepthUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return upload_response(
            request,
            body.validated_data["name"],
            body.validated_data["file"],
            created_status=status.HTTP_201_CREATED,
        )

    def perform_destroy(self, instance: DepthDataset) -> None:
        with transaction.atomic():
            locked = DepthDataset.objects.select_for_update().get(pk=instance.pk)
            if locked.status == DatasetStatus.PROCESSING:
                raise NotReady("a worker is ingesting into this dataset; delete it after")
            ingest.delete_dataset(locked)
