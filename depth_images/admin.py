from django.contrib import admin

from depth_images.models import DepthDataset


@admin.register(DepthDataset)
class DepthDatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "status", "row_count", "depth_min", "depth_max", "updated_at"]
    list_filter = ["status", "updated_at"]
    search_fields = ["name", "owner__username", "error_message"]
    # Rows only change through uploads, which validate them and keep the dataset consistent.
    readonly_fields = [f.name for f in DepthDataset._meta.fields]

    def has_add_permission(self, request):
        return False
