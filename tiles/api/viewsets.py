"""django-large-image's endpoints for each job layer and each depth dataset's stacked rows.

The owner and staff read them (``config.ownership``, as everywhere in the API: another user's
job is a 404; staff read every job, so that the admin's viewer works). Paths
come from ``TiledImage`` rows built by ``tiles.tasks``: a pyramidal TIFF for anything
larger than one tile. Channels and planes are frames (``frame``, or a ``frame`` per band of
``style``), numbered plane by plane: frame ``z * channels + c``.
"""

from __future__ import annotations

import json
from pathlib import Path

import large_image.exceptions
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model
from django.http import HttpResponse
from django_large_image import tilesource
from django_large_image.rest import LargeImageDetailMixin
from django_large_image.rest.params import FORMAT_URL_PATTERN
from django_large_image.rest.renderers import image_data_renderers, image_renderers
from rest_framework import exceptions, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from config.exceptions import NotReady
from config.files import local_path
from config.renderers import TolerantJSONRenderer
from config.rest import OwnedObjectsMixin
from depth_images.models import DepthDataset
from predictions.models import JobStatus, PredictionJob
from tiles.api.params import ACTION_PARAMS, REQUIRED, has_style, query_serializer
from tiles.api.schema import IMAGE_FORMATS, tile_layer_schema
from tiles.models import Layer, TiledImage
from tiles.services import geometry, sources, styles
from tiles.services.build import job_layer_field

# Pictures get the layer's default look; data endpoints (region, pixel) return raw values
# (a label number, 16-bit intensities) unless the request asks for a style.
STYLED_BY_DEFAULT = {"tile", "thumbnail"}


