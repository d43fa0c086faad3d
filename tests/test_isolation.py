"""Every URL that reads a job or a dataset answers only its owner (and staff).

The URLs are enumerated, not hand-picked: the media URLs the API itself returns, every
download, every route of the tile router, and the depth endpoints. The owner gets each one
(which proves the URL is real); another user gets 404 and an anonymous client 401.
"""

import re

import pytest
from django.core.files.base import ContentFile
from rest_framework.test import APIClient

from depth_images.services import ingest
from depth_images.synthetic import csv_bytes
from predictions.services.jobs import DOWNLOADS
from tests.helpers.jobs import completed_job
from tiles import tasks as tile_tasks
from tiles.api.urls import router

pytestmark = pytest.mark.django_db
# Values for the path parameters of tile routes, and the queries actions need.
PATH_VALUES = {"z": "0", "x": "0", "y": "0", "fmt": "png"}
QUERIES = {
    "region": "?left=0&right=10&top=0&bottom=10",
    "pixel": "?left=0&top=0",
    "band": "?band=1",
}


def tile_urls(prefix: str, pk) -> list[str]:
    """Every route the router serves under ``tiles/<prefix>/``, filled in."""
    urls = []
    for pattern in router.urls:
        regex = pattern.pattern.regex.pattern.lstrip("^").rstrip("$")
        if not regex.startswith(f"tiles/{prefix}/(?P<pk>"):
            continue
        path = re.sub(r"\(\?P<pk>[^)]*\)", str(pk), regex)
        path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: PATH_VALUES[m[1]], path)
        action = pattern.name.rsplit("-", 1)[-1].replace("-", "_")
        query = next((q for name, q in QUERIES.items() if action.endswith(name)), "")
        urls.append("/api/v1/" + path.replace("\\.", ".") + query)
    return urls


@pytest.fixture
def owned(user, eager_celery, api_client, prepared_jobs):
    job = completed_job(user, prepared_jobs["large"])
    outcome = ingest.upload(user, "default", ContentFile(csv_bytes(50, seed=2), "d.csv"))
    dataset = outcome.dataset
    tile_tasks.build_dataset_tiles(str(dataset.pk))
    base = f"/api/v1/predictions/{job.pk}/"
    results = api_client.get(f"{base}results/").json()
    media = [results[f] for f in results if f.startswith("result_")]
    media.append(api_client.get(base).json()["input_image"])
    urls = [
        base, f"{base}status/", f"{base}results/", f"{base}metrics/",
        f"/api/v1/metrics/shape_analysis/?job_id={job.pk}",
        *(f"{base}{name}/" for name in DOWNLOADS),
        *media,
        *(url for layer in ("inputs", "overlays", "masks") for url in tile_urls(layer, job.pk)),
        f"/api/v1/depth-datasets/{dataset.pk}/",
        f"/api/v1/depth-datasets/{dataset.pk}/frame.png",
        f"/api/v1/depth-datasets/{dataset.pk}/frame.npy",
        "/get-images/0/100000/?dataset=default",
        *tile_urls("depth-datasets", dataset.pk),
    ]  # fmt: skip
    assert all(url.startswith("/media/") for url in media)
    assert len(media) == 6
    return urls


def test_urls_are_enumerated(owned):
    assert len(owned) > 70  # 13 tile routes for each of 4 layers, and the rest


def test_the_owner_reads_every_url(api_client, owned):
    failures = {url: api_client.get(url).status_code for url in owned}
    assert {url: code for url, code in failures.items() if code != 200} == {}


def test_another_user_gets_404_from_every_url(other_client, owned):
    answers = {url: other_client.get(url) for url in owned}
    assert {url: r.status_code for url, r in answers.items() if r.status_code != 404} == {}
    assert all(r["Content-Type"] == "application/json" for r in answers.values())


def test_an_anonymous_client_gets_401_from_every_url(owned):
    anonymous = APIClient()
    answers = {url: anonymous.get(url).status_code for url in owned}
    assert {url: code for url, code in answers.items() if code != 401} == {}


def test_staff_read_every_job_url(admin_client, owned):
    job_urls = [url for url in owned if "/media/" in url or "/tiles/inputs/" in url]
    assert job_urls
    assert {u: c for u in job_urls if (c := admin_client.get(u).status_code) != 200} == {}


def test_another_user_cannot_change_a_job(other_client, owned):
    base = owned[0]
    assert other_client.post(f"{base}cancel/").status_code == 404
    assert other_client.delete(base).status_code == 404
    assert other_client.post(f"{base}evaluate/", {}, format="multipart").status_code == 404
