from rest_framework import serializers

from config.rest import NoEmptyValuesSerializer, SingleValuedFormSerializer
from depth_images.models import DepthDataset
from depth_images.services import colormaps, depths

# Pixels are 0-255; a colormap's ends far beyond that only lose precision.
VALUE_BOUND = 1e6


class DepthDatasetSerializer(serializers.ModelSerializer):
    depth_min = serializers.FloatField(read_only=True, allow_null=True)
    depth_max = serializers.FloatField(read_only=True, allow_null=True)
    last_upload = serializers.JSONField(
        read_only=True,
        allow_null=True,
        help_text="Counts of the last completed upload: rows_in_file, rows_added, "
        "rows_replaced, skipped_empty_rows.",
    )

    class Meta:
        model = DepthDataset
        fields = [
            "id",
            "name",
            "status",
            "error_message",
            "row_count",
            "depth_min",
            "depth_max",
            "width",
            "last_upload",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class IngestResultSerializer(serializers.Serializer):
    rows_in_file = serializers.IntegerField()
    rows_added = serializers.IntegerField()
    rows_replaced = serializers.IntegerField(help_text="Rows at depths the dataset already had.")
    skipped_empty_rows = serializers.IntegerField(help_text="Empty rows at the end of the file.")


class DepthUploadSerializer(SingleValuedFormSerializer):
    name = serializers.CharField(
        max_length=100, help_text="Dataset to add to; created on first use."
    )
    file = serializers.FileField(
        allow_empty_file=True,
        help_text="CSV: header depth,col1..col200, one row per depth, pixel values 0-255.",
    )


class LegacyUploadSerializer(SingleValuedFormSerializer):
    file = serializers.FileField(allow_empty_file=True, help_text="CSV: depth,col1..col200.")
    dataset = serializers.CharField(max_length=100, default="default", required=False)


class UploadResponseSerializer(serializers.Serializer):
    message = serializers.CharField()
    dataset = DepthDatasetSerializer()
    ingest = IngestResultSerializer(
        allow_null=True, help_text="null while a worker ingests the file (202)."
    )
    status_url = serializers.URLField(help_text="Poll this until status is ready or failed.")


class RenderSerializer(NoEmptyValuesSerializer):
    """Colormap options shared by every image endpoint; ``validate`` builds the lookup table."""

    colormap = serializers.CharField(
        required=False,
        help_text=f"A matplotlib colormap name (default {colormaps.DEFAULT_COLORMAP}); "
        "GET /api/v1/depth-colormaps/ lists them.",
    )
    colors = serializers.CharField(
        required=False,
        help_text="A custom colormap instead: comma-separated colors, e.g. "
        "000000,8b4513,ffffff (hex with or without %23) or names.",
    )
    vmin = serializers.FloatField(
        default=0.0,
        min_value=-VALUE_BOUND,
        max_value=VALUE_BOUND,
        help_text="Pixel value shown as the lowest color.",
    )
    vmax = serializers.FloatField(
        default=255.0,
        min_value=-VALUE_BOUND,
        max_value=VALUE_BOUND,
        help_text="Pixel value shown as the highest color.",
    )

    def validate(self, attrs):
        colors = [c for c in attrs.get("colors", "").split(",") if c.strip()]
        try:
            cmap = colormaps.resolve(attrs.get("colormap"), colors)
        except colormaps.ColormapError as exc:
            raise serializers.ValidationError(
                {"colors" if colors else "colormap": [str(exc)]}
            ) from exc
        vmin, vmax = attrs["vmin"], attrs["vmax"]
        try:
            attrs["table"] = colormaps.lookup_table(cmap, vmin, vmax)
        except colormaps.ColormapError as exc:
            raise serializers.ValidationError({"vmin": [str(exc)]}) from exc
        attrs["colormap_name"] = "custom" if colors else cmap.name
        return super().validate(attrs)


def depth_field() -> serializers.FloatField:
    return serializers.FloatField(
        required=False, min_value=-depths.MAX_ABS_DEPTH, max_value=depths.MAX_ABS_DEPTH
    )


class DepthRangeSerializer(NoEmptyValuesSerializer):
    depth_min = depth_field()
    depth_max = depth_field()

    def validate(self, attrs):
        # DRF's FloatField already refuses NaN and infinities.
        low = attrs.get("depth_min", -depths.MAX_ABS_DEPTH)
        high = attrs.get("depth_max", depths.MAX_ABS_DEPTH)
        if low > high:
            raise serializers.ValidationError(
                {"depth_min": [f"depth_min ({low:g}) is above depth_max ({high:g})"]}
            )
        attrs["keys"] = depths.range_keys(low, high)
        return super().validate(attrs)


class FrameSerializer(RenderSerializer, DepthRangeSerializer):
    """A depth range and colormap options (each ``validate`` calls the next one's)."""


class LegacyImagesSerializer(serializers.Serializer):
    dataset = serializers.CharField(required=False)
    depths = serializers.ListField(child=serializers.FloatField())
    images = serializers.ListField(
        child=serializers.CharField(), help_text="Base64 PNGs (RGB, 1 x width), one per depth."
    )
    colormap = serializers.CharField()


class ColormapListSerializer(serializers.Serializer):
    default = serializers.CharField()
    colormaps = serializers.ListField(child=serializers.CharField())
