"""A real browser: headless Debian Chromium logs into the admin, opens a finished job and
sees its tiles drawn; for a two-channel z-stack, picks channels and planes. The screenshots
are kept in ``test-artifacts/``."""

import io
import json
import os
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from PIL import Image

from tests.helpers import microscopy
from tests.helpers.data import ROOT
from tests.helpers.jobs import completed_job
from tiles import tasks
from tiles.tests.microscopy_jobs import microscopy_job

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("CELLSERVE_TEST_ARTIFACTS", ROOT / "test-artifacts"))
# Three tile layers (input, overlay, masks) and the outlines over them.
LAYERS_IDLE = (
    "() => window.cellserveTileMap && window.cellserveTileMap.layers().length === 4"
    " && window.cellserveTileMap.layers().every((layer) => layer.idle)"
)


def ingest_dataset(owner):
    from django.core.files.base import ContentFile

    from depth_images.services import ingest
    from depth_images.synthetic import csv_bytes

    outcome = ingest.upload(owner, "core-7", ContentFile(csv_bytes(800, seed=5), name="d.csv"))
    tasks.build_dataset_tiles(str(outcome.dataset.pk))
    return outcome.dataset


@pytest.fixture
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        message = "Debian's chromium is not installed (make test installs it: apt chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_admin_job_page_draws_tiles(
    live_server, admin_user, user, eager_celery, chromium_path, prepared_jobs
):
    job = completed_job(user, prepared_jobs["large"])
    dataset = ingest_dataset(user)
    dataset_url = f"{live_server.url}/admin/depth_images/depthdataset/{dataset.pk}/change/"
    change_url = f"{live_server.url}/admin/predictions/predictionjob/{job.pk}/change/"
    list_url = f"{live_server.url}/admin/predictions/predictionjob/?status__exact=completed"

    from playwright.sync_api import sync_playwright

    tile_statuses: list[int] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.on(
            "response",
            lambda r: (
                tile_statuses.append(r.status) if "/tiles/" in r.url and ".png" in r.url else None
            ),
        )
        page.goto(f"{live_server.url}/admin/login/?next=/admin/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", "password")
        page.click("input[type=submit]")
        page.goto(list_url)
        thumbnail = page.locator("img[alt=thumbnail]").first
        thumbnail.wait_for()
        assert page.evaluate(
            "(img) => img.complete && img.naturalWidth > 0", thumbnail.element_handle()
        )

        page.goto(change_url)
        page.wait_for_selector("#tile-viewer canvas")
        page.wait_for_function(LAYERS_IDLE)
        cells = job.num_cells_detected
        page.wait_for_function(f"() => window.cellserveOutlines?.length === {cells}")
        page.wait_for_timeout(1500)  # let the last tiles paint
        controls = page.locator(".tile-layer-control input[type=checkbox]")
        assert controls.count() == 4  # input, overlay, masks, outlines
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = page.locator("#tile-viewer").screenshot(
            path=str(ARTIFACTS / "admin-tile-viewer.png")
        )
        clicked = click_cell(page, cell=0)
        page.wait_for_function("() => document.querySelector('#tile-cell-metrics').textContent")
        shown = page.locator("#tile-cell-metrics").inner_text()
        assert shown.startswith(f"{clicked['name']}: cell_id {clicked['cell_id']}, area "), shown

        page.goto(dataset_url)
        page.wait_for_function(
            "() => window.cellserveTileMap && window.cellserveTileMap.layers().length === 1"
            " && window.cellserveTileMap.layers().every((layer) => layer.idle)"
        )
        page.wait_for_timeout(1000)
        rows_shot = page.locator("#tile-viewer").screenshot(
            path=str(ARTIFACTS / "admin-depth-viewer.png")
        )
        browser.close()

    pixels = np.asarray(Image.open(io.BytesIO(shot)).convert("L"), dtype=float)
    assert tile_statuses
    assert all(status == 200 for status in tile_statuses), tile_statuses
    # Bright discs on a dark image: a blank (or single-colour) canvas has no spread at all.
    assert pixels.std() > 20, pixels.std()
    assert (pixels > 128).mean() > 0.02
    rows = np.asarray(Image.open(io.BytesIO(rows_shot)).convert("L"), dtype=float)
    assert rows.std() > 10, rows.std()  # random depth rows, not an empty viewer


