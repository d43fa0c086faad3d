import uuid

from django.conf import settings
from django.db import models

from predictions.services.engines import DEFAULTS


class JobStatus(models.TextChoices):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_STATUSES = (JobStatus.PENDING, JobStatus.PROCESSING)
FINISHED_STATUSES = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


class JobStage(models.TextChoices):
    """Which task a job needs next; the watchdog re-queues a lost job from here."""

    SEGMENT = "segment"
    MEASURE = "measure"
    # A tiled job: its blocks are segmented by their own tasks, then stitched.
    BLOCKS = "blocks"
    STITCH = "stitch"


def _random_folder(folder: str, filename: str) -> str:
    # A stored name reveals nothing about other uploads and cannot be guessed.
    return f"{folder}/{uuid.uuid4().hex}/{filename}"


def input_image_path(instance: "PredictionJob", filename: str) -> str:
    return _random_folder("input_images", filename)


def input_masks_path(instance: "PredictionJob", filename: str) -> str:
    return _random_folder("input_masks", filename)


class ModelType(models.TextChoices):
    CPSAM = "cpsam", "Cellpose-SAM"
    WATERSHED = "watershed", "Classical watershed (CPU, no weights)"


class Batch(models.Model):
    """Many images sent together with one set of parameters: one job each, each usable alone."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="batches"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Files of the request that did not become jobs: [{"name": ..., "errors": {...}}].
    rejected = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"batch {self.id}"


class PredictionJob(models.Model):
    """One uploaded image (and optional masks) and everything computed from it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="prediction_jobs"
    )
    batch = models.ForeignKey(
        Batch, on_delete=models.SET_NULL, null=True, blank=True, related_name="jobs"
    )
    input_image = models.FileField(upload_to=input_image_path, max_length=255)
    input_masks = models.FileField(upload_to=input_masks_path, max_length=255, blank=True)
    # The names the files were uploaded with, for downloads; stored names are our own.
    input_image_name = models.CharField(max_length=255, blank=True)
    input_masks_name = models.CharField(max_length=255, blank=True)

    model_type = models.CharField(max_length=32, choices=ModelType, default=ModelType.CPSAM)
    diameter = models.FloatField(null=True, blank=True)
    flow_threshold = models.FloatField(default=DEFAULTS.flow_threshold)
    cellprob_threshold = models.FloatField(default=DEFAULTS.cellprob_threshold)
    min_size = models.IntegerField(default=DEFAULTS.min_size)
    # How the file is read (null: as its metadata says) and what reaches the engine.
    channel_axis = models.SmallIntegerField(null=True, blank=True)
    z_axis = models.SmallIntegerField(null=True, blank=True)
    t_index = models.IntegerField(null=True, blank=True)
    series = models.IntegerField(null=True, blank=True)
    pixel_size_um = models.FloatField(null=True, blank=True)
    z_step_um = models.FloatField(null=True, blank=True)
    channels = models.JSONField(null=True, blank=True, help_text="channel indices for the engine")
    nuclear_channel = models.SmallIntegerField(null=True, blank=True)
    do_3D = models.BooleanField(default=DEFAULTS.do_3D)  # cellpose's name
    anisotropy = models.FloatField(null=True, blank=True)
    stitch_threshold = models.FloatField(default=DEFAULTS.stitch_threshold)
    # What the file turned out to hold: axes, shape (Z, Y, X, C), channel names, sizes in µm.
    image_metadata = models.JSONField(null=True, blank=True)
    # A tiled job is segmented in overlapping blocks of this size (the plan is recomputed
    # from these, so a settings change never reshapes a running job).
    tiled = models.BooleanField(default=False)
    block_size = models.PositiveIntegerField(null=True, blank=True)
    block_overlap = models.PositiveIntegerField(null=True, blank=True)
    blocks_total = models.PositiveIntegerField(default=0)
    # Outputs left out on purpose, with the reason (e.g. too many cells for the cells ZIP).
    omitted_outputs = models.JSONField(default=dict, blank=True)

    status = models.CharField(
        max_length=16, choices=JobStatus, default=JobStatus.PENDING, db_index=True
    )
    error_message = models.TextField(blank=True)
    stage = models.CharField(max_length=16, choices=JobStage, default=JobStage.SEGMENT)
    # Deliveries to a worker so far; the watchdog fails the job after CELLSERVE_MAX_ATTEMPTS.
    attempts = models.PositiveIntegerField(default=0)
    # The worker holding the job renews the lease; only the token's holder may write results.
    lease_token = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    task_id = models.CharField(max_length=64, blank=True, help_text="Celery task of the job")
    stored_bytes = models.BigIntegerField(default=0, help_text="uploads and results, in bytes")
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
    result_geojson = models.FileField(max_length=255, blank=True)
    result_rois = models.FileField(max_length=255, blank=True)
    result_ome_labels = models.FileField(max_length=255, blank=True)
    result_metrics_csv = models.FileField(max_length=255, blank=True)
    result_seg = models.FileField(max_length=255, blank=True)

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
        return self.status in FINISHED_STATUSES


class BlockStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"


class PredictionBlock(models.Model):
    """One block of a tiled job: segmented by its own task, under its own lease."""

    job = models.ForeignKey(PredictionJob, on_delete=models.CASCADE, related_name="blocks")
    index = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=BlockStatus, default=BlockStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    lease_token = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    task_id = models.CharField(max_length=64, blank=True)
    num_cells = models.IntegerField(null=True, blank=True)
    skipped = models.BooleanField(default=False, help_text="no foreground: not segmented")
    error_message = models.TextField(blank=True)

    class Meta:
        ordering = ["job", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="one_row_per_block")]

    def __str__(self) -> str:
        return f"{self.job_id} block {self.index} ({self.status})"


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
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        outcome = "ok" if self.succeeded else (self.error or str(self.status_code))
        return f"{self.job_id} attempt {self.attempt}: {outcome}"
