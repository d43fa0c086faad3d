from django.contrib import admin, messages

from predictions.models import ACTIVE_STATUSES, PredictionJob, WebhookDelivery
from predictions.services import jobs


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
        "attempts",
        "num_cells_detected",
        "processing_time",
        "created_at",
    ]
    actions = ["cancel_jobs"]
    list_filter = ["status", "model_type", "created_at"]
    search_fields = ["id", "owner__username", "error_message"]
    readonly_fields = [f.name for f in PredictionJob._meta.fields]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        # Jobs come from the API, which validates uploads and queues the work.
        return False

    @admin.action(description="Cancel selected pending or processing jobs")
    def cancel_jobs(self, request, queryset):
        cancelled = 0
        for job_id in queryset.filter(status__in=ACTIVE_STATUSES).values_list("pk", flat=True):
            try:
                jobs.cancel(job_id)
            except jobs.JobFinished:
                continue  # it ended meanwhile
            cancelled += 1
        self.message_user(request, f"cancelled {cancelled} job(s)", messages.SUCCESS)

    def delete_model(self, request, obj):
        jobs.delete_job(obj.pk)

    def delete_queryset(self, request, queryset):
        for job_id in queryset.values_list("pk", flat=True):
            jobs.delete_job(job_id)
