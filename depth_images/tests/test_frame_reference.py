"""The frame endpoint's colours are matplotlib's, the baseline ``bench/depth_frame.py`` times.

Its lookup table (one colour per uint8 value) must give, pixel for pixel, what
``cmap(Normalize(vmin, vmax, clip=True)(rows), bytes=True)`` gives for the stored rows.
"""

import io

import matplotlib
import numpy as np
import pytest
from matplotlib.colors import Normalize
from PIL import Image

from depth_images import synthetic
from depth_images.tests.conftest import csv_upload

pytestmark = pytest.mark.django_db
URL = "/api/v1/depth-datasets/"


@pytest.mark.parametrize(("colormap", "vmin", "vmax"), [("viridis", 20, 230), ("magma", 0, 255)])
def test_frame_png_is_matplotlibs_colormap_of_the_rows(api_client, colormap, vmin, vmax):
    upload = {"name": "well-1", "file": csv_upload(synthetic.csv_bytes(300))}
    dataset = api_client.post(URL, upload, format="multipart").json()["dataset"]
    query = {"depth_min": 9001.0, "depth_max": 9025.0}
    raw = api_client.get(f"{URL}{dataset['id']}/frame.npy", query)
    rows = np.load(io.BytesIO(raw.content), allow_pickle=False)
    style = {"colormap": colormap, "vmin": vmin, "vmax": vmax}
    png = api_client.get(f"{URL}{dataset['id']}/frame.png", query | style)
    assert png.status_code == 200, png.content
    expected = matplotlib.colormaps[colormap](Normalize(vmin, vmax, clip=True)(rows), bytes=True)
    assert rows.shape == (241, 150)
    np.testing.assert_array_equal(
        np.asarray(Image.open(io.BytesIO(png.content))), expected[..., :3]
    )
