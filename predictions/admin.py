from django.contrib import admin

from predictions.models import PredictionJob


@admin.register(PredictionJob)
class PredictionJobAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "owner",
        "model_type",
        "status",
        "num_cells_detected",
        "processing_time",
        "created_at",
    ]
    list_filter = ["status", "model_type", "created_at"]
    search_fields = ["id", "owner__username", "error_message"]
    readonly_fields = [f.name for f in PredictionJob._meta.fields]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        # Jobs come from the API, which validates uploads and queues the work.
        return False
