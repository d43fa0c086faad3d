"""Queued ingest end to end over real parts: HTTP (live server + requests), a Celery worker
process, Redis as the broker and PostgreSQL as the database. Nothing is mocked; when Redis
or PostgreSQL is down these tests fail, never skip.
"""

import io

import numpy as np
import pytest

from depth_images import synthetic
from depth_images.services import resize
from tests.helpers.http import poll, token_session

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
TIMEOUT_S = 120


@pytest.fixture
def session(live_server, django_user_model, settings):
    # Every upload goes through the worker (the live server runs in this process).
    settings.CELLSERVE_DEPTH_SYNC_MAX_BYTES = 1024
    user = django_user_model.objects.create_user("dora", password="pw-dora-123")
    http = token_session(user)
    http.base = live_server.url
    return http


def finished(response) -> bool:
    return response.json()["status"] in ("ready", "failed")


def wait_for(session, url, log):
    return poll(session, url, log, finished, TIMEOUT_S, interval_s=0.3).json()


def upload(session, path, data: bytes, **fields):
    return session.post(
        f"{session.base}{path}", files={"file": ("well.csv", data, "text/csv")}, data=fields,
        timeout=30,
    )  # fmt: skip


def test_large_upload_is_ingested_by_the_worker_then_served(session, celery_worker_process):
    log = celery_worker_process
    created = upload(session, "/upload-csv/", synthetic.csv_bytes(), dataset="well")
    assert created.status_code == 202, created.text
    status_url = created.json()["status_url"]
    ready = wait_for(session, status_url, log)
    assert ready["status"] == "ready", ready
    assert (ready["row_count"], ready["depth_min"], ready["depth_max"]) == (5460, 9000.1, 9546.0)
    assert ready["last_upload"]["skipped_empty_rows"] == 1

    images = session.get(f"{session.base}/get-images/9100/9100.4/?dataset=well", timeout=30)
    assert images.json()["depths"] == [9100.0, 9100.1, 9100.2, 9100.3, 9100.4]
    frame = session.get(f"{status_url}frame.npy?depth_min=9000.1&depth_max=9100.0")
    expected = resize.resize_rows(synthetic.pixel_rows(1000).astype(np.float64))
    assert np.array_equal(np.load(io.BytesIO(frame.content)), expected)
    png = session.get(f"{status_url}frame.png?colormap=copper&vmin=20&vmax=230")
    assert png.status_code == 200
    assert png.content.startswith(b"\x89PNG")


def test_bad_large_upload_ends_failed_and_keeps_the_rows(session, celery_worker_process):
    log = celery_worker_process
    first = upload(session, "/api/v1/depth-datasets/", synthetic.csv_bytes(100), name="w")
    status_url = first.json()["status_url"]
    assert wait_for(session, status_url, log)["status"] == "ready"
    frame_url = f"{status_url}frame.npy"
    before = session.get(frame_url, timeout=30).content

    lines = synthetic.csv_bytes(200, seed=9).decode().split("\n")
    lines[150] = "9015.0" + ",999.0" * 200
    second = upload(session, "/api/v1/depth-datasets/", "\n".join(lines).encode(), name="w")
    assert second.status_code == 202
    failed = wait_for(session, status_url, log)
    assert failed["status"] == "failed"
    assert failed["error_message"] == "line 151: col1 value 999.0 is outside 0-255"
    assert failed["row_count"] == 100
    assert failed["depth_max"] == 9010.0
    assert session.get(frame_url, timeout=30).content == before
