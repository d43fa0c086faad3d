"""Every django-large-image endpoint family, on each layer a user can view.

In the spirit of django-large-image's own suite (metadata, tiles, thumbnails, regions,
pixels, histograms, styles), against files this service built itself.
"""

import io
import json

import numpy as np
import pytest
import tifffile
from PIL import Image

from tiles.models import Layer, TiledImage

pytestmark = pytest.mark.django_db


def base(prefix: str, obj) -> str:
    return f"/api/v1/tiles/{prefix}/{obj.pk}"


def image(response) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(response.content)))


@pytest.fixture(params=["inputs", "overlays", "masks"])
def job_layer(request, large_job):
    return request.param, large_job


def test_tiles_metadata_describes_the_full_image(api_client, job_layer):
    prefix, job = job_layer
    response = api_client.get(f"{base(prefix, job)}/tiles/metadata")
    assert response.status_code == 200, response.content
    meta = response.json()
    assert (meta["size_x"], meta["size_y"], meta["tile_size"]) == (700, 600, 256)
    assert meta["levels"] == 3  # 700 px wide: 256 -> 512 -> 1024 covers it in three levels


def test_info_metadata_and_internal(api_client, job_layer):
    prefix, job = job_layer
    meta = api_client.get(f"{base(prefix, job)}/info/metadata")
    internal = api_client.get(f"{base(prefix, job)}/info/metadata_internal")
    assert meta.status_code == internal.status_code == 200
    assert meta.json()["geospatial"] is False
    assert internal.json()["frames"] is False
    assert meta.json()["sizeX"] == 700


def test_large_input_is_served_from_the_converted_pyramid(api_client, large_job):
    internal = api_client.get(f"{base('inputs', large_job)}/info/metadata_internal").json()
    assert internal["xml"]["large_image_converter"]["levels"] == 3


def test_every_tile_of_the_full_resolution_level_is_an_image(api_client, job_layer):
    prefix, job = job_layer
    for x in range(3):
        for y in range(3):
            response = api_client.get(f"{base(prefix, job)}/tiles/2/{x}/{y}.png")
            assert response.status_code == 200
            assert response["Content-Type"] == "image/png"
            assert image(response).shape[:2] == (256, 256)


def test_jpeg_tiles(api_client, job_layer):
    prefix, job = job_layer
    response = api_client.get(f"{base(prefix, job)}/tiles/0/0/0.jpeg")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response.content[:2] == b"\xff\xd8"


def test_thumbnail_respects_the_requested_size(api_client, job_layer):
    prefix, job = job_layer
    response = api_client.get(f"{base(prefix, job)}/data/thumbnail.png?max_width=140")
    assert response.status_code == 200
    assert image(response).shape[:2] == (120, 140)  # 600x700 scaled to width 140


def test_region_in_pixels_matches_the_input(api_client, large_job):
    url = f"{base('inputs', large_job)}/data/region.tif"
    response = api_client.get(url, {"left": 100, "right": 300, "top": 50, "bottom": 150})
    assert response.status_code == 200
    region = tifffile.imread(io.BytesIO(response.content))
    with large_job.input_image.open("rb") as handle:
        original = np.asarray(Image.open(handle))
    np.testing.assert_array_equal(np.squeeze(region), original[50:150, 100:300])


def test_full_resolution_input_tile_is_lossless(api_client, large_job):
    with large_job.input_image.open("rb") as handle:
        original = np.asarray(Image.open(handle))
    tile = image(api_client.get(f"{base('inputs', large_job)}/tiles/2/1/0.png"))
    np.testing.assert_array_equal(
        tile[..., 0] if tile.ndim == 3 else tile, original[0:256, 256:512]
    )


def test_mask_pixel_without_style_is_the_label(api_client, large_job):
    masks = np.load(large_job.result_masks.path)
    y, x = 25, 25  # the centre of the first disc
    response = api_client.get(f"{base('masks', large_job)}/data/pixel", {"left": x, "top": y})
    assert response.status_code == 200
    assert masks[y, x] > 0
    assert response.json()["value"] == [masks[y, x]]


