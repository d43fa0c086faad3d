"""Tiled jobs through the API with tasks run in-process: blocks, stitching, progress, faults.

A mosaic of the real DSB fluorescence images (ground truth mosaicked alongside) is cut into
small blocks, so a test exercises many blocks and seams in seconds.
"""

import io
import uuid
import zipfile
from datetime import timedelta

import numpy as np
import pytest
import tifffile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from predictions import tasks
from predictions.models import BlockStatus, JobStage, JobStatus, PredictionBlock, PredictionJob
from predictions.services import engines, evaluate, jobs, leases, tiling
from tests.helpers import mosaic

pytestmark = pytest.mark.django_db
URL = "/api/v1/predictions/"


@pytest.fixture(autouse=True)
def small_blocks(settings):
    settings.CELLSERVE_BLOCK_SIZE = 256
    settings.CELLSERVE_BLOCK_OVERLAP = 64
    settings.CELLSERVE_TILED_THRESHOLD_PIXELS = 512 * 512


@pytest.fixture(scope="module")
def slide():
    image, truth = mosaic.mosaic(1024)
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, image, tile=(256, 256), compression="zlib")
    return image, truth, buffer.getvalue()


def post(api_client, data: bytes, **fields):
    payload = {"input_image": SimpleUploadedFile("slide.tif", data), **fields}
    return api_client.post(URL, payload, format="multipart")


def download(api_client, job_id, action) -> bytes:
    response = api_client.get(f"{URL}{job_id}/{action}/")
    assert response.status_code == 200, response.content[:300]
    return b"".join(response.streaming_content)


def test_a_large_image_is_segmented_in_blocks_and_stitched(
    api_client, eager_celery, django_capture_on_commit_callbacks, slide
):
    image, _truth, data = slide
    with django_capture_on_commit_callbacks(execute=True):
        response = post(api_client, data, model_type="watershed")
    assert response.status_code == 201, response.content
    job_id = response.json()["id"]
    job = PredictionJob.objects.get(pk=job_id)
    assert job.tiled
    assert job.status == JobStatus.COMPLETED, job.error_message
    assert job.blocks_total == 16

    status = api_client.get(f"{URL}{job_id}/status/").json()
    assert status["progress"] == {"blocks_done": 16, "blocks_total": 16, "fraction": 1.0}
    assert status["stage"] == JobStage.STITCH

    masks = np.load(io.BytesIO(download(api_client, job_id, "download_masks")))
    assert masks.shape == image.shape
    assert np.array_equal(np.unique(masks), np.arange(masks.max() + 1))
    assert job.num_cells_detected == masks.max()
    metrics = api_client.get(f"{URL}{job_id}/metrics/").json()
    assert len(metrics["individual_metrics"]) == masks.max()
    first = metrics["individual_metrics"][0]
    assert first["area"] == (masks == 1).sum()

    overlay = download(api_client, job_id, "download_segmented_image")
    with tifffile.TiffFile(io.BytesIO(overlay)) as tif:
        assert tif.pages.first.shape == (*image.shape, 3)
    archive = zipfile.ZipFile(io.BytesIO(download(api_client, job_id, "download_individual_cells")))
    assert len(archive.namelist()) == masks.max()

    assert not PredictionBlock.objects.filter(job=job).exclude(status=BlockStatus.DONE).exists()


def test_blocks_of_the_default_size_score_as_the_whole_image(
    api_client, eager_celery, django_capture_on_commit_callbacks, settings
):
    """Blocks of 1024 px and more are estimated locally by the engine, as the whole slide is,
    so cutting it into blocks costs (almost) nothing."""
    settings.CELLSERVE_BLOCK_SIZE, settings.CELLSERVE_BLOCK_OVERLAP = 1024, 128
    image, truth = mosaic.mosaic(2048)
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, image, tile=(256, 256), compression="zlib")
    with django_capture_on_commit_callbacks(execute=True):
        job_id = post(api_client, buffer.getvalue(), model_type="watershed").json()["id"]
    job = PredictionJob.objects.get(pk=job_id)
    assert (job.status, job.blocks_total) == (JobStatus.COMPLETED, 4), job.error_message
    masks = np.load(io.BytesIO(download(api_client, job_id, "download_masks")))
    whole = engines.get_engine("watershed").segment(image, engines.SegmentationParams()).masks
    tiled_ap = evaluate.evaluate(truth, masks)["average_precision"]["0.5"]
    whole_ap = evaluate.evaluate(truth, whole)["average_precision"]["0.5"]
    assert tiled_ap >= whole_ap - 0.01, (tiled_ap, whole_ap)
    assert abs(int(masks.max()) - int(whole.max())) <= 0.01 * whole.max()


