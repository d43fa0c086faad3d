import io
import json
import re
import zipfile

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from predictions.models import JobStatus, PredictionJob
from tests.helpers.factories import PredictionJobFactory
from tests.helpers.images import png_bytes

pytestmark = pytest.mark.django_db
URL = "/api/v1/predictions/"


def upload(data: bytes, name="cells.png"):
    return SimpleUploadedFile(name, data)


def npy_bytes(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.fixture
def run_job(api_client, eager_celery, django_capture_on_commit_callbacks):
    """POST a job and run its tasks in-process; return the 201 response."""

    def post(**data):
        with django_capture_on_commit_callbacks(execute=True):
            return api_client.post(URL, data, format="multipart")

    return post


@pytest.fixture
def completed_job(run_job, blobs_png):
    response = run_job(input_image=upload(blobs_png), model_type="watershed", min_size=5)
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_create_returns_the_seed_fields_and_queues(api_client, blobs_png, eager_celery):
    response = api_client.post(URL, {"input_image": upload(blobs_png)}, format="multipart")
    assert response.status_code == 201
    body = response.json()
    assert list(body) == ["id", "status", "input_image", "model_type", "created_at"]
    assert body["status"] == "pending"
    assert body["model_type"] == "cpsam"
    # An unguessable folder of its own; the name is made safe and ends in the detected type.
    assert re.fullmatch(r"/media/input_images/[0-9a-f]{32}/cells\.png", body["input_image"])


def test_job_runs_to_completed_with_results(api_client, completed_job):
    status = api_client.get(f"{URL}{completed_job}/status/").json()
    assert status["status"] == "completed", status
    assert status["num_cells_detected"] == 3
    assert status["processing_time"] > 0
    assert "error_message" not in status

    results = api_client.get(f"{URL}{completed_job}/results/").json()
    assert results["result_masks"] == f"/media/results/masks/masks_{completed_job}.npy"
    assert results["result_tif_archive"].endswith(f"individual_cells_{completed_job}.zip")
    assert [c["cell_id"] for c in results["cell_metrics"]] == [1, 2, 3]
    assert set(results["cell_metrics"][0]) == {
        "cell_id",
        "area",
        "perimeter",
        "aspect_ratio",
        "eccentricity",
        "solidity",
    }

    metrics = api_client.get(f"{URL}{completed_job}/metrics/").json()
    assert metrics["summary"]["total_cells"] == 3
    assert metrics["individual_metrics"][0]["bbox_max_row"] > 0


def test_downloads_stream_the_result_files(api_client, completed_job, blobs):
    masks_response = api_client.get(f"{URL}{completed_job}/download_masks/")
    assert masks_response.status_code == 200
    masks = np.load(io.BytesIO(b"".join(masks_response.streaming_content)))
    assert masks.shape == blobs.shape
    assert sorted(np.unique(masks)) == [0, 1, 2, 3]

    flows = np.load(
        io.BytesIO(
            b"".join(api_client.get(f"{URL}{completed_job}/download_flows/").streaming_content)
        )
    )
    assert flows.shape == (3, *blobs.shape)
    assert flows.dtype == np.float32

    png = api_client.get(f"{URL}{completed_job}/download_segmented_image/")
    assert png["Content-Type"] == "image/png"
    assert b"".join(png.streaming_content).startswith(b"\x89PNG")

    archive = api_client.get(f"{URL}{completed_job}/download_individual_cells/")
    with zipfile.ZipFile(io.BytesIO(b"".join(archive.streaming_content))) as zf:
        assert zf.namelist() == ["cell_0001.tif", "cell_0002.tif", "cell_0003.tif"]


def test_shape_analysis(api_client, completed_job):
    response = api_client.get("/api/v1/metrics/shape_analysis/", {"job_id": completed_job})
    assert response.status_code == 200
    cells = response.json()["shape_analysis"]
    assert len(cells) == 3
    assert {"orientation", "convex_area", "filled_area", "euler_number"} <= set(cells[0])
    assert cells[0]["euler_number"] == 1


@pytest.mark.parametrize(("job_id", "code"), [("", 400), ("not-a-uuid", 400), (None, 404)])
def test_shape_analysis_bad_job_ids(api_client, job_id, code):
    import uuid

    response = api_client.get(
        "/api/v1/metrics/shape_analysis/",
        {"job_id": job_id if job_id is not None else uuid.uuid4()},
    )
    assert response.status_code == code


def test_evaluate_against_ground_truth(api_client, completed_job):
    masks = np.load(
        io.BytesIO(
            b"".join(api_client.get(f"{URL}{completed_job}/download_masks/").streaming_content)
        )
    )
    response = api_client.post(
        f"{URL}{completed_job}/evaluate/",
        {"ground_truth": upload(npy_bytes(masks), "truth.npy")},
        format="multipart",
    )
    assert response.status_code == 200, response.content
    assert response.json()["average_precision"] == {"0.5": 1.0, "0.75": 1.0, "0.9": 1.0}
    wrong = api_client.post(
        f"{URL}{completed_job}/evaluate/",
        {"ground_truth": upload(npy_bytes(np.zeros((5, 5), np.uint16)), "t.npy")},
        format="multipart",
    )
    assert wrong.status_code == 400
    assert "5x5" in json.dumps(wrong.json())


def test_uploaded_masks_skip_segmentation(run_job, api_client, blobs_png, blobs):
    masks = np.zeros(blobs.shape, np.int32)
    masks[10:20, 10:20], masks[40:60, 40:60] = 5, 9
    response = run_job(input_image=upload(blobs_png), input_masks=upload(npy_bytes(masks), "m.npy"))
    job_id = response.json()["id"]
    status = api_client.get(f"{URL}{job_id}/status/").json()
    assert status["status"] == "completed"
    assert status["num_cells_detected"] == 2
    assert api_client.get(f"{URL}{job_id}/download_flows/").status_code == 404
    areas = [
        c["area"] for c in api_client.get(f"{URL}{job_id}/metrics/").json()["individual_metrics"]
    ]
    assert areas == [100.0, 400.0]


def test_missing_weights_fail_the_job_with_instructions(
    run_job, api_client, blobs_png, settings, tmp_path
):
    settings.CELLPOSE_LOCAL_MODELS_PATH = str(tmp_path / "no-models")
    settings.CELLPOSE_MODEL = "cpsam-missing"
    from predictions.services.engines import get_engine

    get_engine.cache_clear()
    try:
        job_id = run_job(input_image=upload(blobs_png), model_type="cpsam").json()["id"]
    finally:
        get_engine.cache_clear()
    status = api_client.get(f"{URL}{job_id}/status/").json()
    assert status["status"] == "failed"
    assert "weights" in status["error_message"]
    assert "CELLPOSE_LOCAL_MODELS_PATH" in status["error_message"]
    results = api_client.get(f"{URL}{job_id}/results/")
    assert results.status_code == 409
    assert "failed" in results.json()["detail"]


def test_results_are_409_until_completed(api_client, user):
    job = PredictionJobFactory(owner=user)
    for path in ("results", "metrics", "download_masks", "download_individual_cells"):
        response = api_client.get(f"{URL}{job.id}/{path}/")
        assert response.status_code == 409, path
        assert response.json()["status"] == "pending"


def test_users_see_only_their_own_jobs(api_client, other_client, completed_job):
    assert other_client.get(f"{URL}{completed_job}/").status_code == 404
    assert other_client.get(f"{URL}{completed_job}/download_masks/").status_code == 404
    assert (
        other_client.get("/api/v1/metrics/shape_analysis/", {"job_id": completed_job}).status_code
        == 404
    )
    assert other_client.get(URL).json()["count"] == 0
    assert api_client.get(URL).json()["count"] == 1


def test_anonymous_requests_get_401(client, completed_job):
    assert client.get(URL).status_code == 401
    assert client.post(URL, {}).status_code == 401


def test_stats_count_by_status(api_client, user):
    PredictionJobFactory.create_batch(2, owner=user)
    PredictionJobFactory(owner=user, status=JobStatus.FAILED)
    PredictionJobFactory(status=JobStatus.COMPLETED)  # someone else's
    assert api_client.get(f"{URL}stats/").json() == {
        "total": 3,
        "pending": 2,
        "processing": 0,
        "completed": 0,
        "failed": 1,
        "cancelled": 0,
    }


def test_delete_removes_row_and_files(
    api_client, completed_job, media_root, django_capture_on_commit_callbacks
):
    job = PredictionJob.objects.get(pk=completed_job)
    paths = [media_root / job.result_masks.name, media_root / job.input_image.name]
    assert all(p.exists() for p in paths)
    with django_capture_on_commit_callbacks(execute=True):  # files go once the row is gone
        assert api_client.delete(f"{URL}{completed_job}/").status_code == 204
    assert not any(p.exists() for p in paths)
    assert not PredictionJob.objects.filter(pk=completed_job).exists()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({}, "input_image", "No file was submitted"),
        ({"input_image": b""}, "input_image", "empty"),
        ({"input_image": b"GIF89a not really"}, "input_image", "not a PNG, JPEG or TIFF"),
        ({"model_type": "unet"}, "model_type", "not a valid choice"),
        ({"diameter": "-3"}, "diameter", "greater than or equal to 0"),
        ({"flow_threshold": "nan"}, "flow_threshold", "valid number"),
        ({"cellprob_threshold": "99"}, "cellprob_threshold", "less than or equal to 10"),
        ({"min_size": "1.5"}, "min_size", "valid integer"),
        ({"input_masks": npy_bytes(np.zeros((3, 3), np.uint8))}, "input_masks", "masks are 3x3"),
    ],
)
def test_bad_input_is_a_clear_400(api_client, blobs_png, data, field, message):
    payload = {"input_image": upload(blobs_png)}
    for key, value in data.items():
        payload[key] = upload(value, f"{key}.bin") if isinstance(value, bytes) else value
    if not data:
        payload = {}
    before = PredictionJob.objects.count()
    response = api_client.post(URL, payload, format="multipart")
    assert response.status_code == 400
    assert message in " ".join(response.json()[field])
    assert PredictionJob.objects.count() == before


