"""Label images (0 background, 1..N cells): one dtype rule and one palette for every output.

The overlay PNG and the masks tile layer colour cell ``i`` with the same colour, so a cell
looks the same in the result file and in the viewer. Channels of a multichannel image have
their own palette, shared by the overlay and the viewer's channel picker.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

# A qualitative palette, cycled: labels are numbered roughly in scan order, so touching cells
# almost always get different colours.
LABEL_COLORS = (
    "#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0",
    "#f032e6", "#bcf60c", "#fabebe", "#008080", "#e6beff", "#9a6324", "#fffac8",
    "#800000", "#aaffc3", "#808000", "#ffd8b1", "#000075",
)  # fmt: skip
_RGB = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in LABEL_COLORS], np.uint8)


# Fiji's default composite colours, in channel order: red, green, blue, grey, cyan, magenta,
# yellow (cycled), so a composite looks here as it does in Fiji.
CHANNEL_COLORS = ("#ff0000", "#00ff00", "#0000ff", "#ffffff", "#00ffff", "#ff00ff", "#ffff00")


def channel_color_hex(channel: int) -> str:
    return CHANNEL_COLORS[channel % len(CHANNEL_COLORS)]


def channel_colors(count: int) -> npt.NDArray[np.float32]:
    """(count, 3) RGB weights in [0, 1] for compositing ``count`` channels."""
    hexes = [channel_color_hex(i) for i in range(count)]
    return np.array([[int(h[i : i + 2], 16) / 255 for i in (1, 3, 5)] for h in hexes], np.float32)


def label_dtype(max_label: int) -> np.dtype[np.unsignedinteger]:
    """The narrowest unsigned type that holds every label (most viewers read uint16 best)."""
    return np.dtype(np.uint16) if max_label <= np.iinfo(np.uint16).max else np.dtype(np.uint32)


def label_color_hex(label: int) -> str:
    """The colour of cell ``label`` (1..N) as ``#rrggbb``."""
    return LABEL_COLORS[(label - 1) % len(LABEL_COLORS)]


def label_colors(max_label: int) -> npt.NDArray[np.uint8]:
    """(max_label + 1, 3) RGB colours indexed by label; row 0 (background) black."""
    rows = np.zeros((max_label + 1, 3), np.uint8)
    rows[1:] = _RGB[np.arange(max_label) % len(_RGB)]
    return rows
