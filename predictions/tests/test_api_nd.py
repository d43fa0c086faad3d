"""Jobs on microscopy files through the API: channels, physical units and z-stacks, end to end.

The files are built from the real nuclei data; each job runs its tasks in-process and the
results are read back as a user would download them.
"""

import io
import json
import zipfile

import numpy as np
import pytest
import tifffile
from django.core.files.uploadedfile import SimpleUploadedFile
from skimage.measure import regionprops

from predictions.models import PredictionJob
from tests.helpers import microscopy as m

pytestmark = pytest.mark.django_db
URL = "/api/v1/predictions/"


@pytest.fixture
def run_job(api_client, eager_celery, django_capture_on_commit_callbacks):
    def post(data: bytes, name: str = "cells.ome.tif", **fields):
        payload = {"input_image": SimpleUploadedFile(name, data), **fields}
        with django_capture_on_commit_callbacks(execute=True):
            response = api_client.post(URL, payload, format="multipart")
        assert response.status_code == 201, response.content
        return response.json()["id"]

    return post


def download(api_client, job_id: str, action: str) -> bytes:
    response = api_client.get(f"{URL}{job_id}/{action}/")
    assert response.status_code == 200, response.content[:300]
    return b"".join(response.streaming_content)


def metrics(api_client, job_id: str) -> dict:
    response = api_client.get(f"{URL}{job_id}/metrics/")
    assert response.status_code == 200, response.content[:300]
    return response.json()


@pytest.fixture(scope="module")
def two_channel():
    return m.two_channel_nuclei()


def test_two_channel_ome_job_measures_every_channel_in_microns(api_client, run_job, two_channel):
    job_id = run_job(
        m.ome_tiff(two_channel), model_type="watershed", nuclear_channel="DAPI", min_size=5
    )
    job = PredictionJob.objects.get(pk=job_id)
    assert job.status == "completed", job.error_message
    assert job.channels == [0]
    assert job.image_metadata["channel_names"] == ["DAPI", "GFP"]
    assert job.image_metadata["pixel_size_um"] == pytest.approx(m.PIXEL_UM)

    masks = np.load(io.BytesIO(download(api_client, job_id, "download_masks")))
    assert masks.shape == two_channel.labels.shape
    document = metrics(api_client, job_id)
    cells = document["individual_metrics"]
    assert len(cells) == masks.max() > 50
    assert set(document["summary"]["channels"]) == {"DAPI", "GFP"}

    # Each cell's intensities and sizes against regionprops on the downloaded masks.
    props = regionprops(masks, intensity_image=two_channel.image[0].astype(np.float64))
    for cell, region in zip(cells, props, strict=True):
        assert cell["cell_id"] == region.label
        for index, name in enumerate(("DAPI", "GFP")):
            mean = cell[f"Intensity_MeanIntensity_{name}"]
            assert mean == pytest.approx(region.intensity_mean[index], rel=1e-9)
            assert cell[f"Intensity_MaxIntensity_{name}"] == region.intensity_max[index]
        assert cell["area_um2"] == pytest.approx(region.area * m.PIXEL_UM**2, rel=1e-9)


