"""Rows in a depth range as images: one PNG per depth (the legacy endpoint) or one stacked frame."""

import base64
import io
import json

import numpy as np
from django.conf import settings
from django.http import HttpResponse
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.renderers import BaseRenderer

from depth_images.models import DepthDataset
from depth_images.services import colormaps, depths, store


class BinaryRenderer(BaseRenderer):
    """Lets clients ask for the file's type; errors are still JSON."""

    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes) else json.dumps(data).encode()


class PNGRenderer(BinaryRenderer):
    media_type = "image/png"
    format = "png"


class NPYRenderer(BinaryRenderer):
    media_type = "application/octet-stream"
    format = "npy"


def rows_in_range(dataset: DepthDataset, options: dict, limit: int, what: str):
    low, high = options["keys"]
    keys, rows = store.load_range(dataset, low, high, limit)
    if not len(keys):
        raise NotFound(f"dataset {dataset.name!r} has no rows in this depth range")
    if len(keys) > limit:
        raise ValidationError(
            {
                "detail": f"the range holds more than {limit:,} rows, the most one {what} "
                "returns; narrow depth_min/depth_max"
            }
        )
    return keys, rows


def legacy_images(dataset: DepthDataset, options: dict) -> dict:
    keys, rows = rows_in_range(dataset, options, settings.CELLSERVE_DEPTH_MAX_IMAGES, "request")
    rgb = colormaps.colorize(rows, options["table"])
    images = [
        base64.b64encode(colormaps.encode_png(rgb[i : i + 1])).decode("ascii")
        for i in range(len(keys))
    ]
    return {
        "dataset": dataset.name,
        "depths": [depths.to_depth(k) for k in keys.tolist()],
        "images": images,
        "colormap": options["colormap_name"],
    }


def frame_response(dataset: DepthDataset, options: dict, kind: str) -> HttpResponse:
    keys, rows = rows_in_range(dataset, options, settings.CELLSERVE_DEPTH_MAX_FRAME_ROWS, "frame")
    if kind == "png":
        content = colormaps.encode_png(colormaps.colorize(rows, options["table"]))
        content_type = "image/png"
    else:
        buffer = io.BytesIO()
        np.save(buffer, rows)
        content, content_type = buffer.getvalue(), "application/octet-stream"
    low, high = depths.to_depth(int(keys[0])), depths.to_depth(int(keys[-1]))
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'inline; filename="depth_{low:g}-{high:g}.{kind}"'
    response["X-Depth-Min"], response["X-Depth-Max"] = f"{low:g}", f"{high:g}"
    response["X-Rows"] = str(len(keys))
    return response
