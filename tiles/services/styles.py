"""Default large-image styles: how a layer looks when the request asks for no style."""

from __future__ import annotations

import numpy as np

# Label colours cycle through a qualitative palette: labels are numbered roughly in scan
# order, so touching cells almost always land on different colours.
LABEL_COLORS = (
    "#e6194b",
    "#3cb44b",
    "#ffe119",
    "#4363d8",
    "#f58231",
    "#911eb4",
    "#46f0f0",
    "#f032e6",
    "#bcf60c",
    "#fabebe",
    "#008080",
    "#e6beff",
    "#9a6324",
    "#fffac8",
    "#800000",
    "#aaffc3",
    "#808000",
    "#ffd8b1",
    "#000075",
)
TRANSPARENT = "#00000000"


def label_style(max_label: int) -> dict:
    """Background transparent, each label one solid colour (``discrete``: no blending)."""
    colors = [LABEL_COLORS[i % len(LABEL_COLORS)] for i in range(max(max_label, 1))]
    return {
        "band": 1,
        "min": 0,
        "max": max(max_label, 1),
        "palette": [TRANSPARENT, *colors],
        "scheme": "discrete",
    }


def intensity_style(dtype: np.dtype | str) -> dict | None:
    """Stretch anything deeper than 8 bits to its data range; 8-bit images are shown as is.

    A 16-bit microscope image typically uses a few thousand of 65,536 levels and would
    otherwise render almost black.
    """
    if np.dtype(dtype) == np.uint8:
        return None
    return {"min": "auto", "max": "auto"}