def test_a_cell_across_a_seam_is_one_label(
    api_client, eager_celery, django_capture_on_commit_callbacks
):
    image = np.full((600, 600), 10, np.uint8)
    yy, xx = np.mgrid[:600, :600]
    centres = [(256, 256), (256, 100), (100, 256), (500, 512)]  # on seams, a corner, an edge
    for y, x in centres:
        image[(yy - y) ** 2 + (xx - x) ** 2 < 20**2] = 200
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, image)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(
            api_client, buffer.getvalue(), model_type="watershed", tiled="true", diameter="40"
        )
    job_id = response.json()["id"]
    job = PredictionJob.objects.get(pk=job_id)
    assert job.status == JobStatus.COMPLETED, job.error_message
    assert job.block_overlap >= 80  # twice the diameter
    masks = np.load(io.BytesIO(download(api_client, job_id, "download_masks")))
    assert masks.max() == len(centres)
    for y, x in centres:
        label = masks[y, x]
        disc = (yy - y) ** 2 + (xx - x) ** 2 < 18**2
        assert label > 0
        assert np.all(masks[disc] == label)


def test_blank_blocks_are_skipped(api_client, eager_celery, django_capture_on_commit_callbacks):
    image = np.zeros((700, 700), np.uint8)
    image[40:80, 40:80] = 200
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, image)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(api_client, buffer.getvalue(), model_type="watershed", tiled="true")
    job = PredictionJob.objects.get(pk=response.json()["id"])
    assert job.status == JobStatus.COMPLETED, job.error_message
    assert job.num_cells_detected == 1
    skipped = PredictionBlock.objects.filter(job=job, skipped=True).count()
    assert skipped == job.blocks_total - 1


def test_a_block_that_keeps_failing_fails_the_job(
    api_client, eager_celery, django_capture_on_commit_callbacks, monkeypatch, slide
):
    real = tiling.read_block
    calls = []

    def failing(job, block):
        calls.append(block.index)
        if block.index == 5:
            raise RuntimeError("disk on fire")
        return real(job, block)

    monkeypatch.setattr(tiling, "read_block", failing)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(api_client, slide[2], model_type="watershed")
    job = PredictionJob.objects.get(pk=response.json()["id"])
    assert job.status == JobStatus.FAILED
    assert "block 5 failed 3 times" in job.error_message
    assert "disk on fire" in job.error_message
    assert calls.count(5) == 3
    assert not job.result_masks


def test_a_cancelled_job_runs_no_more_blocks(
    api_client, django_capture_on_commit_callbacks, slide, monkeypatch
):
    sent = []
    monkeypatch.setattr(tiling, "send_blocks", sent.append)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(api_client, slide[2], model_type="watershed")
    job_id = response.json()["id"]
    job = PredictionJob.objects.get(pk=job_id)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.segment_job.apply((job_id, 1))
    assert sent == [job.pk]
    with django_capture_on_commit_callbacks(execute=True):
        tasks.segment_block.apply((job_id, 0, 1))
        assert api_client.post(f"{URL}{job_id}/cancel/").status_code == 200
        for index in range(1, 16):
            tasks.segment_block.apply((job_id, index, 1))
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    done = PredictionBlock.objects.filter(job=job, status=BlockStatus.DONE).count()
    assert done == 1
    assert not job.result_masks


def _without_stitching(monkeypatch):
    """The worker of the last block dies after storing it, before ``maybe_stitch``."""
    real = tiling.maybe_stitch
    monkeypatch.setattr(tiling, "maybe_stitch", lambda job_id: None)
    return lambda: monkeypatch.setattr(tiling, "maybe_stitch", real)