@tile_layer_schema
class TileLayerViewSet(OwnedObjectsMixin, LargeImageDetailMixin, viewsets.GenericViewSet):
    """Base: subclasses name the layer and how to find its ``TiledImage``."""

    layer: str
    # The TiledImage foreign key to the owned object ("job" or "dataset").
    tiled_link: str
    _tiled: TiledImage | None = None

    query: dict = {}

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        fmt = kwargs.get("fmt")
        if fmt is not None and fmt not in IMAGE_FORMATS:
            raise exceptions.NotFound(
                {"fmt": [f"images are served as {', '.join(IMAGE_FORMATS)}, not {fmt!r}"]}
            )
        if self.action not in ACTION_PARAMS:
            return  # a method the route does not take: dispatch answers 405
        if "projection" in request.query_params:
            raise ValidationError(
                {"projection": ["not supported: microscopy images have no map projection"]}
            )
        if not request.query_params and self.action not in REQUIRED:
            return  # nothing to check: most tile requests carry no parameters
        query = query_serializer(self.action)(data=request.query_params)
        query.is_valid(raise_exception=True)
        self.query = query.validated_data

    def handle_exception(self, exc):
        # Parameters large-image refuses only once it renders (a band the image lacks, a
        # region outside it) are the caller's to fix.
        if isinstance(exc, geometry.OutOfRange):
            exc = ValidationError({exc.parameter: [str(exc)]})
        elif isinstance(exc, (large_image.exceptions.TileGeneralError, ValueError)):
            exc = ValidationError({"detail": f"the image cannot be rendered that way: {exc}"})
        return super().handle_exception(exc)

    def open_tile_source(self, request, path, **kwargs):
        try:
            if self._has_frames() and not request.query_params.get("source"):
                # large-image's own choice (libtiff) would see pages without channels or planes.
                source = sources.FramesTiffSource(str(path), **kwargs)
            else:
                source = super().open_tile_source(request, path, **kwargs)
        except large_image.exceptions.TileSourceError:
            # large-image's message holds the server's file path: never send it.
            chosen = {k: request.query_params[k] for k in ("source", "projection")
                      if request.query_params.get(k)}  # fmt: skip
            if not chosen:
                raise
            reasons = {
                name: [f"this image cannot be opened with {name}={value!r}"]
                for name, value in chosen.items()
            }
            raise ValidationError(reasons) from None
        self._check_band(source)
        self._check_frames(source)
        return source

    def _has_frames(self) -> bool:
        return self._tiled is not None and self._tiled.frames > 1

    def _check_frames(self, source) -> None:
        """A frame past the last is the caller's to fix, told by name (large-image's own
        "Frame does not exist" says neither which parameter nor which frames exist)."""
        if "frame" not in self.query and "style" not in self.query:
            return  # frame 0, which every image has
        count = source.frames
        frame = self.query.get("frame")
        if frame is not None and frame >= count:
            raise ValidationError({"frame": [f"frame {frame} does not exist; {_frames(count)}"]})
        style = json.loads(self.query["style"]) if "style" in self.query else {}
        for band in style.get("bands", [style]):
            if band.get("frame", 0) >= count:
                problem = f"band frame {band['frame']} does not exist; {_frames(count)}"
                raise ValidationError({"style": [problem]})

    def _frame(self) -> dict:
        """The ``frame`` keyword for large-image, when the request chose one."""
        return {"frame": self.query["frame"]} if "frame" in self.query else {}

    def _check_band(self, source) -> None:
        band = self.query.get("band")
        if band:  # 0 (the default) means no band; bands are numbered from 1
            count = len(source.getBandInformation())
            if band > count:
                raise ValidationError(
                    {"band": [f"band {band} does not exist; this image has bands 1 to {count}"]}
                )

    @action(detail=True, url_path=r"tiles/(?P<z>\d+)/(?P<x>\d+)/(?P<y>\d+)/corners")
    def tile_corners(self, request, x, y, z, pk=None, **kwargs) -> Response:
        """Full-resolution pixel bounds of one tile (large-image computes these for
        geospatial images only)."""
        source = self.get_tile_source(request, pk, style=False)
        pyramid = geometry.Pyramid.from_metadata(source.getMetadata())
        return Response(geometry.tile_corners(pyramid, int(z), int(x), int(y)))

    @action(detail=True, url_path="info/band")
    def band(self, request, pk=None, **kwargs) -> Response:
        source = self.get_tile_source(request, pk, style=False)
        return Response(source.getOneBandInformation(self.query["band"]))

    @action(
        detail=True,
        url_path=f"data/region.{FORMAT_URL_PATTERN}",
        renderer_classes=image_data_renderers,
    )
    def region(self, request, pk=None, fmt="tiff", **kwargs) -> HttpResponse:
        """A region in pixels or as fractions of the image; clipped to the image."""
        tiled = self.requested_tiled()
        left, right, top, bottom = geometry.region_pixels(
            self.query, self.query.get("units", "pixels"), tiled.width, tiled.height
        )
        area = (right - left) * (bottom - top)
        if area > settings.CELLSERVE_MAX_REGION_PIXELS:
            raise ValidationError(
                {"region": [f"the region is {area:,} pixels, above the limit of "
                            f"{settings.CELLSERVE_MAX_REGION_PIXELS:,}; ask for a smaller one"]}
            )  # fmt: skip
        source = self.get_tile_source(request, pk)
        region = {"left": left, "right": right, "top": top, "bottom": bottom}
        content, mime_type = source.getRegion(
            region={**region, "units": "base_pixels"},
            encoding=tilesource.format_to_encoding(fmt),
            **self._frame(),
        )
        if not isinstance(content, bytes):  # a tiled TIFF is written to a temporary file
            path = Path(content)
            content = path.read_bytes()
            path.unlink(missing_ok=True)
        return HttpResponse(content, content_type=mime_type)

    @action(detail=True, url_path="data/pixel")
    def pixel(self, request, pk=None, **kwargs) -> Response:
        """One pixel's values (of ``frame``): a label number on the masks without a style."""
        source = self.get_tile_source(request, pk)
        region = {"left": self.query["left"], "top": self.query["top"], "units": "pixels"}
        return Response(source.getPixel(region=region, **self._frame()))

    @action(
        detail=True,
        url_path=f"data/thumbnail.{FORMAT_URL_PATTERN}",
        renderer_classes=image_renderers,
    )
    def thumbnail(self, request, pk=None, fmt="png", **kwargs) -> HttpResponse:
        """The whole image (its ``frame``) within max_width x max_height (256 by default)."""
        encoding = tilesource.format_to_encoding(fmt, pil_safe=True)
        source = self.get_tile_source(request, pk, encoding=encoding)
        content, mime_type = source.getThumbnail(
            encoding=encoding,
            width=self.query.get("max_width", 256),
            height=self.query.get("max_height", 256),
            **self._frame(),
        )
        return HttpResponse(content, content_type=mime_type)

    def finalize_response(self, request, response, *args, **kwargs):
        # An image action's renderers only pass bytes through: errors must still be JSON.
        if isinstance(response, Response) and response.status_code >= 400:
            request.accepted_renderer = TolerantJSONRenderer()
            request.accepted_media_type = TolerantJSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    def get_path(self, request, pk=None):
        return local_path(self.requested_tiled().file)

    def requested_tiled(self) -> TiledImage:
        """The layer's row for this request, read once (the region check needs it too)."""
        if self._tiled is None:
            self._tiled = self._readable_tiled(self.kwargs[self.lookup_field])
            if self._tiled is None:
                raise self.why_missing(self.get_object())
        if self._tiled.error:
            raise exceptions.NotFound(self._tiled.error)
        return self._tiled

    def _readable_tiled(self, pk) -> TiledImage | None:
        """The layer's row in one query when it exists and the requester may read it.

        On a miss the caller loads the object itself, to answer why: 404 or 409.
        """
        rows = TiledImage.objects.filter(
            **{f"{self.tiled_link}_id": pk, f"{self.tiled_link}__in": self.get_queryset()},
            layer=self.layer,
        )
        try:
            return rows.get()  # one row at most (unique per layer); get() needs no ORDER BY
        except (TiledImage.DoesNotExist, ValueError, DjangoValidationError):
            return None  # missing, not readable, or not a UUID: get_object says which

    def get_style(self, request):
        # get_path runs first and loads the row the layer's default style is made from.
        if (
            has_style(request.query_params)
            or self._tiled is None
            or self.action not in STYLED_BY_DEFAULT
        ):
            return super().get_style(request)
        return self.default_style(self._tiled)

    def why_missing(self, obj: Model) -> exceptions.APIException:
        """Why a readable object has no row for the layer: not made yet, or never will be."""
        raise NotImplementedError

    def default_style(self, tiled: TiledImage) -> dict | None:
        return styles.intensity_style(tiled.dtype)


