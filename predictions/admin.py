from django.contrib import admin

from predictions.models import PredictionJob, WebhookDelivery


class WebhookDeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    fields = ["attempt", "created_at", "status_code", "succeeded", "error", "duration_s", "url"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["job", "attempt", "created_at", "status_code", "succeeded", "error"]
    list_filter = ["succeeded", "created_at"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]


@admin.register(PredictionJob)
class PredictionJobAdmin(admin.ModelAdmin):
    inlines = [WebhookDeliveryInline]
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
