import uuid

from django.conf import settings
from django.db import models

from depth_images.services import depths, resize


class DatasetStatus(models.TextChoices):
    READY = "ready"
    PENDING = "pending"  # a large upload waits for a worker
    PROCESSING = "processing"
    FAILED = "failed"  # the last upload was refused; rows are as they were before it


class DepthDataset(models.Model):
    """A named set of depth rows belonging to one user; uploads add to it or replace rows."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="depth_datasets"
    )
    name = models.CharField(max_length=100)
    status = models.CharField(max_length=16, choices=DatasetStatus, default=DatasetStatus.READY)
    error_message = models.TextField(blank=True)
    width = models.PositiveIntegerField(default=resize.TARGET_WIDTH)
    row_count = models.PositiveIntegerField(default=0)
    depth_min_key = models.BigIntegerField(null=True, blank=True)
    depth_max_key = models.BigIntegerField(null=True, blank=True)
    # The large upload waiting for (or being read by) the worker; empty otherwise.
    pending_file = models.FileField(upload_to="depth_uploads/", max_length=255, blank=True)
    last_upload = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="depth_dataset_owner_name")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"

    @property
    def depth_min(self) -> float | None:
        return None if self.depth_min_key is None else depths.to_depth(self.depth_min_key)

    @property
    def depth_max(self) -> float | None:
        return None if self.depth_max_key is None else depths.to_depth(self.depth_max_key)

    @property
    def is_busy(self) -> bool:
        return self.status in (DatasetStatus.PENDING, DatasetStatus.PROCESSING)


class DepthRow(models.Model):
    """One resized row: ``width`` uint8 pixels at an exact depth key (thousandths)."""

    # No index of its own: the unique (dataset, depth) index leads with the dataset.
    # No database constraint either: PostgreSQL checks a (deferred) foreign key row by row at
    # commit, which doubled the time of a 100,000-row ingest. Rows are only written while
    # holding the dataset's row lock, and deleted with it by Django's cascade.
    dataset = models.ForeignKey(
        DepthDataset,
        on_delete=models.CASCADE,
        related_name="rows",
        db_index=False,
        db_constraint=False,
    )
    depth = models.BigIntegerField(help_text="depth x 1000, exact")
    pixels = models.BinaryField()

    class Meta:
        constraints = [
            # Also the index of every range query: (dataset, depth BETWEEN a AND b).
            models.UniqueConstraint(fields=["dataset", "depth"], name="depth_row_dataset_depth")
        ]

    def __str__(self) -> str:
        return f"{self.dataset_id} @ {depths.to_depth(self.depth)}"
