"""Stored files: served to their owner as downloads of their real type, never as HTML."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from predictions.models import PredictionJob
from tests.helpers.images import png_bytes

pytestmark = pytest.mark.django_db
URL = "/api/v1/predictions/"


@pytest.fixture
def submit(api_client, eager_celery, django_capture_on_commit_callbacks, blobs_png):
    def post(name: str, content: bytes = blobs_png):
        with django_capture_on_commit_callbacks(execute=True):
            response = api_client.post(
                URL,
                {"input_image": SimpleUploadedFile(name, content), "model_type": "watershed"},
                format="multipart",
            )
        assert response.status_code == 201, response.content
        return response.json()

    return post


def test_a_png_named_html_is_stored_and_served_as_a_png_download(api_client, submit):
    body = submit("x.html")
    assert re.fullmatch(r"/media/input_images/[0-9a-f]{32}/x\.png", body["input_image"])
    response = api_client.get(body["input_image"])
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == 'attachment; filename="x.png"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("name", "kept"),
    [
        ("é" * 90 + ".png", "é" * 90 + ".png"),
        ("ÿ" * 300 + ".png", "ÿ" * 251 + ".png"),  # Django keeps 255 characters
        ("細胞" * 60 + ".tif", "細胞" * 60 + ".tif"),
        ("../../etc/passwd", "passwd"),  # Django keeps the last path component
        ("a\\b\\c.png", "c.png"),
    ],
)
def test_any_file_name_is_accepted_and_kept_for_downloads(api_client, submit, name, kept):
    body = submit(name)
    stored = body["input_image"]
    assert re.fullmatch(r"/media/input_images/[0-9a-f]{32}/[A-Za-z0-9_.-]{1,64}", stored)
    job = PredictionJob.objects.get(pk=body["id"])
    assert job.input_image_name == kept
    response = api_client.get(stored)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert "/" not in response["Content-Disposition"].split("filename", 1)[1].replace("%2F", "")


def test_result_files_have_their_types(api_client, submit):
    job_id = submit("cells.png")["id"]
    results = api_client.get(f"{URL}{job_id}/results/").json()
    expected = {
        "result_masks": "application/octet-stream",
        "result_flows": "application/octet-stream",
        "result_segmented_images": "image/png",
        "result_tif_archive": "application/zip",
        "result_metrics": "application/json",
    }
    for field, kind in expected.items():
        response = api_client.get(results[field])
        assert (response.status_code, response["Content-Type"]) == (200, kind), field
        assert response["Content-Disposition"].startswith("attachment;")


def test_the_proxy_sends_the_bytes_when_configured(api_client, submit, settings):
    settings.CELLSERVE_MEDIA_ACCEL_REDIRECT = "/protected-media/"
    body = submit("cells.png")
    response = api_client.get(body["input_image"])
    assert response.status_code == 200
    assert response.content == b""
    assert response["X-Accel-Redirect"] == "/protected-media/" + body["input_image"][7:]
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == 'attachment; filename="cells.png"'
    download = api_client.get(f"{URL}{body['id']}/download_masks/")
    assert download["X-Accel-Redirect"].endswith(f"masks_{body['id']}.npy")


def test_a_file_missing_from_storage_is_a_404(api_client, submit, media_root):
    body = submit("cells.png")
    (media_root / body["input_image"][len("/media/") :]).unlink()
    response = api_client.get(body["input_image"])
    assert response.status_code == 404
    assert response.json() == {"detail": "the file is missing from storage"}


def test_media_needs_credentials_with_debug_on(client, submit, settings):
    settings.DEBUG = True  # there is no unauthenticated media route in any mode
    body = submit("cells.png")
    assert client.get(body["input_image"]).status_code == 401


def test_png_content_with_any_declared_type_is_stored_by_its_content(api_client, submit):
    body = submit("scan.jpg", png_bytes(__import__("numpy").zeros((8, 8), "uint8")))
    assert body["input_image"].endswith("/scan.png")
