"""Tiled jobs on real workers: blocks spread over processes, stitched once, faults survived.

Blocks are small (256 px, 64 px overlap) so a 1024 x 1024 slide makes 16 blocks in seconds.
"""

import io
import time

import numpy as np
import pytest
import tifffile

from predictions.models import PredictionBlock
from tests.helpers import mosaic

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
SMALL_BLOCKS = {
    "CELLSERVE_BLOCK_SIZE": "256",
    "CELLSERVE_BLOCK_OVERLAP": "64",
    "CELLSERVE_TILED_THRESHOLD_PIXELS": str(512 * 512),
}
CENTRES = [(256, 256), (256, 100), (100, 256), (500, 512), (768, 768)]


@pytest.fixture
def slides(cluster):
    cluster.env_overrides = SMALL_BLOCKS
    return cluster


def seam_slide() -> bytes:
    """Discs centred on block seams, a four-block corner and the image's last seam."""
    yy, xx = np.mgrid[:1024, :1024]
    image = np.full((1024, 1024), 10, np.uint8)
    for y, x in CENTRES:
        image[(yy - y) ** 2 + (xx - x) ** 2 < 20**2] = 200
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, image, tile=(256, 256))
    return buffer.getvalue()


def mosaic_slide() -> bytes:
    image, _ = mosaic.mosaic(1024)
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, image, tile=(256, 256))
    return buffer.getvalue()


def test_blocks_spread_over_two_workers_and_seams_leave_one_label(slides):
    slides.web()
    slides.worker("worker-1")
    slides.worker("worker-2")
    job_id = slides.submit("seams.tif", seam_slide(), diameter="40")
    done = slides.wait_for(job_id, ("completed", "failed"))
    assert done["status"] == "completed", done
    assert done["progress"]["blocks_done"] == done["progress"]["blocks_total"] == 16
    masks = np.load(io.BytesIO(slides.get(job_id, "download_masks")))
    assert masks.max() == len(CENTRES)
    yy, xx = np.mgrid[:1024, :1024]
    for y, x in CENTRES:
        disc = (yy - y) ** 2 + (xx - x) ** 2 < 18**2
        assert len(np.unique(masks[disc])) == 1
        assert masks[y, x] > 0
    workers = [p for p in slides.started if "worker" in p.log.name]
    received = [p.log.read_text().count("predictions.tasks.segment_block[") for p in workers]
    assert all(received), received  # both workers took blocks


def test_a_cancelled_tiled_job_stops_its_blocks(slides):
    slides.web()
    slides.worker("worker")
    job_id = slides.submit("slow-blocks-slide.tif", mosaic_slide())
    slides.wait_for(job_id, ("processing",))
    cancelled = slides.post(job_id, "cancel")
    assert cancelled["status"] == "cancelled", cancelled
    done_at_cancel = slides.status(job_id)["progress"]["blocks_done"]
    assert done_at_cancel < 16
    time.sleep(3)  # a block already running may finish computing, but stores nothing
    after = slides.status(job_id)
    assert after["status"] == "cancelled"
    assert after["progress"]["blocks_done"] <= done_at_cancel + 1


def test_a_killed_block_task_is_retried(slides):
    slides.web()
    slides.beat()
    slides.worker("worker", pool="prefork", concurrency=1)
    job_id = slides.submit("kill-block-slide.tif", mosaic_slide())
    done = slides.wait_for(job_id, ("completed", "failed"))
    assert done["status"] == "completed", done.get("error_message")
    assert PredictionBlock.objects.get(job_id=job_id, index=1).attempts == 2


def test_a_block_that_keeps_failing_fails_the_job(slides):
    slides.web()
    slides.worker("worker")
    job_id = slides.submit("fail-block-slide.tif", mosaic_slide())
    done = slides.wait_for(job_id, ("completed", "failed"))
    assert done["status"] == "failed", done
    assert "block 1 failed 3 times" in done["error_message"]
    assert "this block is cursed" in done["error_message"]
