"""Batches through the API (tasks in-process), and the job list's filters and ordering."""

import csv
import io
import json
import zipfile
from datetime import timedelta

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from predictions.models import Batch, PredictionJob
from tests.helpers.data import NUCLEI_DEV, require
from tests.helpers.factories import PredictionJobFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/batches/"
JOBS = "/api/v1/predictions/"
DEV = sorted(p for p in require(NUCLEI_DEV).glob("*.png"))


def _file(path, name=None):
    return SimpleUploadedFile(name or path.name, path.read_bytes())


def _zip(members: dict[str, bytes]) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return SimpleUploadedFile("images.zip", buffer.getvalue())


def _post(client, files, capture, **fields):
    with capture(execute=True):
        return client.post(
            URL, {"input_image": files, "model_type": "watershed", **fields}, format="multipart"
        )


def test_a_batch_makes_one_job_per_image_and_reports_counts(
    api_client, eager_celery, django_capture_on_commit_callbacks
):
    response = _post(api_client, [_file(p) for p in DEV[:3]], django_capture_on_commit_callbacks)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["total"] == 3
    assert [j["input_image_name"] for j in body["jobs"]] == [p.name for p in DEV[:3]]
    batch = api_client.get(f"{URL}{body['id']}/").json()
    assert batch["counts"]["completed"] == 3
    assert (batch["finished"], batch["progress"], batch["done"]) == (3, 1.0, True)
    # Each job stays usable alone.
    job = body["jobs"][0]["id"]
    assert api_client.get(f"{JOBS}{job}/status/").json()["status"] == "completed"
    listed = api_client.get(JOBS, {"batch": body["id"]}).json()
    assert listed["count"] == 3


def test_a_zip_batch_names_every_member_it_could_not_take(
    api_client, eager_celery, django_capture_on_commit_callbacks
):
    archive = _zip({
        "plate/a.png": DEV[0].read_bytes(),
        "plate/b.png": DEV[1].read_bytes(),
        "plate/notes.txt": b"not an image",
        "__MACOSX/plate/._a.png": b"resource fork",
        ".DS_Store": b"junk",
    })  # fmt: skip
    response = _post(api_client, [archive], django_capture_on_commit_callbacks)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["total"] == 2
    assert [r["name"] for r in body["rejected"]] == ["notes.txt"]
    assert "input_image" in body["rejected"][0]["errors"]


def test_a_batch_with_no_usable_image_is_refused_naming_each_file(
    api_client, django_capture_on_commit_callbacks
):
    archive = _zip({"a.txt": b"hello", "b.csv": b"1,2"})
    response = _post(api_client, [archive], django_capture_on_commit_callbacks)
    assert response.status_code == 400
    problems = response.json()["input_image"]
    assert [p.split(":")[0] for p in problems] == ["a.txt", "b.csv"]
    assert not Batch.objects.exists()
    assert not PredictionJob.objects.exists()


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        ([], "send at least one image"),
        ("zip:", "send at least one image"),
        ("broken", "is not a readable ZIP"),
        ("three", "more than the 2 a batch may hold (CELLSERVE_MAX_BATCH_FILES"),
    ],
)
def test_bad_batches_are_a_400_naming_input_image(
    api_client, settings, django_capture_on_commit_callbacks, files, problem
):
    settings.CELLSERVE_MAX_BATCH_FILES = 2
    if files == "zip:":
        files = [_zip({})]
    elif files == "broken":
        files = [SimpleUploadedFile("x.zip", b"PK\x03\x04 not really")]
    elif files == "three":
        files = [_file(p) for p in DEV[:3]]
    response = _post(api_client, files, django_capture_on_commit_callbacks)
    assert response.status_code == 400, response.content
    assert problem in " ".join(response.json()["input_image"])


def test_a_parameter_problem_is_named_per_file_and_masks_are_refused(
    api_client, django_capture_on_commit_callbacks
):
    response = _post(api_client, [_file(DEV[0])], django_capture_on_commit_callbacks, diameter="-1")
    assert response.status_code == 400
    assert "diameter" in response.json()["input_image"][0]
    masks = SimpleUploadedFile("m.tif", b"II*\x00")
    response = _post(api_client, [_file(DEV[0])], django_capture_on_commit_callbacks,
                     input_masks=masks)  # fmt: skip
    assert response.status_code == 400
    assert "input_masks" in response.json()


def test_too_many_jobs_at_once_is_a_429(
    api_client, user, settings, django_capture_on_commit_callbacks
):
    settings.CELLSERVE_MAX_ACTIVE_JOBS = 2
    PredictionJobFactory(owner=user)  # one running already: two more would make three
    response = _post(api_client, [_file(p) for p in DEV[:2]], django_capture_on_commit_callbacks)
    assert response.status_code == 429
    assert "CELLSERVE_MAX_ACTIVE_JOBS" in response.json()["detail"]
    assert PredictionJob.objects.count() == 1


def test_a_batch_larger_than_the_active_job_limit_is_a_400(
    api_client, settings, django_capture_on_commit_callbacks
):
    """It could never start, however long the client waited: not a 429."""
    settings.CELLSERVE_MAX_ACTIVE_JOBS = 2
    response = _post(api_client, [_file(p) for p in DEV[:3]], django_capture_on_commit_callbacks)
    assert response.status_code == 400
    assert "CELLSERVE_MAX_ACTIVE_JOBS" in response.json()["input_image"][0]


