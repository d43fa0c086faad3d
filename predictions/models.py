import uuid

from django.conf import settings
from django.db import models


class JobStatus(models.TextChoices):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class ModelType(models.TextChoices):
    CPSAM = "cpsam", "Cellpose-SAM"
    WATERSHED = "watershed", "Classical watershed (CPU, no weights)"


class PredictionJob(models.Model):
    """One uploaded image (and optional masks) and everything computed from it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="prediction_jobs"
    )
    input_image = models.FileField(upload_to="input_images/", max_length=255)
    input_masks = models.FileField(upload_to="input_masks/", max_length=255, blank=True)

    model_type = models.CharField(max_length=32, choices=ModelType, default=ModelType.CPSAM)
    diameter = models.FloatField(null=True, blank=True)
    flow_threshold = models.FloatField(default=0.4)
    cellprob_threshold = models.FloatField(default=0.0)
    min_size = models.IntegerField(default=15)

    status = models.CharField(
        max_length=16, choices=JobStatus, default=JobStatus.PENDING, db_index=True
    )
    error_message = models.TextField(blank=True)
    num_cells_detected = models.IntegerField(null=True, blank=True)
    processing_time = models.FloatField(null=True, blank=True, help_text="seconds")
    mask_shape = models.JSONField(null=True, blank=True)
    metrics_summary = models.JSONField(null=True, blank=True)

    result_masks = models.FileField(max_length=255, blank=True)
    result_flows = models.FileField(max_length=255, blank=True)
    result_segmented_images = models.FileField(max_length=255, blank=True)
    result_tif_archive = models.FileField(max_length=255, blank=True)
    result_metrics = models.FileField(max_length=255, blank=True)
    result_shape_analysis = models.FileField(max_length=255, blank=True)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "status"])]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"

    @property
    def has_uploaded_masks(self) -> bool:
        return bool(self.input_masks)

    @property
    def is_finished(self) -> bool:
        return self.status in (JobStatus.COMPLETED, JobStatus.FAILED)


class WebhookDelivery(models.Model):
    """One attempt to notify the downstream endpoint about a finished job."""

    job = models.ForeignKey(PredictionJob, on_delete=models.CASCADE, related_name="deliveries")
    attempt = models.PositiveIntegerField()
    url = models.URLField(max_length=500)
    status_code = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    succeeded = models.BooleanField(default=False)
    duration_s = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "attempt"]

    def __str__(self) -> str:
        outcome = "ok" if self.succeeded else (self.error or str(self.status_code))
        return f"{self.job_id} attempt {self.attempt}: {outcome}"
