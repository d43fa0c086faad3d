"""The real Cellpose-SAM path: cellpose's own model class, with a checkpoint made here.

Weights cannot be downloaded on CI machines, so the test saves the state dict of a
freshly initialised Cellpose-SAM network (the real architecture, random weights) and
loads it through ``cellpose.models.CellposeModel`` exactly as production loads the
released weights. Random weights find no meaningful cells; the test checks the plumbing.
"""

import io

import numpy as np
import pytest

from predictions.services.engines import SegmentationParams, get_engine

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def cpsam_checkpoint(tmp_path_factory):
    import torch
    from cellpose.vit import CPSAM

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "cpsam"
    torch.save(CPSAM(dtype=torch.float32).state_dict(), path)
    return path


@pytest.fixture
def cpsam_engine(settings, cpsam_checkpoint):
    settings.CELLPOSE_LOCAL_MODELS_PATH = str(cpsam_checkpoint.parent)
    settings.CELLPOSE_MODEL = "cpsam"
    settings.CELLPOSE_DEVICE = "cpu"
    get_engine.cache_clear()
    yield get_engine("cpsam")
    get_engine.cache_clear()


@pytest.mark.django_db
def test_cpsam_job_runs_through_cellpose(
    cpsam_engine, api_client, eager_celery, blobs_png, django_capture_on_commit_callbacks, blobs
):
    from cellpose.models import CellposeModel
    from django.core.files.uploadedfile import SimpleUploadedFile

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(
            "/api/v1/predictions/",
            {"input_image": SimpleUploadedFile("b.png", blobs_png), "diameter": "30"},
            format="multipart",
        )
    job_id = response.json()["id"]
    status = api_client.get(f"/api/v1/predictions/{job_id}/status/").json()
    assert status["status"] == "completed", status
    assert isinstance(cpsam_engine.model, CellposeModel)
    assert cpsam_engine.loads == 1

    flows_response = api_client.get(f"/api/v1/predictions/{job_id}/download_flows/")
    flows = np.load(io.BytesIO(b"".join(flows_response.streaming_content)))
    assert flows.shape == (3, *blobs.shape)
    assert flows.dtype == np.float32
    assert np.isfinite(flows).all()
    assert np.abs(flows).sum() > 0

    # A second image on the same (warm) engine does not load the model again.
    cpsam_engine.segment(blobs[:64, :64], SegmentationParams(diameter=30))
    assert cpsam_engine.loads == 1


@pytest.fixture
def eval_calls(monkeypatch, cpsam_engine):
    """Every call of ``CellposeModel.eval``, recorded on its way into cellpose's own method."""
    from cellpose.models import CellposeModel

    calls = []
    real_eval = CellposeModel.eval

    def recording_eval(self, x, **kwargs):
        calls.append((np.array(x, copy=True), kwargs))
        return real_eval(self, x, **kwargs)

    monkeypatch.setattr(CellposeModel, "eval", recording_eval)
    return calls


def post_job(api_client, data: bytes, **fields):
    from django.core.files.uploadedfile import SimpleUploadedFile

    payload = {"input_image": SimpleUploadedFile("cells.ome.tif", data), **fields}
    response = api_client.post("/api/v1/predictions/", payload, format="multipart")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def job_status(api_client, job_id: str) -> dict:
    return api_client.get(f"/api/v1/predictions/{job_id}/status/").json()


@pytest.mark.django_db
def test_channels_reach_cellpose_in_the_order_asked(
    eval_calls, api_client, eager_celery, django_capture_on_commit_callbacks
):
    from tests.helpers import microscopy as m

    full = m.two_channel_nuclei()
    sample = m.Sample(full.image[:, :64, :64], full.labels[:64, :64], full.channel_names)
    with django_capture_on_commit_callbacks(execute=True):
        job_id = post_job(api_client, m.ome_tiff(sample), channels="GFP,DAPI", diameter="30")
    status = job_status(api_client, job_id)
    assert status["status"] == "completed", status
    (image, kwargs), = eval_calls  # fmt: skip
    assert kwargs["channel_axis"] == 2
    assert kwargs["z_axis"] is None
    assert kwargs["do_3D"] is False
    np.testing.assert_array_equal(image, sample.image[0][..., ::-1])


@pytest.mark.django_db
def test_a_stitched_stack_reaches_cellpose_with_its_z_axis_and_anisotropy(
    eval_calls, api_client, eager_celery, django_capture_on_commit_callbacks
):
    from tests.helpers import microscopy as m

    full = m.two_channel_stack()
    sample = m.Sample(full.image[:2, :16, :16], full.labels[:2, :16, :16], full.channel_names)
    with django_capture_on_commit_callbacks(execute=True):
        job_id = post_job(api_client, m.ome_tiff(sample), stitch_threshold="0.4", diameter="30")
    status = job_status(api_client, job_id)
    assert status["status"] == "completed", status
    (image, kwargs), = eval_calls  # fmt: skip
    assert image.shape == (2, 16, 16, 2)
    assert kwargs["z_axis"] == 0
    assert kwargs["channel_axis"] == 3
    assert kwargs["stitch_threshold"] == pytest.approx(0.4)
    assert kwargs["do_3D"] is False
    assert kwargs["anisotropy"] == pytest.approx(m.Z_STEP_UM / m.PIXEL_UM)


def test_do_3d_runs_cellpose_3d_flows(eval_calls, cpsam_engine):
    # Cellpose runs its network on every YX, ZY and ZX slice: the smallest stack keeps it short.
    volume = np.random.default_rng(0).random((2, 4, 4)).astype(np.float32)
    params = SegmentationParams(diameter=30, do_3D=True, anisotropy=1.5)
    result = cpsam_engine.segment(volume, params)
    (_, kwargs), = eval_calls  # fmt: skip
    assert kwargs["do_3D"] is True
    assert kwargs["z_axis"] == 0
    assert kwargs["channel_axis"] is None
    assert kwargs["anisotropy"] == 1.5
    assert result.masks.shape == (2, 4, 4)
    assert result.flows.shape == (4, 2, 4, 4)
    assert np.isfinite(result.flows).all()


def test_batch_size_and_local_normalisation_reach_cellpose(eval_calls, cpsam_engine, settings):
    settings.CELLPOSE_BATCH_SIZE, settings.CELLPOSE_TILE_NORM_BLOCKSIZE = 4, 32
    image = np.random.default_rng(1).random((48, 48)).astype(np.float32)
    result = cpsam_engine.segment(image, SegmentationParams(diameter=30))
    (_, kwargs), = eval_calls  # fmt: skip
    assert kwargs["batch_size"] == 4
    assert kwargs["normalize"] == {"tile_norm_blocksize": 32}
    assert result.masks.shape == (48, 48)
    settings.CELLPOSE_TILE_NORM_BLOCKSIZE = 0
    cpsam_engine.segment(image, SegmentationParams(diameter=30))
    assert eval_calls[-1][1]["normalize"] is True
