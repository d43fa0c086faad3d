"""The admin's tile viewer: its layers for a change page, and list thumbnails.

An input with channels or planes gets a channel picker (one colour, range and checkbox per
channel, composited by large-image) and, for a stack, a z slider that moves the input's
frames and, when the masks are a volume, the masks' frame with them.
"""

from typing import Any

from django.db.models import Exists, OuterRef, QuerySet
from django.urls import reverse
from django.utils.html import format_html

from predictions.services.labels import channel_color_hex
from tiles.api.params import MAX_STYLE_BANDS
from tiles.models import Layer, TiledImage

# Layers in drawing order: the input below, the overlay and masks over it (half opaque).
JOB_LAYERS = [
    (Layer.INPUT, "tiles-input", 1.0, True),
    (Layer.OVERLAY, "tiles-overlay", 0.7, True),
    (Layer.MASKS, "tiles-masks", 0.5, False),
]
THUMBNAIL_SIDE = 64
# The outlines layer is drawn at once up to this many cells; above, when it is switched on.
OUTLINES_SHOWN_UP_TO = 20_000
OUTLINES_COLOR = "#ffd400"


def _layer(name: str, route: str, pk, opacity: float, visible: bool) -> dict:
    tile = reverse(f"{route}-tile", kwargs={"pk": pk, "x": 0, "y": 0, "z": 0, "fmt": "png"})
    return {
        "name": name,
        "metadata": reverse(f"{route}-metadata", kwargs={"pk": pk}),
        # GeoJS fills in {z}/{x}/{y}; reverse() needs numbers, so swap them back in.
        "tiles": tile.replace("/tiles/0/0/0.png", "/tiles/{z}/{x}/{y}.png"),
        "opacity": opacity,
        "visible": visible,
    }


def job_viewer_context(job) -> dict:
    built = dict(TiledImage.objects.filter(job=job, error="").values_list("layer", "frames"))
    if Layer.INPUT not in built:
        return {"tile_layers_pending": "Tiles are being built; reload in a moment."}
    layers = [
        _layer(layer, route, job.pk, opacity, visible) | _frames(layer, built[layer], job)
        for layer, route, opacity, visible in JOB_LAYERS
        if layer in built
    ]
    return {"tile_layers": layers, "tile_outlines": _outlines(job)}


def _outlines(job) -> dict[str, Any] | None:
    """The job's cell outlines (its QuPath GeoJSON: the same polygons as every export)."""
    if not job.result_geojson:
        return None
    return {
        "url": reverse("predictionjob-download-geojson", args=[job.pk]),
        "visible": (job.num_cells_detected or 0) <= OUTLINES_SHOWN_UP_TO,
        "color": OUTLINES_COLOR,
    }


def _frames(layer: str, frames: int, job) -> dict[str, Any]:
    """What the viewer needs to pick a layer's frames; nothing for a single-frame layer."""
    if frames <= 1:
        return {}
    if layer != Layer.INPUT:
        return {"planes": frames}  # a mask volume: one frame per plane
    names, planes = _channels_and_planes(job.image_metadata or {}, frames)
    channels = [
        {"name": name, "color": channel_color_hex(index), "visible": index < MAX_STYLE_BANDS}
        for index, name in enumerate(names)
    ]
    return {"channels": channels, "planes": planes, "max_bands": MAX_STYLE_BANDS}


def _channels_and_planes(metadata: dict, frames: int) -> tuple[list[str], int]:
    """Channel names and plane count from what the job recorded of its image.

    Frames run channel by channel within a plane. Without usable metadata (a job made before
    it was recorded) every frame is offered as a channel of one plane.
    """
    shape = metadata.get("shape") or {}
    planes, channels = shape.get("Z", 0), shape.get("C", 0)
    if planes * channels != frames:
        return [f"frame {index}" for index in range(frames)], 1
    names = list(metadata.get("channel_names") or [])
    if len(names) != channels:
        names = [f"ch{index}" for index in range(channels)]
    return names, planes


def dataset_viewer_context(dataset) -> dict:
    if not TiledImage.objects.filter(dataset=dataset, error="").exists():
        return {"tile_layers_pending": "No tiles yet: the dataset has no rows or is being built."}
    return {"tile_layers": [_layer("rows by depth", "tiles-depth", dataset.pk, 1.0, True)]}


def with_tiles_flag(queryset: QuerySet, link: str, layer: str) -> QuerySet:
    """Annotate ``has_tiles`` in the list query itself (no query per row); ``link`` is the
    TiledImage foreign key to the listed model."""
    tiled = TiledImage.objects.filter(**{link: OuterRef("pk")}, layer=layer, error="")
    return queryset.annotate(has_tiles=Exists(tiled))


def thumbnail(obj, route: str) -> str:
    if not getattr(obj, "has_tiles", False):
        return "-"
    url = reverse(f"{route}-thumbnail", kwargs={"pk": obj.pk, "fmt": "png"})
    side = THUMBNAIL_SIDE
    return format_html(
        '<img src="{}?max_width={}&amp;max_height={}" alt="thumbnail" loading="lazy">',
        url,
        side,
        side,
    )
