"""Jobs on files already on the server: the staff API (inside CELLSERVE_IMPORT_ROOTS) and the
management command (any path), both validated exactly as uploads are."""

import os
from pathlib import Path

import numpy as np
import pytest
import tifffile
from django.core.management import CommandError, call_command

from predictions.models import JobStatus, PredictionJob
from tests.helpers.factories import UserFactory
from tests.helpers.http import token_client
from tests.helpers.images import blobs_image

pytestmark = pytest.mark.django_db
URL = "/api/v1/predictions/register/"


@pytest.fixture
def slide(tmp_path):
    path = tmp_path / "slides" / "blobs.tif"
    path.parent.mkdir()
    tifffile.imwrite(path, blobs_image())
    return path


@pytest.fixture
def staff_client():
    return token_client(UserFactory(is_staff=True))


def test_staff_register_a_server_file_as_a_job(
    staff_client, slide, settings, eager_celery, django_capture_on_commit_callbacks
):
    settings.CELLSERVE_IMPORT_ROOTS = [str(slide.parent)]
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            URL, {"source": str(slide), "model_type": "watershed", "min_size": 5}, format="json"
        )
    assert response.status_code == 201, response.content
    job = PredictionJob.objects.get(pk=response.json()["id"])
    assert job.status == JobStatus.COMPLETED, job.error_message
    assert job.input_image_name == "blobs.tif"
    with job.input_image.open("rb") as stored:
        assert stored.read() == slide.read_bytes()  # a copy in storage: the source may go
    assert job.num_cells_detected == 3


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("/etc/passwd", "not inside a directory"),
        ("{root}/missing.tif", "is not a file"),
        ("{root}", "is not a file"),
        ("{root}/../outside.tif", "not inside a directory"),
        ("", "This field may not be blank"),
    ],
)
def test_bad_sources_are_refused_naming_source(staff_client, slide, settings, source, problem):
    settings.CELLSERVE_IMPORT_ROOTS = [str(slide.parent)]
    (slide.parent.parent / "outside.tif").write_bytes(slide.read_bytes())
    response = staff_client.post(URL, {"source": source.format(root=slide.parent)}, format="json")
    assert response.status_code == 400
    assert problem in " ".join(response.json()["source"])
    assert not PredictionJob.objects.exists()


def test_a_bad_file_is_refused_like_an_upload(staff_client, slide, settings):
    settings.CELLSERVE_IMPORT_ROOTS = [str(slide.parent)]
    pages = slide.parent / "pages.tif"
    tifffile.imwrite(pages, np.zeros((3, 32, 32), np.uint8), photometric="minisblack")
    response = staff_client.post(URL, {"source": str(pages)}, format="json")
    assert response.status_code == 400
    assert "channel_axis" in response.json()


def test_a_fifo_is_refused_at_once(staff_client, slide, settings):
    """A named pipe would block the request forever if it were opened for reading."""
    settings.CELLSERVE_IMPORT_ROOTS = [str(slide.parent)]
    fifo = slide.parent / "pipe.tif"
    os.mkfifo(fifo)
    response = staff_client.post(URL, {"source": str(fifo)}, format="json")
    assert response.status_code == 400
    assert "is not a file" in " ".join(response.json()["source"])


def test_a_refused_file_is_closed(staff_client, slide, settings):
    settings.CELLSERVE_IMPORT_ROOTS = [str(slide.parent)]
    pages = slide.parent / "pages.tif"  # opened, then refused by the image checks
    tifffile.imwrite(pages, np.zeros((3, 32, 32), np.uint8), photometric="minisblack")
    descriptors = Path("/proc/self/fd")
    before = len(list(descriptors.iterdir()))
    for _ in range(5):
        response = staff_client.post(URL, {"source": str(pages)}, format="json")
        assert response.status_code == 400
    assert len(list(descriptors.iterdir())) <= before


def test_only_staff_may_register(api_client, slide, settings):
    settings.CELLSERVE_IMPORT_ROOTS = [str(slide.parent)]
    response = api_client.post(URL, {"source": str(slide)}, format="json")
    assert response.status_code == 403


def test_the_command_registers_any_path(slide, user, capsys, settings):
    settings.CELLSERVE_IMPORT_ROOTS = []
    call_command(
        "register_image", str(slide), "--owner", user.username, "--model", "watershed",
        "--param", "min_size=5",
    )  # fmt: skip
    job = PredictionJob.objects.get(pk=capsys.readouterr().out.strip())
    assert job.owner == user
    assert job.min_size == 5
    with pytest.raises(CommandError, match="diamter=30"):
        call_command(
            "register_image", str(slide), "--owner", user.username, "--param", "diamter=30"
        )
    with pytest.raises(CommandError, match=r"source: .* is not a file"):
        call_command("register_image", str(slide) + ".gone", "--owner", user.username)
    with pytest.raises(CommandError, match="no user"):
        call_command("register_image", str(slide), "--owner", "nobody")
