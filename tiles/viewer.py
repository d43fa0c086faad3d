"""The admin's tile viewer: its layers for a change page, and list thumbnails."""

from django.db.models import Exists, OuterRef, QuerySet
from django.urls import reverse
from django.utils.html import format_html

from tiles.models import Layer, TiledImage

# Layers in drawing order: the input below, the overlay and masks over it (half opaque).
JOB_LAYERS = [
    (Layer.INPUT, "tiles-input", 1.0, True),
    (Layer.OVERLAY, "tiles-overlay", 0.7, True),
    (Layer.MASKS, "tiles-masks", 0.5, False),
]
THUMBNAIL_SIDE = 64


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
    built = set(TiledImage.objects.filter(job=job, error="").values_list("layer", flat=True))
    layers = [
        _layer(layer, route, job.pk, opacity, visible)
        for layer, route, opacity, visible in JOB_LAYERS
        if layer in built
    ]
    if Layer.INPUT not in built:
        return {"tile_layers_pending": "Tiles are being built; reload in a moment."}
    return {"tile_layers": layers}


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
