from django.db import models

from depth_images.models import DepthDataset
from predictions.models import PredictionJob


class Layer(models.TextChoices):
    INPUT = "input"
    OVERLAY = "overlay"
    MASKS = "masks"
    DEPTH = "depth"


class TiledImage(models.Model):
    """A file large-image serves for one layer of a job, or a depth dataset's stacked rows.

    ``built_from`` names what the file was made from (a storage name, or a dataset's
    revision); when that changes, the file is stale and is rebuilt.
    """

    job = models.ForeignKey(
        PredictionJob, null=True, blank=True, on_delete=models.CASCADE, related_name="tile_layers"
    )
    dataset = models.ForeignKey(
        DepthDataset, null=True, blank=True, on_delete=models.CASCADE, related_name="tile_layers"
    )
    layer = models.CharField(max_length=16, choices=Layer)
    file = models.FileField(upload_to="tiles/", max_length=255, blank=True)
    built_from = models.TextField()
    # Why the last build from ``built_from`` failed (no file then); empty once built.
    error = models.TextField(blank=True)
    # Layer-specific facts a default style needs (the largest label of a mask).
    max_value = models.BigIntegerField(null=True, blank=True)
    # Frames large-image serves: one per (plane, channel) of an OME-TIFF written by the build
    # (``services.pyramid.write_frames``), 1 for a plain image served as it is.
    frames = models.PositiveIntegerField(default=1)
    dtype = models.CharField(max_length=16)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["job", "layer"],
                condition=models.Q(job__isnull=False),
                name="tiled_job_layer",
            ),
            models.UniqueConstraint(
                fields=["dataset"],
                condition=models.Q(dataset__isnull=False),
                name="tiled_dataset",
            ),
            models.CheckConstraint(
                condition=models.Q(job__isnull=True) ^ models.Q(dataset__isnull=True),
                name="tiled_one_owner_object",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.layer} of {self.job_id or self.dataset_id}"
