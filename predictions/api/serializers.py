from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.rest import PresentChoiceField, SingleValuedFormSerializer
from predictions.models import ModelType, PredictionJob
from predictions.services import engines, images, jobs, measure
from predictions.services.jobs import JobRequest


def validated_upload(field: str, upload, validate, **kwargs) -> jobs.Upload:
    """Check an upload with one of the ``images`` validators; problems become 400s on ``field``."""
    try:
        info = validate(
            upload,
            max_pixels=settings.CELLSERVE_MAX_IMAGE_PIXELS,
            decode_budget=settings.CELLSERVE_VALIDATE_DECODE_BYTES,
            **kwargs,
        )
    except images.ImageError as exc:
        raise serializers.ValidationError({field: [str(exc)]}) from exc
    return jobs.Upload(upload, info)


class PredictionJobCreateSerializer(SingleValuedFormSerializer):
    input_image = serializers.FileField(
        allow_empty_file=True,
        help_text=f"{images.IMAGE_FORMATS} image; 8/16-bit; gray, RGB or RGBA.",
    )
    model_type = PresentChoiceField(choices=ModelType.choices, default=ModelType.CPSAM)
    diameter = serializers.FloatField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=2000,
        help_text="Typical cell diameter in pixels; empty or 0 estimates it.",
    )
    flow_threshold = serializers.FloatField(
        default=engines.DEFAULTS.flow_threshold, min_value=0, max_value=10
    )
    cellprob_threshold = serializers.FloatField(
        default=engines.DEFAULTS.cellprob_threshold, min_value=-10, max_value=10
    )
    min_size = serializers.IntegerField(
        default=engines.DEFAULTS.min_size, min_value=0, max_value=10_000_000
    )
    input_masks = serializers.FileField(
        required=False,
        allow_empty_file=True,
        help_text=f"Optional label image ({images.LABEL_FORMATS}) of the image's size: "
        "segmentation is skipped and these masks are measured.",
    )

    def validate(self, attrs):
        # Validated here (headers, and pixels within a memory budget) so that a bad upload
        # is a 400 rather than a failed job; the worker decodes it in full.
        attrs["image"] = validated_upload(
            "input_image", attrs["input_image"], images.validate_image
        )
        if attrs.get("input_masks") is not None:
            attrs["masks"] = validated_upload(
                "input_masks",
                attrs["input_masks"],
                images.validate_labels,
                shape=attrs["image"].info.shape,
            )
        return attrs

    def to_job_request(self) -> JobRequest:
        data = self.validated_data
        params = engines.SegmentationParams(
            diameter=data.get("diameter") or None,
            flow_threshold=data["flow_threshold"],
            cellprob_threshold=data["cellprob_threshold"],
            min_size=data["min_size"],
        )
        return JobRequest(model_type=data["model_type"], params=params)


@extend_schema_field({"type": "string", "format": "uri-reference", "nullable": True})
class FileUrlField(serializers.FileField):
    """The stored file's URL as the seed shows it (``/media/...``), or null when absent."""

    def to_representation(self, value):
        return value.url if value else None


class PredictionJobSerializer(serializers.ModelSerializer):
    input_image = FileUrlField(read_only=True)

    class Meta:
        model = PredictionJob
        fields = [
            "id",
            "status",
            "input_image",
            "model_type",
            "diameter",
            "flow_threshold",
            "cellprob_threshold",
            "min_size",
            "num_cells_detected",
            "processing_time",
            "error_message",
            "created_at",
            "completed_at",
        ]
        read_only_fields = fields


class PredictionJobCreatedSerializer(PredictionJobSerializer):
    class Meta(PredictionJobSerializer.Meta):
        fields = ["id", "status", "input_image", "model_type", "created_at"]
        read_only_fields = fields


class JobStatusSerializer(serializers.ModelSerializer):
    # Present only when there is a message (a failed or cancelled job).
    error_message = serializers.CharField(required=False)
    attempts = serializers.IntegerField(
        read_only=True, help_text="Deliveries to a worker so far (more than 1: a worker was lost)."
    )
    max_attempts = serializers.SerializerMethodField(
        help_text="After this many lost workers the job ends failed."
    )

    class Meta:
        model = PredictionJob
        fields = [
            "id",
            "status",
            "num_cells_detected",
            "processing_time",
            "error_message",
            "attempts",
            "max_attempts",
        ]
        read_only_fields = fields

    def get_max_attempts(self, job) -> int:
        return settings.CELLSERVE_MAX_ATTEMPTS

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not instance.error_message:
            data.pop("error_message")
        return data


def _metric_field(name: str) -> serializers.Field:
    if name in measure.INTEGER_FIELDS:
        return serializers.IntegerField()
    return serializers.FloatField(allow_null=name == "aspect_ratio")


def metric_serializer(name: str, fields: tuple[str, ...]) -> type[serializers.Serializer]:
    """A schema-only serializer for one of measure's documents, from its field list."""
    return type(name, (serializers.Serializer,), {f: _metric_field(f) for f in fields})


CellMetricSerializer = metric_serializer("CellMetricSerializer", measure.RESULT_FIELDS)
IndividualMetricSerializer = metric_serializer(
    "IndividualMetricSerializer", measure.INDIVIDUAL_FIELDS
)
ShapeMetricSerializer = metric_serializer("ShapeMetricSerializer", measure.SHAPE_FIELDS)


class JobResultsSerializer(serializers.ModelSerializer):
    result_masks = FileUrlField(read_only=True)
    result_flows = FileUrlField(read_only=True)
    result_segmented_images = FileUrlField(read_only=True)
    result_tif_archive = FileUrlField(read_only=True)
    result_metrics = FileUrlField(read_only=True)
    cell_metrics = CellMetricSerializer(many=True, read_only=True)
    downloads = serializers.DictField(child=serializers.URLField(), read_only=True)

    class Meta:
        model = PredictionJob
        fields = [
            "id",
            "status",
            "num_cells_detected",
            "processing_time",
            "mask_shape",
            "result_masks",
            "result_flows",
            "result_segmented_images",
            "result_tif_archive",
            "result_metrics",
            "cell_metrics",
            "downloads",
        ]
        read_only_fields = fields


class MetricsSummarySerializer(serializers.Serializer):
    total_cells = serializers.IntegerField()
    average_area = serializers.FloatField(allow_null=True)
    min_area = serializers.FloatField(allow_null=True)
    max_area = serializers.FloatField(allow_null=True)
    average_aspect_ratio = serializers.FloatField(allow_null=True)


class JobMetricsSerializer(serializers.Serializer):
    summary = MetricsSummarySerializer()
    individual_metrics = IndividualMetricSerializer(many=True)


class ShapeAnalysisSerializer(serializers.Serializer):
    shape_analysis = ShapeMetricSerializer(many=True)


class EvaluateRequestSerializer(SingleValuedFormSerializer):
    ground_truth = serializers.FileField(
        allow_empty_file=True, help_text="Label image (.npy, .tif, .png) of the image's size."
    )


class EvaluationSerializer(serializers.Serializer):
    average_precision = serializers.DictField(
        child=serializers.FloatField(), help_text="AP keyed by IoU threshold (0.5, 0.75, 0.9)."
    )
    true_positives = serializers.DictField(child=serializers.IntegerField())
    aggregated_jaccard_index = serializers.FloatField()
    num_true = serializers.IntegerField()
    num_predicted = serializers.IntegerField()


class JobStatsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    pending = serializers.IntegerField()
    processing = serializers.IntegerField()
    completed = serializers.IntegerField()
    failed = serializers.IntegerField()
    cancelled = serializers.IntegerField()