def test_image_above_pixel_limit_is_refused(api_client, settings):
    settings.CELLSERVE_MAX_IMAGE_PIXELS = 1000
    big = png_bytes(np.zeros((100, 100), np.uint8))
    response = api_client.post(URL, {"input_image": upload(big)}, format="multipart")
    assert response.status_code == 400
    assert "above the limit of 1,000 pixels" in response.json()["input_image"][0]


def test_unknown_job_is_404(api_client):
    assert api_client.get(f"{URL}00000000-0000-0000-0000-000000000000/status/").status_code == 404
    assert api_client.get(f"{URL}not-a-uuid/status/").status_code == 404


def test_openapi_schema_covers_every_endpoint(api_client):
    response = api_client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = set(json.loads(response.content)["paths"])
    for suffix in (
        "",
        "{id}/",
        "{id}/status/",
        "{id}/results/",
        "{id}/metrics/",
        "{id}/evaluate/",
        "{id}/download_segmented_image/",
        "{id}/download_individual_cells/",
        "{id}/download_masks/",
        "{id}/download_flows/",
        "stats/",
    ):
        assert f"/api/v1/predictions/{suffix}" in paths
    assert "/api/v1/metrics/shape_analysis/" in paths
    assert api_client.get("/api/docs/").status_code == 200


def test_schema_generates_without_warnings(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yaml"))


def test_every_model_type_has_an_engine():
    from predictions.models import ModelType
    from predictions.services.engines import ENGINE_NAMES

    assert sorted(ModelType.values) == sorted(ENGINE_NAMES)
