"""Completed jobs with their tile files, segmented and built once per test session.

``prepare`` runs the services a worker runs (decode, watershed, result files, tile files)
without a database; ``completed_job`` then gives each test its own rows, with copies of those
files in the test's media folder.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import factory
from django.core.files import File
from django.db.models.signals import post_save
from django.utils import timezone

from predictions.models import JobStatus, PredictionJob
from predictions.services import engines, images, jobs, outputs
from tests.helpers.factories import PredictionJobFactory, TiledImageFactory
from tiles.services import build


@dataclass(frozen=True)
class PreparedJob:
    input_path: Path
    results: Path
    summary: outputs.ResultSummary
    layers: dict[str, build.Built]


def prepare(directory: Path, content: bytes, name: str) -> PreparedJob:
    """Segment ``content`` with the watershed engine's defaults and build every tile layer."""
    directory.mkdir(parents=True)
    input_path = directory / name
    input_path.write_bytes(content)
    image = images.decode_image(io.BytesIO(content), max_pixels=10**8)
    segmentation = engines.get_engine("watershed").segment(image, engines.SegmentationParams())
    results = directory / "results"
    summary = outputs.write_results(
        results, image, segmentation.masks, segmentation.flows, seg=True
    )
    sources = {"input": input_path, "overlay": results / outputs.OVERLAY}
    sources["masks"] = results / outputs.MASKS
    layers = {
        layer: build.build_layer_file(layer, source, directory / f"{layer}-tiles")
        for layer, source in sources.items()
    }
    return PreparedJob(input_path, results, summary, layers)


def completed_job(owner, prepared: PreparedJob) -> PredictionJob:
    """A completed watershed job of ``owner`` with its result files and built tile layers.

    Signals are muted while the rows are made: the tiles are the prepared ones, so nothing
    may queue a build of its own (integration tests keep the build signals connected).
    """
    with factory.django.mute_signals(post_save):
        return _completed_job(owner, prepared)


def _completed_job(owner, prepared: PreparedJob) -> PredictionJob:
    job = PredictionJobFactory(
        owner=owner,
        input_image__from_path=prepared.input_path,
        input_image_name=prepared.input_path.name,
        status=JobStatus.COMPLETED,
        num_cells_detected=prepared.summary.num_cells,
        mask_shape=list(prepared.summary.mask_shape),
        metrics_summary=prepared.summary.summary,
        completed_at=timezone.now(),
    )
    for filename, (field, pattern) in jobs.RESULT_FILES.items():
        path = prepared.results / filename
        if path.exists():
            with path.open("rb") as handle:
                getattr(job, field).save(pattern.format(id=job.id), File(handle), save=False)
    job.save()
    for layer, built in prepared.layers.items():
        TiledImageFactory(
            job=job,
            layer=layer,
            file__from_path=built.path,
            file__filename=f"{job.pk}_{layer}{built.path.suffix}",
            built_from=build.source_revision(build.job_layer_field(job, layer)),
            dtype=built.dtype,
            width=built.width,
            height=built.height,
            max_value=built.max_value,
            frames=built.frames,
        )
    return job