def test_batch_parameters_read_as_a_form_like_an_upload(
    api_client, eager_celery, django_capture_on_commit_callbacks
):
    """An empty diameter estimates it, as on a job's upload."""
    response = _post(api_client, [_file(DEV[0])], django_capture_on_commit_callbacks, diameter="")
    assert response.status_code == 201, response.content


def test_zip_members_from_windows_and_corrupt_members(
    api_client, eager_celery, django_capture_on_commit_callbacks
):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("plate\\A01.png", DEV[0].read_bytes())
        archive.writestr("broken.png", DEV[1].read_bytes())
    data = bytearray(buffer.getvalue())
    start = data.index(b"broken.png") + len(b"broken.png")  # that member's deflate stream
    data[start + 40 : start + 200] = b"\xff" * 160
    response = _post(api_client, [SimpleUploadedFile("x.zip", bytes(data))],
                     django_capture_on_commit_callbacks)  # fmt: skip
    assert response.status_code == 201, response.content
    body = response.json()
    assert [job["input_image_name"] for job in body["jobs"]] == ["A01.png"]
    assert [r["name"] for r in body["rejected"]] == ["broken.png"]


@pytest.fixture
def finished_batch(api_client, eager_celery, django_capture_on_commit_callbacks):
    response = _post(api_client, [_file(p) for p in DEV[:2]], django_capture_on_commit_callbacks)
    assert response.status_code == 201
    return response.json()


def test_download_results_streams_a_folder_per_job(api_client, finished_batch):
    response = api_client.get(f"{URL}{finished_batch['id']}/download_results/",
                              {"formats": "masks,csv,geojson"})  # fmt: skip
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = archive.namelist()
    folders = {name.split("/")[0] for name in names}
    assert len(folders) == 2
    assert sorted(n.rsplit(".", 1)[-1] for n in names) == sorted(["npy", "csv", "geojson"] * 2)
    masks = next(n for n in names if n.endswith(".npy"))
    assert np.load(io.BytesIO(archive.read(masks))).ndim == 2
    bad = api_client.get(f"{URL}{finished_batch['id']}/download_results/", {"formats": "pdf"})
    assert bad.status_code == 400
    assert "pdf" in bad.json()["formats"][0]


def test_batch_metrics_csv_holds_every_cell_of_every_image(api_client, finished_batch):
    response = api_client.get(f"{URL}{finished_batch['id']}/metrics.csv")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    expected = []
    for job in finished_batch["jobs"]:
        cells = api_client.get(f"{JOBS}{job['id']}/metrics/").json()["individual_metrics"]
        expected += [(job["id"], cell) for cell in cells]
    assert len(rows) == len(expected)
    for row, (job_id, cell) in zip(rows, expected, strict=True):
        assert row["job_id"] == job_id
        assert float(row["area"]) == cell["area"]
        assert float(row["solidity"]) == cell["solidity"]


def test_a_batch_is_private_and_deleting_it_deletes_its_jobs(
    api_client, other_client, finished_batch
):
    url = f"{URL}{finished_batch['id']}/"
    assert other_client.get(url).status_code == 404
    assert other_client.get(f"{url}metrics.csv").status_code == 404
    assert api_client.get(URL).json()["count"] == 1
    assert api_client.delete(url).status_code == 204
    assert not PredictionJob.objects.exists()


def test_every_export_is_listed_and_downloads(api_client, finished_batch):
    job = finished_batch["jobs"][0]
    downloads = api_client.get(f"{JOBS}{job['id']}/results/").json()["downloads"]
    for action in ("download_geojson", "download_rois", "download_labels", "download_csv",
                   "download_seg"):  # fmt: skip
        assert action in downloads
    response = api_client.get(f"{JOBS}{job['id']}/download_seg/")
    stem = job["input_image_name"].rsplit(".", 1)[0]
    assert f'filename="{stem}_seg.npy"' in response["Content-Disposition"]
    geojson = api_client.get(f"{JOBS}{job['id']}/download_geojson/")
    assert geojson["Content-Type"] == "application/geo+json"
    features = json.loads(b"".join(geojson.streaming_content))["features"]
    assert len(features) == PredictionJob.objects.get(pk=job["id"]).num_cells_detected


def test_the_job_list_filters_orders_and_refuses_bad_parameters(api_client, finished_batch):
    later = (timezone.now() + timedelta(hours=1)).isoformat()
    assert api_client.get(JOBS, {"created_after": later}).json()["count"] == 0
    assert (
        api_client.get(JOBS, {"status": "completed", "model_type": "watershed"}).json()["count"]
        == 2
    )
    ordered = api_client.get(JOBS, {"ordering": "-num_cells_detected"}).json()["results"]
    cells = [job["num_cells_detected"] for job in ordered]
    assert cells == sorted(cells, reverse=True)
    paged = api_client.get(JOBS, {"limit": 1, "offset": 1}).json()
    assert (paged["count"], len(paged["results"])) == (2, 1)
    for params, name in [
        ({"ordering": "password"}, "ordering"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"batch": "not-a-uuid"}, "batch"),
        ({"status": "done"}, "status"),
        ({"created_after": "9999-12-31T23:00:00-05:00"}, "created_after"),
        ({"created_before": "0001-01-01T00:00:00+01:00"}, "created_before"),
        ({"batch": ""}, "batch"),
        ({"created_after": ""}, "created_after"),
    ]:
        response = api_client.get(JOBS, params)
        assert response.status_code == 400, params
        assert name in response.json()