class JobLayerViewSet(TileLayerViewSet):
    owned_model = PredictionJob
    tiled_link = "job"

    def why_missing(self, job: PredictionJob) -> exceptions.APIException:
        if job_layer_field(job, self.layer) is None:
            return _missing_result(job, self.layer)
        return NotReady(f"the {self.layer} tiles of job {job.pk} are being built; retry shortly")


class JobInputTilesViewSet(JobLayerViewSet):
    """Tiles of the uploaded input image (16-bit inputs are stretched to their data range)."""

    layer = Layer.INPUT


class JobOverlayTilesViewSet(JobLayerViewSet):
    """Tiles of the segmented overlay (outlines drawn on the input)."""

    layer = Layer.OVERLAY


class JobMaskTilesViewSet(JobLayerViewSet):
    """Tiles of the label mask: one colour per cell, background transparent; ``data/pixel``
    without a style returns the label number."""

    layer = Layer.MASKS

    def default_style(self, tiled: TiledImage) -> dict | None:
        return styles.label_style(tiled.max_value or 0)


class DepthDatasetTilesViewSet(TileLayerViewSet):
    """Tiles of a depth dataset's rows stacked by depth (row ``y`` is the ``y``-th depth)."""

    layer = Layer.DEPTH
    owned_model = DepthDataset
    tiled_link = "dataset"

    def why_missing(self, dataset: DepthDataset) -> exceptions.APIException:
        if dataset.row_count == 0:
            return exceptions.NotFound(f"depth dataset {dataset.name!r} has no rows yet")
        return NotReady(f"the tiles of depth dataset {dataset.name!r} are being built")


def _frames(count: int) -> str:
    return "this image has one frame, 0" if count == 1 else f"its frames are 0 to {count - 1}"


def _missing_result(job: PredictionJob, layer: str) -> exceptions.APIException:
    if job.status == JobStatus.FAILED:
        return exceptions.NotFound(f"job {job.pk} failed and has no {layer}: {job.error_message}")
    return NotReady(f"job {job.pk} is {job.status}: its {layer} exists once it completes")