def test_multichannel_cell_crops_are_imagej_hyperstacks(api_client, run_job, two_channel):
    job_id = run_job(m.ome_tiff(two_channel), model_type="watershed", nuclear_channel=0)
    archive = zipfile.ZipFile(io.BytesIO(download(api_client, job_id, "download_individual_cells")))
    masks = np.load(io.BytesIO(download(api_client, job_id, "download_masks")))
    with tifffile.TiffFile(io.BytesIO(archive.read("cell_0001.tif"))) as tif:
        assert tif.is_imagej
        assert tif.series[0].axes == "CYX"
        crop = tif.asarray()
        assert tif.imagej_metadata["unit"] == "um"
    assert crop.dtype == np.uint16
    rows, cols = np.nonzero(masks == 1)
    inside = masks[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] == 1
    box = two_channel.image[0, rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    np.testing.assert_array_equal(crop, np.moveaxis(np.where(inside[..., None], box, 0), -1, 0))


def test_a_z_stack_is_segmented_and_measured_in_3d(api_client, run_job):
    sample = m.two_channel_stack()
    job_id = run_job(m.imagej_hyperstack(sample), name="stack.tif", model_type="watershed",
                     nuclear_channel="0")  # fmt: skip
    job = PredictionJob.objects.get(pk=job_id)
    assert job.status == "completed", job.error_message
    assert job.do_3D
    assert job.anisotropy == pytest.approx(m.Z_STEP_UM / m.PIXEL_UM)
    assert job.mask_shape == [31, 61, 57]

    masks = np.load(io.BytesIO(download(api_client, job_id, "download_masks")))
    assert masks.shape == (31, 61, 57)
    flows = np.load(io.BytesIO(download(api_client, job_id, "download_flows")))
    assert flows.shape == (4, 31, 61, 57)
    cells = metrics(api_client, job_id)["individual_metrics"]
    assert len(cells) == masks.max() > 10
    assert {"volume", "centroid_z", "surface_area", "volume_um3"} <= set(cells[0])
    first = masks == 1
    assert cells[0]["volume"] == first.sum()
    assert cells[0]["Intensity_IntegratedIntensity_ch0"] == pytest.approx(
        float(sample.image[..., 0][first].sum()), rel=1e-12
    )

    archive = zipfile.ZipFile(io.BytesIO(download(api_client, job_id, "download_individual_cells")))
    with tifffile.TiffFile(io.BytesIO(archive.read("cell_0001.tif"))) as tif:
        assert tif.series[0].axes == "ZCYX"
        assert tif.imagej_metadata["spacing"] == pytest.approx(m.Z_STEP_UM)
    overlay = download(api_client, job_id, "download_segmented_image")
    assert overlay[:8] == b"\x89PNG\r\n\x1a\n"


def test_uploaded_label_volume_is_measured(api_client, run_job):
    sample = m.nuclei_stack()
    buffer = io.BytesIO()
    np.save(buffer, sample.labels)
    job_id = run_job(m.ome_tiff(sample), input_masks=SimpleUploadedFile("m.npy", buffer.getvalue()))
    job = PredictionJob.objects.get(pk=job_id)
    assert job.status == "completed", job.error_message
    assert job.num_cells_detected == len(np.unique(sample.labels)) - 1
    shape = api_client.get("/api/v1/metrics/shape_analysis/", {"job_id": job_id}).json()
    assert "volume" in shape["shape_analysis"][0]


def test_plain_pages_with_z_axis_given_become_a_stack(api_client, run_job):
    sample = m.nuclei_stack()
    job_id = run_job(m.plain_stack(sample), name="pages.tif", model_type="watershed", z_axis=0)
    job = PredictionJob.objects.get(pk=job_id)
    assert job.status == "completed", job.error_message
    assert job.image_metadata["shape"] == {"Z": 31, "Y": 61, "X": 57, "C": 1}
    assert job.anisotropy is None


def test_refusals_name_the_parameter(api_client, two_channel):
    stack = m.ome_tiff(m.nuclei_stack())
    cases = [
        ({"input_image": m.ome_tiff(two_channel), "channels": "RFP"}, "channels"),
        ({"input_image": m.plain_stack(m.nuclei_stack())}, "channel_axis"),
        ({"input_image": stack, "do_3D": "false"}, "do_3D"),
        ({"input_image": stack, "model_type": "watershed", "nuclear_channel": "2"},
         "nuclear_channel"),
    ]  # fmt: skip
    for fields, param in cases:
        payload = {k: SimpleUploadedFile("a.tif", v) if isinstance(v, bytes) else v
                   for k, v in fields.items()}  # fmt: skip
        response = api_client.post(URL, payload, format="multipart")
        assert response.status_code == 400, (param, response.content)
        assert param in json.loads(response.content), response.content
    assert not PredictionJob.objects.exists()


def test_evaluate_scores_a_3d_job_by_voxel_iou(api_client, run_job):
    sample = m.nuclei_stack()
    buffer = io.BytesIO()
    np.save(buffer, sample.labels)
    job_id = run_job(m.ome_tiff(sample), input_masks=SimpleUploadedFile("m.npy", buffer.getvalue()))
    response = api_client.post(
        f"{URL}{job_id}/evaluate/",
        {"ground_truth": SimpleUploadedFile("gt.npy", buffer.getvalue())},
        format="multipart",
    )
    assert response.status_code == 200, response.content
    assert response.json()["average_precision"]["0.5"] == 1.0
    flat = io.BytesIO()
    np.save(flat, sample.labels[0])
    response = api_client.post(
        f"{URL}{job_id}/evaluate/",
        {"ground_truth": SimpleUploadedFile("gt.npy", flat.getvalue())},
        format="multipart",
    )
    assert response.status_code == 400
    assert "ground_truth" in response.json()
