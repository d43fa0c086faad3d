"""End to end over real parts: HTTP (live server + requests), a Celery worker process,
Redis as the broker and PostgreSQL as the database, on a real nuclei image.

Nothing here is mocked. When Redis or PostgreSQL is down these tests fail, never skip.
"""

import io
import zipfile

import numpy as np
import pytest
import tifffile

from predictions.services.evaluate import evaluate
from tests.helpers.http import poll, token_session
from tests.helpers.images import png_bytes

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
JOB_TIMEOUT_S = 180


def finished(response) -> bool:
    return response.json()["status"] in ("completed", "failed")


def wait_for(session, url, log):
    return poll(session, url, log, finished, JOB_TIMEOUT_S).json()


@pytest.fixture
def session(live_server, django_user_model):
    user = django_user_model.objects.create_user("carol", password="pw-carol-123")
    http = token_session(user)
    http.base = f"{live_server.url}/api/v1/predictions/"
    return http


def test_real_image_goes_through_worker_to_downloaded_results(
    session, celery_worker_process, nuclei_dir
):
    log = celery_worker_process
    image_path = nuclei_dir / "stardist_img2d.tif"
    truth = tifffile.imread(nuclei_dir / "stardist_mask2d.tif")
    with image_path.open("rb") as handle:
        created = session.post(
            session.base,
            files={"input_image": (image_path.name, handle, "image/tiff")},
            data={"model_type": "watershed"},
            timeout=30,
        )
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    assert created.json()["status"] == "pending"

    status = wait_for(session, f"{session.base}{job_id}/status/", log)
    assert status["status"] == "completed", status
    assert status["num_cells_detected"] > 50

    masks_bytes = session.get(f"{session.base}{job_id}/download_masks/", timeout=30).content
    masks = np.load(io.BytesIO(masks_bytes))
    assert masks.shape == truth.shape
    assert masks.max() == status["num_cells_detected"]
    assert evaluate(truth, masks)["average_precision"]["0.5"] > 0.5

    archive = session.get(f"{session.base}{job_id}/download_individual_cells/", timeout=30)
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zf:
        assert len(zf.namelist()) == status["num_cells_detected"]
        first = tifffile.imread(io.BytesIO(zf.read("cell_0001.tif")))
        assert first.dtype == np.uint16
    overlay = session.get(f"{session.base}{job_id}/download_segmented_image/", timeout=30)
    assert overlay.content.startswith(b"\x89PNG")
    metrics = session.get(f"{session.base}{job_id}/metrics/", timeout=30).json()
    assert metrics["summary"]["total_cells"] == status["num_cells_detected"]


def test_blank_image_completes_with_zero_cells(session, celery_worker_process):
    log = celery_worker_process
    created = session.post(
        session.base, files={"input_image": ("blank.png", png_bytes(np.zeros((32, 32), np.uint8)))},
        data={"model_type": "watershed"}, timeout=30,
    )  # fmt: skip
    status = wait_for(session, f"{session.base}{created.json()['id']}/status/", log)
    assert status["status"] == "completed"
    assert status["num_cells_detected"] == 0
    metrics = session.get(f"{session.base}{created.json()['id']}/metrics/", timeout=30).json()
    assert metrics["individual_metrics"] == []


def test_missing_weights_end_the_job_failed_with_instructions(
    session, celery_worker_process, blobs_png
):
    log = celery_worker_process
    created = session.post(
        session.base, files={"input_image": ("b.png", blobs_png)}, data={"model_type": "cpsam"},
        timeout=30,
    )  # fmt: skip
    status = wait_for(session, f"{session.base}{created.json()['id']}/status/", log)
    assert status["status"] == "failed"
    assert "weights 'cpsam-missing' were not found" in status["error_message"]
    assert session.get(f"{session.base}{created.json()['id']}/results/").status_code == 409