def click_cell(page, cell: int) -> dict:
    """Click the centroid of outline ``cell`` on screen; its name and id."""
    target = page.evaluate(
        """(index) => {
            const { feature } = window.cellserveOutlines[index];
            const m = feature.properties.measurements;
            // Centroids are of pixel centres; the map's coordinates are of pixel corners.
            const centre = { x: m.centroid_x + 0.5, y: m.centroid_y + 0.5 };
            const at = window.cellserveTileMap.gcsToDisplay(centre);
            return { x: at.x, y: at.y, name: feature.properties.name, cell_id: m.cell_id };
        }""",
        cell,
    )
    box = page.locator("#tile-viewer").bounding_box()
    page.mouse.click(box["x"] + target["x"], box["y"] + target["y"])
    return target


def layer_url(page, index: int) -> str:
    return page.evaluate(f"() => window.cellserveTileMap.layers()[{index}].url()")


def band_frames(url: str) -> list[int]:
    style = json.loads(parse_qs(urlsplit(url).query)["style"][0])
    return [band["frame"] for band in style["bands"]]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_admin_stack_job_picks_channels_and_planes(live_server, admin_user, user, chromium_path):
    sample = microscopy.two_channel_stack()
    job = microscopy_job(user, microscopy.ome_tiff(sample), "stack.ome.tif", masks=sample.labels)
    change_url = f"{live_server.url}/admin/predictions/predictionjob/{job.pk}/change/"

    from playwright.sync_api import sync_playwright

    tile_statuses: list[int] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.on(
            "response",
            lambda r: (
                tile_statuses.append(r.status) if "/tiles/" in r.url and ".png" in r.url else None
            ),
        )
        page.goto(f"{live_server.url}/admin/login/?next=/admin/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", "password")
        page.click("input[type=submit]")
        page.goto(change_url)
        page.wait_for_function(LAYERS_IDLE)
        names = page.locator(".tile-channel-control label").all_inner_texts()
        assert [name.strip() for name in names] == ["H2B", "Lamin"]
        assert page.locator(".tile-layer-control input[type=checkbox]").count() == 4
        assert band_frames(layer_url(page, 0)) == [0, 1]  # plane 0, both channels
        outlines_at = "() => window.cellserveOutlines.filter((c) => c.z === {}).length"
        page.wait_for_function("() => window.cellserveOutlines")
        # A stack's outlines are per plane: plane 0's cells are outlined on plane 0.
        assert page.evaluate(outlines_at.format(0)) == len(np.unique(sample.labels[0])[1:])
        assert layer_url(page, 2).endswith("?frame=0")  # the masks' plane 0

        page.uncheck("#tile-channel-1")
        assert band_frames(layer_url(page, 0)) == [0]
        page.check("#tile-channel-1")
        page.uncheck("#tile-channel-0")
        assert band_frames(layer_url(page, 0)) == [1]
        page.check("#tile-channel-0")

        page.locator("#tile-plane").fill("12")
        assert band_frames(layer_url(page, 0)) == [24, 25]  # frame z * channels + c
        assert layer_url(page, 2).endswith("?frame=12")
        assert "frame" not in layer_url(page, 1)  # the overlay is one projection
        page.wait_for_function(LAYERS_IDLE)
        page.wait_for_timeout(1000)  # let the last tiles paint
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = page.locator("#tile-viewer").screenshot(
            path=str(ARTIFACTS / "admin-stack-viewer.png")
        )
        browser.close()

    assert tile_statuses
    assert all(status == 200 for status in tile_statuses), tile_statuses
    pixels = np.asarray(Image.open(io.BytesIO(shot)).convert("RGB"), dtype=float)
    assert pixels.std() > 10, pixels.std()  # nuclei drawn, not an empty viewer
