from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.rest import PresentChoiceField, SingleValuedFormSerializer
from predictions.models import ModelType, PredictionJob
from predictions.services import axes, engines, images, imports, jobs, measure, options, tiling
from predictions.services.jobs import JobRequest


def validated_upload(field: str, upload, validate, **kwargs) -> jobs.Upload:
    """Check an upload with one of the ``images`` validators; problems become 400s on ``field``,
    or on the parameter that would resolve them (``channel_axis`` for an ambiguous file)."""
    kwargs.setdefault("max_pixels", settings.CELLSERVE_MAX_IMAGE_PIXELS)
    try:
        info = validate(
            upload,
            decode_budget=settings.CELLSERVE_VALIDATE_DECODE_BYTES,
            **kwargs,
        )
    except images.ImageError as exc:
        param = field if exc.param == "input_image" else exc.param
        raise serializers.ValidationError({param: [str(exc)]}) from exc
    return jobs.Upload(upload, info)


def _pixel_limit(upload) -> int:
    """TIFFs are read a window at a time, so a tiled job may go up to its own limit; PNG and
    JPEG decode whole and keep the image limit."""
    if images.is_tiff(upload):
        return max(settings.CELLSERVE_MAX_IMAGE_PIXELS, settings.CELLSERVE_MAX_TILED_PIXELS)
    return settings.CELLSERVE_MAX_IMAGE_PIXELS


def _tiled(layout, requested: bool | None, kind: str, has_masks: bool) -> bool:
    """Only TIFFs are read a window at a time, and uploaded masks are measured whole."""
    if kind != "tiff" or has_masks:
        if requested:
            why = "uploaded masks are measured whole" if has_masks else "only TIFFs are tiled"
            raise serializers.ValidationError({"tiled": [f"tiled=true is not possible: {why}"]})
        requested = False
    try:
        tiled = tiling.wants_blocks(layout, requested)
    except axes.AxesError as exc:
        raise serializers.ValidationError({exc.param: [str(exc)]}) from exc
    limit = settings.CELLSERVE_MAX_IMAGE_PIXELS
    if not tiled and layout.voxels > limit:
        _planes, height, width, _channels = layout.shape
        raise serializers.ValidationError(
            {
                "input_image": [
                    f"image is {width}x{height} pixels, above the limit of {limit:,} pixels "
                    "for a whole-image job; tiled=true segments it in blocks"
                    if layout.shape[0] == 1
                    else f"image has {layout.voxels:,} voxels, above the limit of {limit:,}"
                ]
            }
        )
    return tiled


def axis_field(what: str) -> serializers.IntegerField:
    return serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=-32,
        max_value=31,
        help_text=f"Index of the {what} axis in the file's array (negative counts from the end); "
        "overrides the file's metadata.",
    )


def index_field(help_text: str) -> serializers.IntegerField:
    return serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=1_000_000, help_text=help_text
    )


def size_field(help_text: str) -> serializers.FloatField:
    return serializers.FloatField(
        required=False, allow_null=True, min_value=1e-6, max_value=1e6, help_text=help_text
    )


