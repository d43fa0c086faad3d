import json
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, Throttled
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.throttling import ScopedRateThrottle

from config.exceptions import NotReady
from config.filters import StrictFilterBackend
from config.media import serve_file
from config.rest import OwnedObjectsMixin
from predictions.api import serializers as s
from predictions.api.filters import PredictionJobFilter, StrictOrderingFilter
from predictions.models import JobStatus, PredictionJob
from predictions.services import evaluate, images, jobs, limits, measure


def require_completed(job: PredictionJob) -> None:
    if job.status == JobStatus.COMPLETED:
        return
    reason = f": {job.error_message}" if job.error_message else ""
    raise NotReady(
        {
            "detail": f"job is {job.status}{reason}; results exist only once it is completed",
            "status": job.status,
        }
    )


def read_json(field) -> dict:
    with field.open("rb") as handle:
        return json.load(handle)


class StorageQuotaExceeded(PermissionDenied):
    default_code = "storage_quota_exceeded"


def check_limits(user, incoming_bytes: int) -> None:
    try:
        limits.check_new_job(user, incoming_bytes)
    except limits.LimitExceeded as exc:
        raise limit_error(exc) from exc


def limit_error(exc: limits.LimitExceeded) -> Exception:
    """A 429 while waiting helps (too many jobs at once), else a 403 (the storage quota)."""
    if isinstance(exc, limits.TooManyActiveJobs):
        return Throttled(wait=exc.retry_after, detail=str(exc))
    return StorageQuotaExceeded(str(exc))


BINARY = OpenApiResponse(OpenApiTypes.BINARY, description="The file, as an attachment.")


