"""The tile viewer and list thumbnails, added to the job and depth dataset admins.

The tiles app extends those admins (rather than they importing tiles) so that predictions
and depth_images keep working without it.
"""

from django.contrib import admin

from depth_images.admin import DepthDatasetAdmin
from depth_images.models import DepthDataset
from predictions.admin import PredictionJobAdmin
from predictions.models import PredictionJob
from tiles import viewer
from tiles.models import Layer, TiledImage

VIEWER_TEMPLATE = "admin/tiles/change_form.html"


class JobWithTilesAdmin(PredictionJobAdmin):
    change_form_template = VIEWER_TEMPLATE
    list_display = [*PredictionJobAdmin.list_display, "thumbnail"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return viewer.with_tiles_flag(queryset, link="job", layer=Layer.INPUT)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_object(request, object_id)
        context = {**(extra_context or {}), **(viewer.job_viewer_context(job) if job else {})}
        return super().change_view(request, object_id, form_url, context)

    @admin.display(description="input")
    def thumbnail(self, job):
        return viewer.thumbnail(job, "tiles-input")


class DatasetWithTilesAdmin(DepthDatasetAdmin):
    change_form_template = VIEWER_TEMPLATE
    list_display = [*DepthDatasetAdmin.list_display, "thumbnail"]

    def get_queryset(self, request):
        return viewer.with_tiles_flag(
            super().get_queryset(request), link="dataset", layer=Layer.DEPTH
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        dataset = self.get_object(request, object_id)
        layers = viewer.dataset_viewer_context(dataset) if dataset else {}
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), **layers}
        )

    @admin.display(description="rows")
    def thumbnail(self, dataset):
        return viewer.thumbnail(dataset, "tiles-depth")


@admin.register(TiledImage)
class TiledImageAdmin(admin.ModelAdmin):
    list_display = ["layer", "job", "dataset", "width", "height", "dtype", "created_at"]
    list_filter = ["layer"]
    readonly_fields = [f.name for f in TiledImage._meta.fields]

    def has_add_permission(self, request):
        return False


admin.site.unregister(PredictionJob)
admin.site.register(PredictionJob, JobWithTilesAdmin)
admin.site.unregister(DepthDataset)
admin.site.register(DepthDataset, DatasetWithTilesAdmin)
