"""Per-user limits on jobs, and uploads validated in bounded memory."""

import io
import tracemalloc

import numpy as np
import pytest
import tifffile
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.throttling import ScopedRateThrottle

from predictions.models import JobStatus, PredictionJob
from predictions.services import images, jobs
from tests.helpers.factories import PredictionJobFactory

# The default limit (CELLSERVE_MAX_IMAGE_PIXELS); services take it as an argument.
MAX_PIXELS = 100_000_000
DECODE_BUDGET = 64 * 2**20  # CELLSERVE_VALIDATE_DECODE_BYTES

pytestmark = pytest.mark.django_db
URL = "/api/v1/predictions/"


def post(client, png: bytes):
    return client.post(URL, {"input_image": SimpleUploadedFile("a.png", png)}, format="multipart")


def test_job_creation_is_throttled_with_retry_after(api_client, blobs_png, monkeypatch):
    from django.core.cache import cache

    cache.clear()
    monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "job_create", "2/minute")
    assert [post(api_client, blobs_png).status_code for _ in range(2)] == [201, 201]
    refused = post(api_client, blobs_png)
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    assert "throttled" in refused.json()["detail"].lower()
    assert PredictionJob.objects.count() == 2


def test_too_many_active_jobs_is_a_429_with_retry_after(api_client, user, blobs_png, settings):
    settings.CELLSERVE_MAX_ACTIVE_JOBS = 2
    settings.CELLSERVE_ACTIVE_JOBS_RETRY_S = 45
    PredictionJobFactory(owner=user)
    PredictionJobFactory(owner=user, status=JobStatus.PROCESSING)
    PredictionJobFactory(owner=user, status=JobStatus.COMPLETED)  # finished ones do not count
    refused = post(api_client, blobs_png)
    assert refused.status_code == 429
    assert refused["Retry-After"] == "45"
    assert "CELLSERVE_MAX_ACTIVE_JOBS=2" in refused.json()["detail"]
    assert PredictionJob.objects.count() == 3


def test_the_storage_quota_is_a_403_naming_it(api_client, user, blobs_png, settings):
    settings.CELLSERVE_STORAGE_QUOTA_BYTES = 10_000
    PredictionJobFactory(owner=user, status=JobStatus.COMPLETED, stored_bytes=9_000)
    refused = post(api_client, blobs_png)
    assert refused.status_code == 403
    assert "CELLSERVE_STORAGE_QUOTA_BYTES" in refused.json()["detail"]
    settings.CELLSERVE_STORAGE_QUOTA_BYTES = 10**9
    assert post(api_client, blobs_png).status_code == 201


def test_a_job_counts_what_it_stores(
    api_client, blobs_png, eager_celery, django_capture_on_commit_callbacks, media_root
):
    upload = {"input_image": SimpleUploadedFile("a.png", blobs_png), "model_type": "watershed"}
    with django_capture_on_commit_callbacks(execute=True):
        job_id = api_client.post(URL, upload, format="multipart").json()["id"]
    job = PredictionJob.objects.get(pk=job_id)
    assert job.status == JobStatus.COMPLETED
    fields = [field for field, _ in jobs.RESULT_FILES.values()]
    names = set(PredictionJob.objects.filter(pk=job_id).values_list(*fields)[0])
    results = sum((media_root / name).stat().st_size for name in names)
    assert job.stored_bytes == len(blobs_png) + results


def compressed_tiff(shape, dtype) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, np.zeros(shape, dtype), compression="zlib", rowsperstrip=64)
    return buffer.getvalue()


def test_validation_of_a_compressed_tiff_is_bounded(settings):
    """~0.8 MB of zlib that decodes to 800 MB: the request reads headers and one strip."""
    data = compressed_tiff((10_000, 10_000), np.uint64)
    assert len(data) < 2_000_000
    tracemalloc.start()
    info = images.validate_image(
        io.BytesIO(data), max_pixels=10**8, decode_budget=64 * 2**20, max_channels=16
    )
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert info.shape == (10_000, 10_000)
    assert info.decoded_bytes == 800_000_000
    assert peak < 50 * 2**20


def test_a_small_image_is_still_decoded_whole_to_validate_it(blobs_png):
    truncated = blobs_png[: len(blobs_png) - 40]
    with pytest.raises(images.ImageError, match="truncated or corrupt"):
        images.validate_image(
            io.BytesIO(truncated),
            max_pixels=MAX_PIXELS,
            decode_budget=DECODE_BUDGET,
            max_channels=16,
        )


def test_a_large_truncated_tiff_is_caught_from_its_structure():
    data = compressed_tiff((4_000, 4_000), np.uint32)
    with pytest.raises(images.ImageError, match="truncated"):
        images.validate_image(
            io.BytesIO(data[: len(data) // 2]),
            decode_budget=1024,
            max_pixels=MAX_PIXELS,
            max_channels=16,
        )
