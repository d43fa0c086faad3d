"""Default large-image styles: how a layer looks when the request asks for no style."""

from __future__ import annotations

from typing import Any

import numpy as np

from predictions.services.labels import label_color_hex

TRANSPARENT = "#00000000"


def label_style(max_label: int) -> dict[str, Any]:
    """Background transparent, each label one solid colour (``discrete``: no blending), the
    colour the overlay PNG gives the same cell."""
    colors = [label_color_hex(label) for label in range(1, max(max_label, 1) + 1)]
    return {
        "band": 1,
        "min": 0,
        "max": max(max_label, 1),
        "palette": [TRANSPARENT, *colors],
        "scheme": "discrete",
    }


def intensity_style(dtype: np.dtype | str) -> dict[str, Any] | None:
    """Stretch anything deeper than 8 bits to its data range; 8-bit images are shown as is.

    A 16-bit microscope image typically uses a few thousand of 65,536 levels and would
    otherwise render almost black.
    """
    if np.dtype(dtype) == np.uint8:
        return None
    return {"min": "auto", "max": "auto"}
