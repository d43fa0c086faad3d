"""Building tile files: pyramids, labels kept exact, idempotent rebuilds, triggers, cleanup."""

from pathlib import Path

import numpy as np
import pytest
import tifffile
from django.core.files.base import ContentFile

from predictions.models import PredictionJob
from predictions.services import jobs
from predictions.services.labels import label_dtype
from predictions.signals import job_completed
from tests.helpers.images import blobs_image, png_bytes
from tiles.models import Layer, TiledImage
from tiles.services import build, pyramid, styles


def test_needs_pyramid_only_above_one_tile():
    assert not pyramid.needs_pyramid(256, 256)
    assert pyramid.needs_pyramid(257, 10)
    assert pyramid.needs_pyramid(10, 20_000)


def test_label_dtype_is_the_narrowest_that_fits():
    assert label_dtype(65_535) == np.uint16
    assert label_dtype(65_536) == np.uint32


def test_label_pyramid_levels_hold_only_real_labels(tmp_path):
    # Averaging labels 1 and 3 would invent label 2 at the coarser levels.
    labels = np.zeros((1024, 1024), np.uint16)
    labels[:, 0::2] = 1
    labels[:, 1::2] = 3
    dest = pyramid.write_array(labels, tmp_path / "labels.tiff", labels=True)
    with tifffile.TiffFile(dest) as tiff:
        levels = [page.asarray() for page in tiff.pages]
    assert [level.shape for level in levels] == [(1024, 1024), (512, 512), (256, 256)]
    np.testing.assert_array_equal(levels[0], labels)
    for level in levels[1:]:
        assert set(np.unique(level)) <= {1, 3}


def test_intensity_pyramid_is_tiled_and_lossless(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (700, 600), dtype=np.uint8)
    dest = pyramid.write_array(image, tmp_path / "grey.tiff", labels=False)
    with tifffile.TiffFile(dest) as tiff:
        first = tiff.pages[0]
        assert first.is_tiled
        assert (first.tilewidth, first.tilelength) == (256, 256)
        np.testing.assert_array_equal(first.asarray(), image)


def test_label_style_gives_background_no_colour_and_neighbours_different_ones():
    style = styles.label_style(40)
    palette = style["palette"]
    assert len(palette) == 41
    assert palette[0] == styles.TRANSPARENT
    assert all(palette[i] != palette[i + 1] for i in range(1, 40))
    assert style["scheme"] == "discrete"
    assert (style["min"], style["max"]) == (0, 40)


def test_intensity_style_stretches_only_deep_images():
    assert styles.intensity_style("uint8") is None
    assert styles.intensity_style("uint16") == {"min": "auto", "max": "auto"}


@pytest.mark.django_db
def test_build_is_idempotent_and_follows_its_source(large_job, django_capture_on_commit_callbacks):
    before = {
        t.layer: (t.file.name, t.built_from) for t in TiledImage.objects.filter(job=large_job)
    }
    assert set(before) == {Layer.INPUT, Layer.OVERLAY, Layer.MASKS}
    assert build.build_job(large_job) == []  # everything up to date: nothing rebuilt
    # the overlay is replaced (a new file): only that layer is rebuilt, the old file deleted
    overlay = TiledImage.objects.get(job=large_job, layer=Layer.OVERLAY)
    old_file = overlay.file.path
    with large_job.result_segmented_images.open("rb") as handle:
        content = handle.read()
    large_job.result_segmented_images.save("other.png", ContentFile(content))
    with django_capture_on_commit_callbacks(execute=True):
        rebuilt = build.build_job(large_job)
    assert [t.layer for t in rebuilt] == [Layer.OVERLAY]
    assert rebuilt[0].built_from != before[Layer.OVERLAY][1]
    assert not Path(old_file).exists()


@pytest.mark.django_db
def test_masks_record_their_largest_label(large_job):
    masks = np.load(large_job.result_masks.path)
    tiled = TiledImage.objects.get(job=large_job, layer=Layer.MASKS)
    assert tiled.max_value == masks.max() > 1
    assert (tiled.width, tiled.height) == (masks.shape[1], masks.shape[0])


@pytest.mark.django_db(transaction=True)
def test_deleting_a_job_deletes_its_tile_files(large_job):
    paths = [t.file.path for t in TiledImage.objects.filter(job=large_job)]
    assert paths
    assert all(Path(p).exists() for p in paths)
    jobs.delete_job(large_job.pk)
    assert not TiledImage.objects.exists()
    assert not any(Path(p).exists() for p in paths)


@pytest.mark.django_db
def test_a_new_job_and_a_completed_one_queue_a_tile_build(
    user, eager_celery, build_tiles, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job = PredictionJob.objects.create(
            owner=user,
            model_type="watershed",
            input_image=ContentFile(png_bytes(blobs_image()), "b.png"),
        )
    assert TiledImage.objects.filter(job=job, layer=Layer.INPUT).exists()
    with django_capture_on_commit_callbacks() as callbacks:
        job_completed.send(sender=PredictionJob, job_id=job.pk)
    assert len(callbacks) == 1


@pytest.mark.django_db
def test_a_ready_depth_dataset_is_stacked(depth_dataset):
    tiled = TiledImage.objects.get(dataset=depth_dataset)
    assert (tiled.width, tiled.height, tiled.dtype) == (150, 600, "uint8")
    assert tiled.built_from == build.dataset_revision(depth_dataset)
    assert build.build_dataset(depth_dataset) is None  # up to date
