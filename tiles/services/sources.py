"""The large-image reader of the OME-TIFFs ``pyramid.write_frames`` writes.

large-image's tifffile reader serves each (plane, channel) page of an OME-TIFF as a frame with
its ``IndexZ``/``IndexC``; this subclass adds the two things it lacks here:

- the channel names: it takes names from ImageJ, Indica and SCN files, never from OME-XML;
- pyramid levels under zarr 3: it indexes tifffile's multiscales group with ``group[0]``,
  which zarr 3 refuses (levels are named ``"0"``, ``"1"``...), so a file with SubIFD levels
  would not open at all.
"""

from __future__ import annotations

from typing import Any

import zarr
from large_image_source_tifffile import (  # type: ignore[import-untyped]  # ships no types
    TifffileFileTileSource,
)

from predictions.services import axes


class FramesTiffSource(TifffileFileTileSource):  # type: ignore[misc]  # an untyped library class
    name = "cellserve_frames"
    # The cache every large-image reader shares (a class without one gets its own).
    cacheName = "tilesource"

    def _handle_ome(self) -> None:
        super()._handle_ome()
        xml = getattr(self._tf, "ome_metadata", None)
        names = axes.ome_pixels(xml, 0).channel_names if xml else ()
        if names:
            self._channels = list(names)

    def _getZarrArray(self, series: Any, sidx: int) -> tuple[list[Any], bool]:
        # The parent's contract: (levels indexable by level number, whether they are zarr
        # arrays); one list of arrays covers a single level and a pyramid alike.
        with self._zarrlock:
            if sidx not in self._zarrcache:
                opened = zarr.open(series.aszarr(), mode="r")
                if isinstance(opened, zarr.Group):
                    levels = [opened[str(level)] for level in range(len(series.levels))]
                else:
                    levels = [opened]
                self._zarrcache[sidx] = (levels, True)
            cached: tuple[list[Any], bool] = self._zarrcache[sidx]
            return cached
