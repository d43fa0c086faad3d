"""Jobs of real microscopy files (``tests.helpers.microscopy``), with their tiles built.

The job row records what ``jobs.create_job`` records (the reading options, ``image_metadata``);
with masks, it is completed with the result files ``outputs.write_results`` writes, the way the
worker finishes a job. Tiles are then built by the build task's own service.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
from django.core.files import File
from django.utils import timezone

from predictions.models import JobStatus, PredictionJob
from predictions.services import axes, images, jobs, outputs
from tests.helpers.factories import PredictionJobFactory
from tiles.services import build


def microscopy_job(
    owner,
    content: bytes,
    name: str,
    *,
    masks: np.ndarray | None = None,
    **reading: int,
) -> PredictionJob:
    request = axes.AxesRequest(**reading)
    image = images.read_image(
        io.BytesIO(content), max_pixels=10**8, max_channels=64, request=request
    )
    job = PredictionJobFactory(
        owner=owner,
        input_image__data=content,
        input_image__filename=name,
        input_image_name=name,
        image_metadata=jobs.image_metadata(image.layout),
        **reading,
    )
    if masks is not None:
        _complete(job, image, masks)
    build.build_job(job)
    return job


def _complete(job: PredictionJob, image: images.Canonical, masks: np.ndarray) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "results"
        summary = outputs.write_results(
            results, image.array, masks, None, about=outputs.about(image)
        )
        for filename, (field, pattern) in jobs.RESULT_FILES.items():
            if (results / filename).exists():
                with (results / filename).open("rb") as handle:
                    getattr(job, field).save(pattern.format(id=job.id), File(handle), save=False)
    job.status = JobStatus.COMPLETED
    job.num_cells_detected = summary.num_cells
    job.mask_shape = list(summary.mask_shape)
    job.completed_at = timezone.now()
    job.save()