def test_a_job_whose_last_block_died_before_stitching_is_stitched_by_the_watchdog(
    api_client, eager_celery, django_capture_on_commit_callbacks, slide, monkeypatch
):
    restore = _without_stitching(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        job_id = post(api_client, slide[2], model_type="watershed").json()["id"]
    job = PredictionJob.objects.get(pk=job_id)
    assert (job.status, job.stage) == (JobStatus.PROCESSING, JobStage.BLOCKS)
    assert not PredictionBlock.objects.filter(job=job).exclude(status=BlockStatus.DONE).exists()
    restore()
    with django_capture_on_commit_callbacks(execute=True):
        tasks.watchdog()
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.error_message
    with django_capture_on_commit_callbacks(execute=True):
        tasks.watchdog()  # nothing left to do: stitched once
    assert PredictionJob.objects.get(pk=job_id).completed_at == job.completed_at


def test_a_block_whose_message_was_lost_is_sent_again_at_no_cost(
    api_client, django_capture_on_commit_callbacks, slide, monkeypatch
):
    sent = []
    monkeypatch.setattr(tiling, "send_blocks", lambda job_id: None)  # the group never arrives
    monkeypatch.setattr(tiling, "_send_block", lambda job, index, attempt: sent.append(
        (index, attempt)))  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        job_id = post(api_client, slide[2], model_type="watershed").json()["id"]
        tasks.segment_job.apply((job_id, 1))
    assert tiling.requeue_expired_blocks() == 0  # within their pickup deadline
    assert not PredictionBlock.objects.filter(job_id=job_id, lease_expires_at=None).exists()
    past = timezone.now() - timedelta(seconds=1)
    PredictionBlock.objects.filter(job_id=job_id, index__in=(2, 5)).update(lease_expires_at=past)
    with django_capture_on_commit_callbacks(execute=True):
        assert tiling.requeue_expired_blocks() == 2
    assert sorted(sent) == [(2, 1), (5, 1)]  # the same first attempt
    assert tiling.claim_block(job_id, 2, 1, "resent") is not None


def test_a_lost_stitching_message_is_sent_again(
    api_client, django_capture_on_commit_callbacks, slide, monkeypatch
):
    monkeypatch.setattr(tiling, "send_blocks", lambda job_id: None)
    with django_capture_on_commit_callbacks(execute=True):
        job_id = post(api_client, slide[2], model_type="watershed").json()["id"]
        tasks.segment_job.apply((job_id, 1))
    PredictionBlock.objects.filter(job_id=job_id).update(status=BlockStatus.DONE)
    monkeypatch.setattr(jobs, "send", lambda *args: None)  # lost on the way
    tiling.maybe_stitch(uuid.UUID(job_id))
    job = PredictionJob.objects.get(pk=job_id)
    assert job.stage == JobStage.STITCH
    assert job.lease_expires_at is not None
    PredictionJob.objects.filter(pk=job_id).update(lease_expires_at=timezone.now())
    requeued, failed = leases.requeue_expired()
    assert [(r.stage, r.attempt) for r in requeued] == [(JobStage.STITCH, job.attempts + 1)]
    assert failed == []


def test_a_lost_block_is_sent_again_by_the_watchdog(
    api_client, django_capture_on_commit_callbacks, slide, monkeypatch
):
    sent = []
    monkeypatch.setattr(tiling, "send_blocks", sent.append)
    monkeypatch.setattr(tiling, "_send_block", lambda job, index, attempt: sent.append(
        (index, attempt)))  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        job_id = post(api_client, slide[2], model_type="watershed").json()["id"]
        tasks.segment_job.apply((job_id, 1))
    lease = tiling.claim_block(job_id, 3, 1, "lost-task")
    assert lease is not None
    tiling.expire_block(job_id, 3)  # its worker died (as task_failure reports it)
    with django_capture_on_commit_callbacks(execute=True):
        assert tiling.requeue_expired_blocks() == 1
    assert (3, 2) in sent
    block = PredictionBlock.objects.get(job_id=job_id, index=3)
    assert (block.status, block.attempts) == (BlockStatus.PENDING, 1)
    # The dead worker's late store finds its lease gone.
    with pytest.raises(tiling.leases.LeaseLost):
        tiling.segment_block(lease)