def download_responses(content_type: str) -> dict:
    return {(200, content_type): BINARY, 409: NOT_READY}


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
    # Files come as multipart only: a urlencoded body cannot carry them.
    parser_classes = [MultiPartParser]
    filterset_class = PredictionJobFilter
    filter_backends = [StrictFilterBackend, StrictOrderingFilter]
    ordering_fields = ["created_at", "completed_at", "processing_time", "num_cells_detected"]
    ordering = ["-created_at"]
    throttle_scope = "job_create"

    owned_model = PredictionJob

    def get_throttles(self):
        return [ScopedRateThrottle()] if self.action in ("create", "register") else []

    @extend_schema(
        summary="Upload an image and queue its segmentation",
        request=s.PredictionJobCreateSerializer,
        responses={201: s.PredictionJobCreatedSerializer},
    )
    def create(self, request: Request) -> Response:
        serializer = s.PredictionJobCreateSerializer(data=request.data)
        return self._created(request, serializer)

    def _created(self, request: Request, serializer) -> Response:
        serializer.is_valid(raise_exception=True)
        image, masks = serializer.validated_data["image"], serializer.validated_data.get("masks")
        with transaction.atomic():
            check_limits(request.user, image.file.size + (masks.file.size if masks else 0))
            job = jobs.create_job(request.user, image, serializer.to_job_request(), masks)
        return Response(s.PredictionJobCreatedSerializer(job).data, status=201)

    @extend_schema(
        summary="Queue a job on an image already on the server (staff)",
        request=s.PredictionJobRegisterSerializer,
        responses={201: s.PredictionJobCreatedSerializer},
    )
    @action(
        detail=False,
        methods=["post"],
        permission_classes=[IsAdminUser],
        parser_classes=[MultiPartParser, FormParser, JSONParser],
    )
    def register(self, request: Request) -> Response:
        """A slide on the server's disk becomes a job without travelling through HTTP."""
        context = {"roots": settings.CELLSERVE_IMPORT_ROOTS}
        serializer = s.PredictionJobRegisterSerializer(data=request.data, context=context)
        try:
            return self._created(request, serializer)
        finally:
            serializer.close_source()

    def perform_destroy(self, instance: PredictionJob) -> None:
        # A running job is cancelled first; its worker can no longer store anything.
        jobs.delete_job(instance.pk)

    @extend_schema(
        summary="Cancel a pending or processing job",
        request=None,
        responses={200: s.JobStatusSerializer, 409: NOT_READY},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk=None) -> Response:
        job = self.get_object()
        try:
            job = jobs.cancel(job.pk)
        except jobs.JobFinished as exc:
            raise NotReady({"detail": str(exc), "status": job.status}) from exc
        return Response(s.JobStatusSerializer(job).data)

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
        upload = body.validated_data["ground_truth"]
        s.validated_upload("ground_truth", upload, images.validate_labels, shape=job.mask_shape)
        # The header matched the job's own mask shape, so decoding is bounded by the image.
        truth = images.decode_labels(
            upload, job.mask_shape, max_pixels=settings.CELLSERVE_MAX_IMAGE_PIXELS
        )
        with job.result_masks.open("rb") as handle:
            predicted = images.load_npy(handle.read())
        return Response(evaluate.evaluate(truth, predicted))

    def _download(self, action_name: str) -> HttpResponse:
        job = self.get_object()
        require_completed(job)
        field_name, filename = jobs.DOWNLOADS[action_name]
        field = getattr(job, field_name)
        if not field:
            reason = job.omitted_outputs.get(action_name.removeprefix("download_"))
            raise NotFound(reason or "this job has no such result file")
        # A tiled job's overlay is a TIFF: the attachment keeps the stored file's type.
        named = filename.format(id=job.id, stem=Path(job.input_image_name or "image").stem)
        name = Path(named).with_suffix(Path(field.name).suffix).name
        return serve_file(field, name)

    @extend_schema(
        summary="PNG overlay: colored cells, white boundaries",
        responses=download_responses("image/png"),
    )
    @action(detail=True, methods=["get"])
    def download_segmented_image(self, request: Request, pk=None) -> HttpResponse:
        return self._download("download_segmented_image")

    @extend_schema(
        summary="ZIP of per-cell 16-bit TIFFs", responses=download_responses("application/zip")
    )
    @action(detail=True, methods=["get"])
    def download_individual_cells(self, request: Request, pk=None) -> HttpResponse:
        return self._download("download_individual_cells")

    @extend_schema(
        summary="Label masks (.npy, 0 background, 1..N)",
        responses=download_responses("application/octet-stream"),
    )
    @action(detail=True, methods=["get"])
    def download_masks(self, request: Request, pk=None) -> HttpResponse:
        return self._download("download_masks")

    @extend_schema(
        summary="Flow fields (.npy, float32, (3, H, W))",
        responses=download_responses("application/octet-stream"),
    )
    @action(detail=True, methods=["get"])
    def download_flows(self, request: Request, pk=None) -> HttpResponse:
        return self._download("download_flows")

    @extend_schema(
        summary="QuPath GeoJSON: one detection per cell, every metric under measurements",
        # JSON (clients parse +json types), though sent as an attachment.
        responses={
            (200, "application/geo+json"): OpenApiResponse(
                OpenApiTypes.OBJECT, description="A GeoJSON FeatureCollection, as an attachment."
            ),
            409: NOT_READY,
        },
    )
    @action(detail=True, methods=["get"])
    def download_geojson(self, request: Request, pk=None) -> HttpResponse:
        return self._download("download_geojson")

    @extend_schema(
        summary="ImageJ/Fiji ROI set (.zip of .roi polygons, cell_0001, ...)",
        responses=download_responses("application/zip"),
    )
    @action(detail=True, methods=["get"])
    def download_rois(self, request: Request, pk=None) -> HttpResponse:
        return self._download("download_rois")

    @extend_schema(
        summary="Label image as OME-TIFF (physical pixel size; pyramidal when large)",
        responses=download_responses("image/tiff"),
    )
    @action(detail=True, methods=["get"])
    def download_labels(self, request: Request, pk=None) -> HttpResponse:
        return self._download("download_labels")

    @extend_schema(
        summary="Per-cell CSV: every metric, one row per cell",
        responses=download_responses("text/csv"),
    )
    @action(detail=True, methods=["get"])
    def download_csv(self, request: Request, pk=None) -> HttpResponse:
        return self._download("download_csv")

    @extend_schema(
        summary="Cellpose GUI file (<image>_seg.npy), to correct the result in Cellpose",
        responses=download_responses("application/octet-stream"),
    )
    @action(detail=True, methods=["get"])
    def download_seg(self, request: Request, pk=None) -> HttpResponse:
        return self._download("download_seg")