def channel_spec(text: str, param: str) -> tuple[int | str, ...]:
    try:
        return axes.parse_channel_list(text)
    except axes.AxesError as exc:
        raise serializers.ValidationError({param: [str(exc)]}) from exc


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
        help_text=f"Optional label image ({images.LABEL_FORMATS}) of the image's size (a 3D "
        "label volume for a z-stack): segmentation is skipped and these masks are measured.",
    )
    channel_axis = axis_field("channel")
    z_axis = axis_field("z")
    t_index = index_field("The time point to segment, for a time series.")
    series = index_field("The image (series or position) to segment, for a file with several.")
    pixel_size_um = size_field("Pixel width in µm; overrides the file's metadata.")
    z_step_um = size_field("Distance between z planes in µm; overrides the file's metadata.")
    channels = serializers.CharField(
        required=False,
        max_length=1000,
        help_text="Channels for the model, by index or OME channel name, comma-separated "
        "(e.g. 0,1 or DAPI,GFP); at most 3 for cpsam. Default: the first three.",
    )
    nuclear_channel = serializers.CharField(
        required=False,
        max_length=255,
        help_text="The channel (index or name) the watershed engine segments.",
    )
    do_3D = serializers.BooleanField(  # cellpose's name
        required=False,
        allow_null=True,
        default=None,
        help_text="Segment a z-stack in 3D; the default for a z-stack unless stitch_threshold.",
    )
    anisotropy = serializers.FloatField(
        required=False,
        allow_null=True,
        min_value=0.01,
        max_value=100,
        help_text="z step / pixel size; default: from the physical sizes when known.",
    )
    tiled = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Segment in overlapping blocks on many workers and stitch them; default: for "
        "2D images above CELLSERVE_TILED_THRESHOLD_PIXELS.",
    )
    stitch_threshold = serializers.FloatField(
        default=engines.DEFAULTS.stitch_threshold,
        min_value=0,
        max_value=1,
        help_text="Above 0: segment each z plane in 2D and stitch cells whose IoU reaches it.",
    )

    def validate(self, attrs):
        # Validated here (headers, and pixels within a memory budget) so that a bad upload
        # is a 400 rather than a failed job; the worker decodes it in full.
        reading = images.AxesRequest(**{f: attrs.get(f) for f in jobs.READING_FIELDS})
        attrs["reading"] = reading
        attrs["image"] = validated_upload(
            "input_image",
            attrs["input_image"],
            images.validate_image,
            request=reading,
            max_channels=settings.CELLSERVE_MAX_CHANNELS,
            max_pixels=_pixel_limit(attrs["input_image"]),
        )
        layout = attrs["image"].info.layout
        attrs["resolved"] = self._resolved(attrs, layout)
        masks_given = attrs.get("input_masks") is not None
        attrs["tiled"] = _tiled(layout, attrs.get("tiled"), attrs["image"].info.kind, masks_given)
        if attrs.get("input_masks") is not None:
            attrs["masks"] = validated_upload(
                "input_masks",
                attrs["input_masks"],
                images.validate_labels,
                shape=attrs["image"].info.spatial_shape,
            )
        return attrs

    def _resolved(self, attrs, layout) -> options.Resolved:
        nuclear = attrs.get("nuclear_channel")
        given = options.Options(
            channels=channel_spec(attrs["channels"], "channels") if "channels" in attrs else None,
            nuclear_channel=channel_spec(nuclear, "nuclear_channel")[0] if nuclear else None,
            do_3D=attrs.get("do_3D"),
            anisotropy=attrs.get("anisotropy"),
            stitch_threshold=attrs["stitch_threshold"],
        )
        params = engines.SegmentationParams(
            diameter=attrs.get("diameter") or None,
            flow_threshold=attrs["flow_threshold"],
            cellprob_threshold=attrs["cellprob_threshold"],
            min_size=attrs["min_size"],
        )
        try:
            return options.resolve(layout, attrs["model_type"], given, params)
        except axes.AxesError as exc:
            raise serializers.ValidationError({exc.param: [str(exc)]}) from exc

    def to_job_request(self) -> JobRequest:
        data = self.validated_data
        resolved = data["resolved"]
        return JobRequest(
            model_type=data["model_type"],
            params=resolved.params,
            reading=data["reading"],
            channels=resolved.channels,
            tiled=data["tiled"],
        )


class PredictionJobRegisterSerializer(PredictionJobCreateSerializer):
    """A job on a file already on the server, by path: the upload's parameters otherwise."""

    input_image = None
    source = serializers.CharField(
        max_length=4096, help_text="Path of the image on the server (in CELLSERVE_IMPORT_ROOTS)."
    )

    def validate(self, attrs):
        try:
            self.source_file = imports.open_source(attrs["source"], self.context["roots"])
        except imports.SourceError as exc:
            raise serializers.ValidationError({"source": [str(exc)]}) from exc
        attrs["input_image"] = self.source_file
        return super().validate(attrs)

    def close_source(self) -> None:
        """Close the file ``validate`` opened, whether or not it became a job."""
        source = getattr(self, "source_file", None)
        if source is not None:
            source.close()


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
            *jobs.READING_FIELDS,
            "channels",
            "nuclear_channel",
            "do_3D",
            "anisotropy",
            "stitch_threshold",
            "image_metadata",
            "tiled",
            "block_size",
            "block_overlap",
            "blocks_total",
            "omitted_outputs",
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
    # Present for tiled jobs only.
    stage = serializers.CharField(
        required=False, help_text="segment, blocks (blocks running), stitch or measure."
    )
    progress = serializers.DictField(
        child=serializers.FloatField(),
        required=False,
        help_text="blocks_done, blocks_total and their fraction.",
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
            "stage",
            "progress",
        ]
        read_only_fields = fields

    def get_max_attempts(self, job) -> int:
        return settings.CELLSERVE_MAX_ATTEMPTS

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not instance.error_message:
            data.pop("error_message")
        if instance.tiled:
            data["progress"] = tiling.progress(instance)
        else:
            data.pop("stage")
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
