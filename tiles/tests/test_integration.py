"""Tiles over real parts: a job posted over HTTP, segmented and tiled by a real Celery worker
(Redis broker, PostgreSQL), its tiles read back over HTTP with the Redis tile cache on."""

import io

import numpy as np
import pytest
from PIL import Image

from tests.helpers.http import poll, token_session
from tests.helpers.images import blobs_grid, png_bytes

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
TIMEOUT_S = 180


def built(http, url, log):
    return poll(http, url, log, lambda r: r.status_code == 200, TIMEOUT_S)


def test_worker_builds_pyramids_and_tiles_are_served(
    live_server, django_user_model, celery_worker_process
):
    from django.core.cache import cache

    log = celery_worker_process
    user = django_user_model.objects.create_user("dana", password="pw-dana-123")
    http = token_session(user)
    api = f"{live_server.url}/api/v1"
    created = http.post(
        f"{api}/predictions/",
        files={"input_image": ("grid.png", png_bytes(blobs_grid((700, 900))), "image/png")},
        data={"model_type": "watershed"},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    job = created.json()["id"]

    masks_meta = built(http, f"{api}/tiles/masks/{job}/tiles/metadata", log).json()
    assert (masks_meta["size_x"], masks_meta["size_y"], masks_meta["levels"]) == (900, 700, 3)
    overlay = built(http, f"{api}/tiles/overlays/{job}/info/metadata_internal", log).json()
    assert overlay["xml"]["large_image_converter"]["levels"] == 3

    cache.clear()
    first = http.get(f"{api}/tiles/inputs/{job}/tiles/2/1/1.png", timeout=10)
    again = http.get(f"{api}/tiles/inputs/{job}/tiles/2/1/1.png", timeout=10)
    assert first.status_code == again.status_code == 200
    assert first.content == again.content
    assert len(cache._cache.get_client().keys("*")) > 0  # the tile went into Redis
    tile = np.asarray(Image.open(io.BytesIO(first.content)))
    assert tile.shape[:2] == (256, 256)
    assert tile.max() > 128
