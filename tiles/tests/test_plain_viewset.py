"""Our tile endpoint serves what django-large-image's documented viewset serves.

That viewset, with and without authentication, is the baseline ``bench/tiles.py`` times
(``bench/tiles_urls.py``); the comparison means something only if all three return the same
bytes for the same tile, from a cold cache or a warm one, and warm tiles are not rendered again.
"""

from unittest import mock

import pytest
from django.core.cache import cache
from large_image.cache_util.cache import getTileCache
from rest_framework.test import APIClient

from tiles.models import Layer, TiledImage

pytestmark = [pytest.mark.django_db, pytest.mark.urls("bench.tiles_urls")]


def test_ours_and_the_plain_viewsets_serve_the_same_tiles(api_client, large_job):
    tiled = TiledImage.objects.get(job=large_job, layer=Layer.INPUT)
    prefixes = {
        "ours": (api_client, f"/api/v1/tiles/inputs/{large_job.pk}/tiles"),
        "plain": (api_client, f"/api/v1/bench/plain/tiled/{tiled.pk}/tiles"),
        "noauth": (APIClient(), f"/api/v1/bench/plain-noauth/tiled/{tiled.pk}/tiles"),
    }
    for z, x, y in ((2, 0, 0), (2, 2, 1), (1, 1, 0), (0, 0, 0)):
        bodies = {}
        for side, (client, prefix) in prefixes.items():
            cache.clear()
            cold = client.get(f"{prefix}/{z}/{x}/{y}.png")
            warm = client.get(f"{prefix}/{z}/{x}/{y}.png")
            assert cold.status_code == warm.status_code == 200, (side, cold.content[:200])
            assert warm.content == cold.content, side
            bodies[side] = cold.content
        assert bodies["ours"] == bodies["plain"] == bodies["noauth"], (z, x, y)


def test_a_warm_tile_comes_from_the_tile_cache(api_client, large_job):
    url = f"/api/v1/tiles/inputs/{large_job.pk}/tiles/2/1/1.png"
    cache.clear()
    assert api_client.get(url).status_code == 200
    django_cache = getTileCache()[0]._django_cache
    with (
        mock.patch.object(django_cache, "get", wraps=django_cache.get) as get,
        mock.patch.object(django_cache, "set", wraps=django_cache.set) as put,
    ):
        assert api_client.get(url).status_code == 200
    assert get.call_count >= 1
    assert put.call_count == 0  # nothing rendered
