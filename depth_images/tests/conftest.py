import io

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from depth_images import synthetic
from depth_images.models import DepthDataset, DepthRow


def csv_upload(data: bytes, name: str = "depth.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="text/csv")


def snapshot(owner) -> dict:
    """Everything stored for ``owner``: datasets' summaries and every row's bytes."""
    return {
        d.name: (
            d.status,
            d.row_count,
            d.depth_min_key,
            d.depth_max_key,
            list(
                DepthRow.objects.filter(dataset=d).order_by("depth").values_list("depth", "pixels")
            ),
        )
        for d in DepthDataset.objects.filter(owner=owner)
    }


@pytest.fixture
def small_csv() -> bytes:
    """50 rows, 9000.1 .. 9005.0, with the real file's trailing empty line."""
    return synthetic.csv_bytes(50)


@pytest.fixture
def load_npy():
    return lambda content: np.load(io.BytesIO(content), allow_pickle=False)