def test_mask_tiles_colour_cells_and_leave_background_transparent(api_client, large_job):
    masks = np.load(large_job.result_masks.path)
    tile = image(api_client.get(f"{base('masks', large_job)}/tiles/2/0/0.png"))
    assert tile.shape == (256, 256, 4)
    inside, outside = masks[:256, :256] > 0, masks[:256, :256] == 0
    assert (tile[..., 3][outside] == 0).all()
    assert (tile[..., 3][inside] == 255).all()
    # neighbouring cells get different colours
    first, second = masks[25, 25], masks[25, 75]
    assert first != second
    assert tuple(tile[25, 25, :3]) != tuple(tile[25, 75, :3])


def test_histogram_counts_every_pixel(api_client, large_job):
    response = api_client.get(f"{base('inputs', large_job)}/data/histogram", {"bins": 16})
    assert response.status_code == 200
    band = response.json()[0]
    assert len(band["hist"]) == 16
    assert sum(band["hist"]) == 600 * 700


def test_band_palette_style_colours_a_grey_input(api_client, large_job):
    url = f"{base('inputs', large_job)}/tiles/2/0/0.png"
    grey = image(api_client.get(url))
    coloured = image(api_client.get(url, {"band": 1, "palette": "viridis", "min": 0, "max": 255}))
    assert coloured.ndim == 3
    assert coloured.shape[2] in (3, 4)
    assert not (coloured[..., 0] == coloured[..., 1]).all()  # no longer grey
    assert grey.shape[:2] == coloured.shape[:2]


def test_style_json_matches_the_equivalent_query_parameters(api_client, large_job):
    url = f"{base('inputs', large_job)}/data/thumbnail.png"
    by_params = api_client.get(url, {"band": 1, "palette": "magma"})
    style = json.dumps({"band": 1, "palette": "magma"})
    by_style = api_client.get(url, {"style": style})
    assert by_params.status_code == by_style.status_code == 200
    np.testing.assert_array_equal(image(by_params), image(by_style))


def test_16_bit_input_is_stretched_to_its_range_by_default(api_client, job16):
    tiled = TiledImage.objects.get(job=job16, layer=Layer.INPUT)
    assert tiled.dtype == "uint16"
    thumb = image(api_client.get(f"{base('inputs', job16)}/data/thumbnail.png"))
    assert thumb.max() >= 250
    assert thumb.min() <= 5
    pixel = api_client.get(f"{base('inputs', job16)}/data/pixel", {"left": 25, "top": 25})
    assert pixel.json()["value"][0] > 255  # the data itself keeps 16 bits


def test_small_input_is_served_without_a_pyramid(api_client, small_job):
    meta = api_client.get(f"{base('inputs', small_job)}/tiles/metadata").json()
    assert (meta["size_x"], meta["size_y"], meta["levels"]) == (128, 96, 1)


def test_depth_dataset_stacks_rows_by_depth(api_client, depth_dataset):
    from depth_images.services import store

    _keys, rows = store.load_range(depth_dataset, 0, 10**12, 10_000)
    url = base("depth-datasets", depth_dataset)
    meta = api_client.get(f"{url}/tiles/metadata").json()
    assert (meta["size_x"], meta["size_y"]) == (150, 600)
    region = api_client.get(
        f"{url}/data/region.tif", {"left": 0, "right": 150, "top": 10, "bottom": 20}
    )
    np.testing.assert_array_equal(
        np.squeeze(tifffile.imread(io.BytesIO(region.content))), rows[10:20]
    )
    pixel = api_client.get(f"{url}/data/pixel", {"left": 7, "top": 42}).json()
    assert pixel["value"] == [rows[42, 7]]
    thumb = api_client.get(f"{url}/data/thumbnail.png", {"band": 1, "palette": "viridis"})
    assert image(thumb).ndim == 3
