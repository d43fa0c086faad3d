"""Results in the formats of the tools labs use: QuPath, Fiji/ImageJ, napari, spreadsheets and
the Cellpose GUI. Every function writes one file from the job's masks, outlines and metrics.

- ``write_geojson``: a QuPath FeatureCollection of detections (its ``PathObjectTypeAdapters``
  conventions: ``objectType``, a ``measurements`` map of numbers, a UUID ``id``, and for a plane
  of a 3D mask ``geometry.plane`` = {c: -1, z, t: 0}), polygons in full-resolution pixel
  coordinates with holes as interior rings.
- ``write_roi_zip``: an ImageJ ROI set (``roifile``), one polygon ROI per cell named
  ``cell_0001``..., and in 3D one per cell and plane (``cell_0001_z005``, with its z position),
  as Fiji's ROI Manager opens it.
- ``write_ome_labels``: the label image as an OME-TIFF, with physical pixel sizes when known and
  a pyramid (sub-resolutions by nearest neighbour, so labels stay labels) above
  ``PYRAMID_SIDE``; Fiji (Bio-Formats) and napari open it.
- ``write_metrics_csv``: one row per cell, every metric of ``metrics.json``, with the job and
  image in the first columns; floats written as Python's shortest round-trip repr.
- ``write_seg_npy``: cellpose's own ``masks_flows_to_seg``, so the Cellpose GUI opens the
  result for correction.
"""

from __future__ import annotations

import csv
import json
import math
import tempfile
import uuid
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import roifile
import tifffile

from predictions.services.outlines import Outline, Polygon

PYRAMID_SIDE = 4096  # label images larger than this a side get sub-resolutions
TILE = 512
# Namespace of the detections' ids: the same job and cell always get the same UUID.
CELL_NAMESPACE = uuid.UUID("0b4f3c1e-5c8a-4e53-9a4e-2f0d6c5a7e11")
COORDINATE_DECIMALS = 2  # as QuPath writes them


def cell_name(label: int, count: int) -> str:
    """``cell_0001``; as many digits as the largest label needs, at least four."""
    return f"cell_{label:0{max(4, len(str(count)))}d}"


# --- QuPath GeoJSON ---------------------------------------------------------------------------


def geojson_features(
    outlines: Iterable[Outline], metrics: Sequence[Mapping[str, Any]], job_id: uuid.UUID
) -> Iterable[dict[str, Any]]:
    """One detection per outline; ``metrics`` are ``metrics.json``'s individual_metrics."""
    by_label = {int(cell["cell_id"]): cell for cell in metrics}
    count = max(by_label, default=0)
    for outline in outlines:
        geometry = _geometry(outline.polygons)
        if outline.z is not None:
            geometry["plane"] = {"c": -1, "z": outline.z, "t": 0}
        plane = "" if outline.z is None else f":z{outline.z}"
        yield {
            "type": "Feature",
            "id": str(uuid.uuid5(CELL_NAMESPACE, f"{job_id}:{outline.label}{plane}")),
            "geometry": geometry,
            "properties": {
                "objectType": "detection",
                "name": cell_name(outline.label, count),
                "measurements": numeric_measurements(by_label.get(outline.label, {})),
            },
        }


def write_geojson(
    target: Path,
    outlines: Iterable[Outline],
    metrics: Sequence[Mapping[str, Any]],
    job_id: uuid.UUID,
) -> None:
    """Streamed feature by feature: a slide's million cells never sit in one string."""
    with target.open("w") as out:
        out.write('{"type": "FeatureCollection", "features": [')
        for index, feature in enumerate(geojson_features(outlines, metrics, job_id)):
            out.write(("," if index else "") + "\n" + json.dumps(feature, allow_nan=False))
        out.write("\n]}\n")


def _geometry(polygons: Sequence[Polygon]) -> dict[str, Any]:
    rings = [[_coordinates(p.exterior), *(_coordinates(h) for h in p.holes)] for p in polygons]
    if len(rings) == 1:
        return {"type": "Polygon", "coordinates": rings[0]}
    return {"type": "MultiPolygon", "coordinates": rings}


def _coordinates(ring: np.ndarray) -> list[list[float]]:
    rounded: list[list[float]] = np.round(ring, COORDINATE_DECIMALS).tolist()
    return rounded


def numeric_measurements(cell: Mapping[str, Any]) -> dict[str, float]:
    """QuPath's measurement list holds numbers only: strings, None and NaN are left out."""
    return {
        name: value
        for name, value in cell.items()
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    }


# --- ImageJ ROIs ------------------------------------------------------------------------------


def write_roi_zip(target: Path, outlines: Sequence[Outline]) -> None:
    """One polygon ROI per cell (per cell and plane in 3D); a cell in several pieces gives its
    largest, as an ImageJ polygon has one ring and no holes."""
    count = max((o.label for o in outlines), default=0)
    rois = [_roi(outline, count) for outline in outlines]
    if not rois:
        _write_empty_zip(target)
        return
    roifile.roiwrite(target, rois, mode="w")


