import json

from django.db import transaction
from django.db.models import Count
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from config.rest import OwnedObjectsMixin
from predictions.api import serializers as s
from predictions.models import JobStatus, PredictionJob
from predictions.services import evaluate, images, jobs, measure


class JobNotReady(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "job_not_ready"


def require_completed(job: PredictionJob) -> None:
    if job.status == JobStatus.COMPLETED:
        return
    reason = f": {job.error_message}" if job.error_message else ""
    raise JobNotReady(
        {
            "detail": f"job is {job.status}{reason}; results exist only once it is completed",
            "status": job.status,
        }
    )


def read_json(field) -> dict:
    with field.open("rb") as handle:
        return json.load(handle)


def file_download(field, filename: str, content_type: str) -> FileResponse:
    if not field:
        raise NotFound("this job has no such result file")
    return FileResponse(
        field.open("rb"), as_attachment=True, filename=filename, content_type=content_type
    )


BINARY = OpenApiResponse(OpenApiTypes.BINARY, description="The file, as an attachment.")
NOT_READY = OpenApiResponse(description="The job has not completed (or failed).")


@extend_schema_view(
    list=extend_schema(summary="List your prediction jobs"),
    retrieve=extend_schema(summary="One prediction job"),
    destroy=extend_schema(summary="Delete a job and its files"),
)
class PredictionJobViewSet(
    OwnedObjectsMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = s.PredictionJobSerializer
    parser_classes = [MultiPartParser, FormParser]
    filterset_fields = ["status", "model_type"]

    owned_model = PredictionJob

    @extend_schema(
        summary="Upload an image and queue its segmentation",
        request=s.PredictionJobCreateSerializer,
        responses={201: s.PredictionJobCreatedSerializer},
    )
    def create(self, request: Request) -> Response:
        serializer = s.PredictionJobCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            job = jobs.create_job(
                request.user,
                serializer.validated_data["input_image"],
                serializer.to_job_request(),
                serializer.validated_data.get("input_masks"),
            )
        return Response(s.PredictionJobCreatedSerializer(job).data, status=201)

    def perform_destroy(self, instance: PredictionJob) -> None:
        if instance.status == JobStatus.PROCESSING:
            raise JobNotReady({"detail": "job is processing; delete it once it has finished"})
        jobs.delete_job(instance)

    @extend_schema(summary="Job status", responses={200: s.JobStatusSerializer})
    @action(detail=True, methods=["get"])
    def status(self, request: Request, pk=None) -> Response:
        return Response(s.JobStatusSerializer(self.get_object()).data)

    @extend_schema(
        summary="Result file URLs and per-cell metrics",
        responses={200: s.JobResultsSerializer, 409: NOT_READY},
    )
    @action(detail=True, methods=["get"])
    def results(self, request: Request, pk=None) -> Response:
        job = self.get_object()
        require_completed(job)
        job.cell_metrics = [
            {field: cell[field] for field in measure.RESULT_FIELDS}
            for cell in read_json(job.result_metrics)["individual_metrics"]
        ]
        job.downloads = {
            name: reverse(f"predictionjob-{name.replace('_', '-')}", args=[job.pk], request=request)
            for name in jobs.DOWNLOADS
            if getattr(job, jobs.DOWNLOADS[name][0])
        }
        return Response(s.JobResultsSerializer(job).data)

    @extend_schema(
        summary="Summary and per-cell metrics",
        responses={200: s.JobMetricsSerializer, 409: NOT_READY},
    )
    @action(detail=True, methods=["get"])
    def metrics(self, request: Request, pk=None) -> Response:
        job = self.get_object()
        require_completed(job)
        return Response(read_json(job.result_metrics))

    @extend_schema(summary="Counts of your jobs by status", responses={200: s.JobStatsSerializer})
    @action(detail=False, methods=["get"])
    def stats(self, request: Request) -> Response:
        counts = dict(self.get_queryset().order_by().values_list("status").annotate(n=Count("id")))
        body = {choice: counts.get(choice, 0) for choice in JobStatus.values}
        return Response({"total": sum(body.values()), **body})

    @extend_schema(
        summary="Score the job's masks against ground-truth labels",
        request=s.EvaluateRequestSerializer,
        responses={200: s.EvaluationSerializer, 409: NOT_READY},
    )
    @action(detail=True, methods=["post"])
    def evaluate(self, request: Request, pk=None) -> Response:
        job = self.get_object()
        require_completed(job)
        body = s.EvaluateRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        truth = s.decode_upload(
            body.validated_data["ground_truth"], images.decode_labels, shape=tuple(job.mask_shape)
        )
        with job.result_masks.open("rb") as handle:
            predicted = images.load_npy(handle.read())
        return Response(evaluate.evaluate(truth, predicted))

    def _download(self, action_name: str) -> FileResponse:
        job = self.get_object()
        require_completed(job)
        field, filename, content_type = jobs.DOWNLOADS[action_name]
        return file_download(getattr(job, field), filename.format(id=job.id), content_type)

    @extend_schema(summary="PNG overlay: colored cells, white boundaries", responses={200: BINARY})
    @action(detail=True, methods=["get"])
    def download_segmented_image(self, request: Request, pk=None) -> FileResponse:
        return self._download("download_segmented_image")

    @extend_schema(summary="ZIP of per-cell 16-bit TIFFs", responses={200: BINARY})
    @action(detail=True, methods=["get"])
    def download_individual_cells(self, request: Request, pk=None) -> FileResponse:
        return self._download("download_individual_cells")

    @extend_schema(summary="Label masks (.npy, 0 background, 1..N)", responses={200: BINARY})
    @action(detail=True, methods=["get"])
    def download_masks(self, request: Request, pk=None) -> FileResponse:
        return self._download("download_masks")

    @extend_schema(summary="Flow fields (.npy, float32, (3, H, W))", responses={200: BINARY})
    @action(detail=True, methods=["get"])
    def download_flows(self, request: Request, pk=None) -> FileResponse:
        return self._download("download_flows")
