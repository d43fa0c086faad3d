"""Batches: many images in one request, one job per image (``services/batches.py``)."""

import json

from django.conf import settings
from django.http import QueryDict, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from config.rest import OwnedObjectsMixin
from predictions.api import serializers as s
from predictions.api.predictions import limit_error
from predictions.models import Batch
from predictions.services import batches, jobs, limits

FILE_FIELD = "input_image"
NOT_IN_A_BATCH = ("input_masks",)


class BatchJobSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    input_image_name = serializers.CharField()
    status = serializers.CharField()
    error_message = serializers.CharField()
    num_cells_detected = serializers.IntegerField(allow_null=True)


class BatchSerializer(serializers.ModelSerializer):
    total = serializers.IntegerField(read_only=True)
    counts = serializers.DictField(child=serializers.IntegerField(), read_only=True)
    finished = serializers.IntegerField(read_only=True)
    progress = serializers.FloatField(read_only=True, help_text="Finished jobs of the total.")
    done = serializers.BooleanField(read_only=True)
    jobs = serializers.SerializerMethodField()

    class Meta:
        model = Batch
        fields = ["id", "created_at", "total", "counts", "finished", "progress", "done"]
        fields += ["jobs", "rejected"]
        read_only_fields = fields

    def to_representation(self, instance):
        for key, value in batches.progress(instance).items():
            setattr(instance, key, value)
        return super().to_representation(instance)

    @extend_schema_field(BatchJobSerializer(many=True))
    def get_jobs(self, batch: Batch) -> list[dict]:
        rows = batch.jobs.order_by("created_at", "id").values(
            "id", "input_image_name", "status", "error_message", "num_cells_detected"
        )
        return BatchJobSerializer(rows, many=True).data


class BatchCreateSerializer(serializers.Serializer):
    """The schema of a batch upload: the job parameters, and ``input_image`` repeated."""

    input_image = serializers.ListField(
        child=serializers.FileField(),
        help_text="Images, the field repeated once per file; or one ZIP of images.",
    )


class BatchViewSet(
    OwnedObjectsMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = BatchSerializer
    parser_classes = [MultiPartParser]
    owned_model = Batch
    throttle_scope = "job_create"

    def get_throttles(self):
        return [ScopedRateThrottle()] if self.action == "create" else []

    @extend_schema(
        summary="Upload many images (or one ZIP) as a batch: one job per image",
        request={"multipart/form-data": BatchCreateSerializer},
        responses={201: BatchSerializer},
    )
    def create(self, request: Request) -> Response:
        params = _job_parameters(request)
        files, rejected = _files(request)
        try:
            accepted = []
            for upload in files:
                # The form itself, one file at a time: what a job's upload would be.
                data = params.copy()
                data[FILE_FIELD] = upload
                job = s.PredictionJobCreateSerializer(data=data)
                if job.is_valid():
                    accepted.append((job.validated_data["image"], job.to_job_request()))
                else:
                    rejected.append(batches.Rejected(upload.name or "", _plain(job.errors)))
            if not accepted:
                raise ValidationError({FILE_FIELD: [_refused(r) for r in rejected]})
            try:
                batch = batches.create_batch(request.user, accepted, rejected)
            except limits.LimitExceeded as exc:
                raise limit_error(exc) from exc
        finally:
            batches.close_all(files)
        return Response(BatchSerializer(batch).data, status=201)

    def perform_destroy(self, instance: Batch) -> None:
        # Each job is cancelled if it still runs, and its files deleted, as a job's DELETE does.
        for job_id in instance.jobs.values_list("id", flat=True):
            jobs.delete_job(job_id)
        instance.delete()

    @extend_schema(
        summary="ZIP of every completed job's files, a folder per job",
        parameters=[
            OpenApiParameter(
                "formats",
                str,
                description=f"Comma-separated, of {', '.join(batches.FORMATS)}; default "
                f"{','.join(batches.DEFAULT_FORMATS)}.",
            )
        ],
        responses={(200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY)},
    )
    @action(detail=True, methods=["get"])
    def download_results(self, request: Request, pk=None) -> StreamingHttpResponse:
        batch = self.get_object()
        try:
            formats = batches.parse_formats(request.query_params.get("formats"))
        except batches.BatchError as exc:
            raise ValidationError({exc.param: [str(exc)]}) from exc
        entries = batches.archive_entries(batch.jobs.order_by("created_at", "id"), formats)
        stream = batches.stream_zip(entries)
        response = StreamingHttpResponse(stream, content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="batch_{batch.id}.zip"'
        return response

    @extend_schema(
        summary="Every cell of every completed job, one CSV row each",
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR)},
    )
    def metrics_csv(self, request: Request, pk=None) -> StreamingHttpResponse:
        batch = self.get_object()
        rows = batches.metrics_csv(list(batch.jobs.order_by("created_at", "id")))
        response = StreamingHttpResponse(rows, content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="batch_{batch.id}_metrics.csv"'
        return response


def _job_parameters(request: Request) -> QueryDict:
    """The form without its files: every file is validated with it, as a job's upload is
    (repeated fields, empty values and all)."""
    refused = {name: ["uploaded masks are not taken in a batch"] for name in NOT_IN_A_BATCH
               if name in request.data or name in request.FILES}  # fmt: skip
    if refused:
        raise ValidationError(refused)
    params = QueryDict(mutable=True)
    for name in request.data:
        if name not in request.FILES:
            params.setlist(name, request.data.getlist(name))
    return params


def _files(request: Request) -> tuple[list, list[batches.Rejected]]:
    files = request.FILES.getlist(FILE_FIELD)
    most = min(settings.CELLSERVE_MAX_BATCH_FILES, settings.CELLSERVE_MAX_ACTIVE_JOBS)
    try:
        if len(files) == 1 and batches.is_zip(files[0]):
            return batches.unpack_zip(
                files[0],
                most_files=most,
                max_member_bytes=settings.CELLSERVE_MAX_UPLOAD_BYTES,
                max_total_bytes=settings.CELLSERVE_MAX_REQUEST_BYTES,
            )
        batches.check_count(len(files), most)
    except batches.BatchError as exc:
        raise ValidationError({exc.param: [str(exc)]}) from exc
    return list(files), []


def _plain(errors) -> dict:
    """DRF's error details as plain JSON (they are stored with the batch)."""
    return json.loads(json.dumps(errors))


def _refused(rejected: batches.Rejected) -> str:
    problems = "; ".join(
        f"{field}: {' '.join(map(str, messages)) if isinstance(messages, list) else messages}"
        for field, messages in rejected.errors.items()
    )
    return f"{rejected.name}: {problems}"
