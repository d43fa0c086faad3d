"""django-large-image's endpoints for each job layer and each depth dataset's stacked rows.

Only the owner reads them (another user's job is a 404, as in the rest of the API). Paths
come from ``TiledImage`` rows built by ``tiles.tasks``: a pyramidal TIFF for anything
larger than one tile.
"""

from __future__ import annotations

import large_image.exceptions
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model
from django_large_image.rest import LargeImageDetailMixin
from rest_framework import exceptions, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from config.rest import OwnedObjectsMixin
from depth_images.models import DepthDataset
from predictions.models import JobStatus, PredictionJob
from tiles.api.params import TileQuerySerializer, check_region, has_style
from tiles.api.schema import tile_layer_schema
from tiles.models import Layer, TiledImage
from tiles.services import styles
from tiles.services.build import job_layer_field
from tiles.services.files import local_path

# Pictures get the layer's default look; data endpoints (region, pixel) return raw values
# (a label number, 16-bit intensities) unless the request asks for a style.
STYLED_BY_DEFAULT = {"tile", "thumbnail"}
# Actions whose query parameters must be present (or integers) for django-large-image.
REQUIRED_PARAMS = {
    "region": ("left", "right", "top", "bottom"),
    "pixel": ("left", "top"),
    "band": ("band",),
}
INTEGER_PARAMS = {"pixel": ("left", "top")}


class NotReady(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "not_ready"


@tile_layer_schema
class TileLayerViewSet(OwnedObjectsMixin, LargeImageDetailMixin, viewsets.GenericViewSet):
    """Base: subclasses name the layer and how to find its ``TiledImage``."""

    layer: str
    # The TiledImage foreign key to the owned object ("job" or "dataset").
    tiled_link: str
    lookup_value_regex = "[0-9a-f-]{36}"
    _tiled: TiledImage | None = None

    def get_queryset(self):
        # Staff see every job in the admin, so its tile viewer must be able to read them.
        if getattr(self.request, "user", None) and self.request.user.is_staff:
            return self.owned_model.objects.all()
        return super().get_queryset()

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not request.query_params and self.action not in REQUIRED_PARAMS:
            return  # nothing to check: most tile requests carry no parameters
        query = TileQuerySerializer(
            data=request.query_params,
            required=REQUIRED_PARAMS.get(self.action, ()),
            integers=INTEGER_PARAMS.get(self.action, ()),
        )
        query.is_valid(raise_exception=True)
        if self.action == "region":
            tiled = self.requested_tiled()
            check_region(query.validated_data, tiled.width, tiled.height)

    def handle_exception(self, exc):
        # Parameters large-image refuses only once it renders (a band the image lacks, a
        # region outside it) are the caller's to fix.
        if isinstance(exc, (large_image.exceptions.TileGeneralError, ValueError)):
            exc = ValidationError({"detail": f"the image cannot be rendered that way: {exc}"})
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        # An image action's renderers only pass bytes through: errors must still be JSON.
        if isinstance(response, Response) and response.status_code >= 400:
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    def get_path(self, request, pk=None):
        return local_path(self.requested_tiled().file)

    def requested_tiled(self) -> TiledImage:
        """The layer's row for this request, read once (the region check needs it too)."""
        if self._tiled is None:
            self._tiled = self._readable_tiled(self.kwargs[self.lookup_field])
            if self._tiled is None:
                raise self.why_missing(self.get_object())
        return self._tiled

    def _readable_tiled(self, pk) -> TiledImage | None:
        """The layer's row in one query when it exists and the requester may read it.

        On a miss the caller loads the object itself, to answer why: 404 or 409.
        """
        rows = TiledImage.objects.filter(**{f"{self.tiled_link}_id": pk}, layer=self.layer)
        if not self.request.user.is_staff:
            rows = rows.filter(**{f"{self.tiled_link}__owner": self.request.user})
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


def _missing_result(job: PredictionJob, layer: str) -> exceptions.APIException:
    if job.status == JobStatus.FAILED:
        return exceptions.NotFound(f"job {job.pk} failed and has no {layer}: {job.error_message}")
    return NotReady(f"job {job.pk} is {job.status}: its {layer} exists once it completes")
