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