def _roi(outline: Outline, count: int) -> roifile.ImagejRoi:
    points = outline.largest.exterior[:-1]
    roi = roifile.ImagejRoi.frompoints(points)
    roi.roitype = roifile.ROI_TYPE.POLYGON
    name = cell_name(outline.label, count)
    if outline.z is not None:
        name += f"_z{outline.z:03d}"
        roi.z_position = outline.z + 1  # ImageJ counts planes from 1
        roi.position = outline.z + 1
    roi.name = name
    return roi


def _write_empty_zip(target: Path) -> None:
    with zipfile.ZipFile(target, "w"):
        pass


# --- OME-TIFF labels --------------------------------------------------------------------------


def write_ome_labels(
    target: Path,
    masks: np.ndarray,
    *,
    pixel_size_um: float | None = None,
    z_step_um: float | None = None,
) -> None:
    """The label image, (Y, X) or (Z, Y, X), in its own dtype, tiled and zlib-compressed."""
    axes = "ZYX" if masks.ndim == 3 else "YX"
    metadata: dict[str, Any] = {"axes": axes, "Name": "labels"}
    if pixel_size_um:
        metadata |= {
            "PhysicalSizeX": pixel_size_um,
            "PhysicalSizeXUnit": "µm",
            "PhysicalSizeY": pixel_size_um,
            "PhysicalSizeYUnit": "µm",
        }
    if z_step_um and masks.ndim == 3:
        metadata |= {"PhysicalSizeZ": z_step_um, "PhysicalSizeZUnit": "µm"}
    levels = _pyramid_levels(masks.shape[-2:])
    options: dict[str, Any] = {"photometric": "minisblack", "compression": "zlib"}
    if max(masks.shape[-2:]) > TILE:
        options["tile"] = (TILE, TILE)
    bigtiff = masks.nbytes > 2**31
    with tifffile.TiffWriter(target, bigtiff=bigtiff, ome=True) as tif:
        tif.write(masks, subifds=levels, metadata=metadata, **options)
        for level in range(1, levels + 1):
            step = 2**level
            tif.write(masks[..., ::step, ::step], subfiletype=1, **options)


def _pyramid_levels(shape: Sequence[int]) -> int:
    """Halvings until the image fits ``PYRAMID_SIDE``: none for an image that already does."""
    levels, side = 0, max(shape)
    while side > PYRAMID_SIDE:
        side = math.ceil(side / 2)
        levels += 1
    return levels


# --- CSV --------------------------------------------------------------------------------------


def write_metrics_csv(
    target: Path,
    metrics: Sequence[Mapping[str, Any]],
    *,
    job_id: uuid.UUID | str,
    image_name: str,
) -> None:
    """Every field of every cell, in ``metrics.json``'s order, after ``job_id`` and ``image``."""
    fields = list(csv_fields(metrics))
    with target.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["job_id", "image", *fields])
        for cell in metrics:
            writer.writerow([str(job_id), image_name, *(csv_value(cell.get(f)) for f in fields)])


def csv_fields(metrics: Iterable[Mapping[str, Any]]) -> dict[str, None]:
    """The columns of these cells: every field any of them has, in first-seen order."""
    return dict.fromkeys(name for cell in metrics for name in cell)


def csv_value(value: Any) -> str:
    """A metric as a CSV cell: floats in their shortest repr (read back exactly), None empty."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


# --- Cellpose GUI -----------------------------------------------------------------------------


def write_seg_npy(
    target: Path, image: np.ndarray, masks: np.ndarray, flows: np.ndarray, image_name: str
) -> None:
    """Cellpose's ``_seg.npy`` for ``image`` (as the engine saw it), written by cellpose itself.

    ``flows`` are the job's: (3, Y, X) dy, dx, logit; (4, Z, Y, X) dz, dy, dx, logit in 3D; or
    (3, Z, Y, X) for planes segmented in 2D and stitched. Cellpose wants [the flow as RGB, dP,
    cellprob], which ``cellpose.plot.dx_to_circ`` gives the first of.
    """
    from cellpose import io as cellpose_io
    from cellpose import plot

    dp, cellprob = flows[:-1], flows[-1]
    if masks.ndim == 2:
        rgb = plot.dx_to_circ(dp)
    else:  # each plane's (dy, dx), the last two components in 3D and stitched alike
        rgb = np.stack([plot.dx_to_circ(plane[-2:]) for plane in np.moveaxis(dp, 1, 0)])
    with tempfile.TemporaryDirectory() as tmp:
        # A name without dots: cellpose cuts the last suffix off, the .ome of cells.ome too.
        base = Path(tmp) / "image"
        cellpose_io.masks_flows_to_seg(image, masks, [rgb, dp, cellprob], str(base))
        saved = np.load(f"{base}_seg.npy", allow_pickle=True).item()
    # The GUI looks for the image by this name, beside the _seg.npy: not our temporary path.
    saved["filename"] = image_name
    with target.open("wb") as out:
        np.save(out, np.asarray(saved, dtype=object), allow_pickle=True)
