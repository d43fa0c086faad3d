"""Bad requests to the tile endpoints: a clear 4xx naming the problem, never a 500."""

import json

import pytest
from django.core.files.base import ContentFile

from predictions.models import JobStatus, PredictionJob
from tests.helpers.images import blobs_image, png_bytes
from tiles import tasks
from tiles.models import TiledImage

pytestmark = pytest.mark.django_db


def url(job, rest: str, prefix: str = "inputs") -> str:
    return f"/api/v1/tiles/{prefix}/{job.pk}/{rest}"


def new_job(owner) -> PredictionJob:
    upload = ContentFile(png_bytes(blobs_image()), "b.png")
    return PredictionJob.objects.create(owner=owner, model_type="watershed", input_image=upload)


def tile_files(job) -> dict:
    return {t.layer: (t.file.name, t.built_from) for t in TiledImage.objects.filter(job=job)}


@pytest.mark.parametrize(
    ("rest", "status"),
    [
        ("tiles/9/0/0.png", 400),  # no such level
        ("tiles/2/99/0.png", 400),  # outside the level
        ("tiles/0/0/0.xyz", 404),  # not a format large-image writes
        ("tiles/0/0/0.exe", 404),
    ],
)
def test_tiles_out_of_range_or_unknown_format(api_client, large_job, rest, status):
    response = api_client.get(url(large_job, rest))
    assert response.status_code == status


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"style": "{not json"}, "style"),
        ({"style": "[1, 2]"}, "style"),
        ({"style": json.dumps({"bands": "red"})}, "style"),
        ({"style": json.dumps({"band": 1, "palette": "no-such-map"})}, "style"),
        ({"band": "one"}, "band"),
        ({"band": 1, "min": "lowest"}, "min"),
        ({"band": 1, "palette": "no-such-map"}, "palette"),
        ({"max_width": "wide"}, "max_width"),
        ({"max_width": 100000}, "max_width"),
        ({"frame": -1}, "frame"),
    ],
)
def test_malformed_style_and_parameters_name_the_parameter(api_client, large_job, query, parameter):
    response = api_client.get(url(large_job, "data/thumbnail.png"), query)
    assert response.status_code == 400, response.content
    assert parameter in response.json()


def test_region_needs_its_bounds(api_client, large_job):
    response = api_client.get(url(large_job, "data/region.png"), {"left": 0, "right": 10})
    assert response.status_code == 400
    assert set(response.json()) == {"top", "bottom"}


@pytest.mark.parametrize(
    "query",
    [
        {"left": 5000, "right": 6000, "top": 5000, "bottom": 6000},
        {"left": 10, "right": 5, "top": 0, "bottom": 10},
        {"left": 1.5, "right": 2, "top": 0, "bottom": 1, "units": "fraction"},
    ],
)
def test_region_without_extent_or_outside_the_image(api_client, large_job, query):
    response = api_client.get(url(large_job, "data/region.png"), query)
    assert response.status_code == 400
    assert "region" in response.json()


def test_region_in_unknown_units(api_client, large_job):
    query = {"left": 0, "right": 1, "top": 0, "bottom": 1, "units": "EPSG:4326"}
    response = api_client.get(url(large_job, "data/region.png"), query)
    assert response.status_code == 400
    assert "units" in response.json()


def test_pixel_needs_whole_numbers(api_client, large_job):
    response = api_client.get(url(large_job, "data/pixel"), {"left": "1.5", "top": 2})
    assert response.status_code == 400
    assert "left" in response.json()


def test_a_band_the_image_lacks(api_client, large_job):
    response = api_client.get(url(large_job, "tiles/0/0/0.png"), {"band": 7, "palette": "viridis"})
    assert response.status_code == 400
    assert "band" in response.json()


def test_someone_elses_job_is_not_found(other_client, large_job):
    for prefix in ("inputs", "overlays", "masks"):
        response = other_client.get(url(large_job, "tiles/metadata", prefix))
        assert response.status_code == 404


def test_anonymous_requests_are_refused(client, large_job):
    assert client.get(url(large_job, "tiles/0/0/0.png")).status_code == 401


def test_unknown_job_is_not_found(api_client):
    response = api_client.get(
        "/api/v1/tiles/inputs/00000000-0000-0000-0000-000000000000/info/metadata"
    )
    assert response.status_code == 404


def test_results_of_an_unfinished_job_are_a_conflict(api_client, user):
    job = PredictionJob.objects.create(
        owner=user,
        model_type="watershed",
        input_image=ContentFile(png_bytes(blobs_image()), "b.png"),
    )
    response = api_client.get(url(job, "tiles/metadata", "overlays"))
    assert response.status_code == 409
    assert "pending" in response.json()["detail"]
    # the input exists but nobody has built its tiles yet
    response = api_client.get(url(job, "tiles/metadata"))
    assert response.status_code == 409
    assert "being built" in response.json()["detail"]
    tasks.build_job_tiles(str(job.pk))
    assert api_client.get(url(job, "tiles/metadata")).status_code == 200


def test_results_of_a_failed_job_are_not_found(api_client, user):
    job = PredictionJob.objects.create(
        owner=user,
        model_type="watershed",
        input_image=ContentFile(png_bytes(blobs_image()), "b.png"),
    )
    PredictionJob.objects.filter(pk=job.pk).update(
        status=JobStatus.FAILED, error_message="the image is blank"
    )
    response = api_client.get(url(job, "tiles/0/0/0.png", "masks"))
    assert response.status_code == 404
    assert "the image is blank" in response.json()["detail"]
    assert PredictionJob.objects.get(pk=job.pk).status == JobStatus.FAILED


def test_bad_requests_leave_the_tile_files_alone(api_client, large_job):
    before = {
        t.layer: (t.file.name, t.built_from) for t in TiledImage.objects.filter(job=large_job)
    }
    api_client.get(url(large_job, "data/thumbnail.png"), {"style": "{oops"})
    api_client.get(url(large_job, "tiles/9/9/9.png"))
    assert tile_files(large_job) == before
    assert api_client.get(url(large_job, "tiles/0/0/0.png")).status_code == 200
