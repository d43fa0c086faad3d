"""Exports for QuPath, Fiji, napari, spreadsheets and the Cellpose GUI, checked by reading them
back with the tools' own readers (shapely, roifile, tifffile, csv, cellpose.io) against the
masks of real images: the DSB dev set's expert labels and the 3D nuclei stack's."""

import csv
import json
import uuid
import zipfile

import numpy as np
import pytest
import roifile
import shapely
import tifffile
from shapely.geometry import shape
from skimage.draw import polygon2mask

from predictions.services import interop, measure, outlines, outputs
from tests.helpers.data import NUCLEI3D_MASKS, NUCLEI_DEV, require

DEV_LABELS = sorted(require(NUCLEI_DEV).glob("*_labels.tif"))


@pytest.fixture(scope="module", params=[p.name for p in DEV_LABELS[:6]])
def masks(request):
    return tifffile.imread(NUCLEI_DEV / request.param).astype(np.uint16)


def _metrics(masks):
    return measure.metrics_document(measure.measure_cells(masks))["individual_metrics"]


def test_geojson_polygons_are_valid_and_match_the_cell_areas(masks, tmp_path):
    traced = outlines.trace(masks)
    target = tmp_path / "cells.geojson"
    job = uuid.uuid4()
    interop.write_geojson(target, traced, _metrics(masks), job)
    document = json.loads(target.read_text())
    assert document["type"] == "FeatureCollection"
    features = document["features"]
    areas = np.bincount(masks.ravel())
    assert len(features) == int((areas[1:] > 0).sum())
    for feature in features:
        properties = feature["properties"]
        assert properties["objectType"] == "detection"
        label = int(properties["measurements"]["cell_id"])
        assert properties["name"] == interop.cell_name(label, int(masks.max()))
        assert properties["measurements"]["area"] == areas[label]
        geometry = shape(feature["geometry"])
        assert shapely.is_valid(geometry), shapely.is_valid_reason(geometry)
        if areas[label] >= 50:
            assert geometry.area == pytest.approx(areas[label], rel=0.02)
    assert len({f["id"] for f in features}) == len(features)
    uuid.UUID(features[0]["id"])  # QuPath reads ids as UUIDs


def test_a_hole_is_an_interior_ring():
    ring = np.zeros((20, 20), np.uint8)
    ring[4:16, 4:16] = 1
    ring[8:12, 8:12] = 0
    (outline,) = outlines.trace(ring)
    (polygon,) = outline.polygons
    assert len(polygon.holes) == 1
    assert outlines.polygon_area(polygon) == pytest.approx(144 - 16, rel=0.01)
    geometry = next(interop.geojson_features([outline], [{"cell_id": 1}], uuid.uuid4()))
    parsed = shape(geometry["geometry"])
    assert shapely.is_valid(parsed)
    assert len(parsed.interiors) == 1
    # Pixel-corner coordinates: the square's edges lie on x, y = 4 and 16.
    assert parsed.bounds == (4.0, 4.0, 16.0, 16.0)


def test_a_cell_in_two_pieces_is_a_multipolygon():
    cell = np.zeros((10, 20), np.uint8)
    cell[2:6, 2:6] = 1
    cell[2:6, 12:18] = 1
    (outline,) = outlines.trace(cell)
    feature = next(interop.geojson_features([outline], [], uuid.uuid4()))
    parsed = shape(feature["geometry"])
    assert parsed.geom_type == "MultiPolygon"
    assert parsed.area == pytest.approx(16 + 24, rel=0.02)


def test_every_roi_filled_gives_its_cell(masks, tmp_path):
    target = tmp_path / "rois.zip"
    interop.write_roi_zip(target, outlines.trace(masks))
    rois = roifile.roiread(target)
    labels = np.unique(masks)[1:]
    assert len(rois) == len(labels)
    width = max(4, len(str(int(masks.max()))))
    assert [r.name for r in rois] == [f"cell_{label:0{width}d}" for label in labels]
    for roi, label in zip(rois, labels, strict=True):
        xy = roi.coordinates()
        filled = polygon2mask(masks.shape, xy[:, ::-1] - 0.5)  # corners -> pixel centres
        cell = masks == label
        iou = (filled & cell).sum() / (filled | cell).sum()
        assert iou >= 0.95, (roi.name, iou)


def test_ome_labels_read_back_with_their_physical_size(masks, tmp_path):
    target = tmp_path / "labels.ome.tif"
    interop.write_ome_labels(target, masks, pixel_size_um=0.325)
    with tifffile.TiffFile(target) as tif:
        assert tif.is_ome
        np.testing.assert_array_equal(tif.asarray(), masks)
        pixels = tif.ome_metadata
    assert 'PhysicalSizeX="0.325"' in pixels
    assert "PhysicalSizeXUnit" in pixels


def test_large_ome_labels_are_a_pyramid_of_labels(tmp_path, monkeypatch):
    monkeypatch.setattr(interop, "PYRAMID_SIDE", 256)
    masks = np.kron(np.arange(64, dtype=np.uint32).reshape(8, 8), np.ones((128, 128), np.uint32))
    target = tmp_path / "labels.ome.tif"
    interop.write_ome_labels(target, masks)
    with tifffile.TiffFile(target) as tif:
        levels = tif.series[0].levels
        assert [level.shape for level in levels] == [(1024, 1024), (512, 512), (256, 256)]
        np.testing.assert_array_equal(levels[2].asarray(), masks[::4, ::4])


def test_csv_has_one_row_per_cell_equal_to_the_metrics(masks, tmp_path):
    cells = _metrics(masks)
    target = tmp_path / "metrics.csv"
    interop.write_metrics_csv(target, cells, job_id="job-1", image_name="a b,c.png")
    with target.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(cells)
    for row, cell in zip(rows, cells, strict=True):
        assert (row.pop("job_id"), row.pop("image")) == ("job-1", "a b,c.png")
        assert list(row) == list(cell)
        for name, value in cell.items():
            expected = "" if value is None else value
            parsed = type(value)(row[name]) if value is not None else row[name]
            assert parsed == expected, name


def test_the_3d_stack_gives_a_polygon_per_cell_and_plane(tmp_path):
    stack = tifffile.imread(require(NUCLEI3D_MASKS)).astype(np.uint16)
    traced = outlines.trace(stack)
    per_plane = {(o.label, o.z) for o in traced}
    expected = {(int(label), int(z)) for z in range(stack.shape[0])
                for label in np.unique(stack[z])[1:]}  # fmt: skip
    assert per_plane == expected
    target = tmp_path / "rois.zip"
    interop.write_roi_zip(target, traced)
    rois = roifile.roiread(target)
    assert len(rois) == len(traced)
    first = rois[0]
    assert first.name.endswith(f"_z{traced[0].z:03d}")
    assert first.z_position == traced[0].z + 1
    feature = next(interop.geojson_features(traced, [], uuid.uuid4()))
    assert feature["geometry"]["plane"] == {"c": -1, "z": traced[0].z, "t": 0}


def test_no_cells_still_give_readable_files(tmp_path):
    masks = np.zeros((32, 32), np.uint8)
    interop.write_geojson(tmp_path / "c.geojson", [], [], uuid.uuid4())
    assert json.loads((tmp_path / "c.geojson").read_text())["features"] == []
    interop.write_roi_zip(tmp_path / "r.zip", [])
    assert zipfile.ZipFile(tmp_path / "r.zip").namelist() == []
    interop.write_ome_labels(tmp_path / "l.ome.tif", masks)
    assert tifffile.imread(tmp_path / "l.ome.tif").max() == 0


@pytest.mark.slow
def test_seg_npy_opens_with_cellpose_and_holds_the_masks(tmp_path):
    from cellpose import io as cellpose_io

    masks = tifffile.imread(DEV_LABELS[0]).astype(np.uint16)
    image = (masks > 0).astype(np.uint8) * 200
    flows = np.random.default_rng(0).standard_normal((3, *masks.shape)).astype(np.float32)
    result = outputs.write_results(tmp_path / "out", image, masks, flows, seg=True)
    assert result.num_cells == len(np.unique(masks)) - 1
    seg = tmp_path / "cells_seg.npy"
    (tmp_path / "out" / outputs.SEG).rename(seg)
    stored = np.load(tmp_path / "out" / outputs.MASKS)
    np.testing.assert_array_equal(cellpose_io.imread(str(seg)), stored)
    saved = np.load(seg, allow_pickle=True).item()
    assert saved["filename"] == "image"
    assert saved["flows"][0].shape == (1, *masks.shape, 3)  # as cellpose writes a 2D image


@pytest.mark.slow
@pytest.mark.parametrize("components", [4, 3], ids=["do_3D", "stitched"])
def test_seg_npy_of_a_stack_holds_its_3d_masks(tmp_path, components):
    from cellpose import io as cellpose_io

    from tests.helpers.data import NUCLEI3D_IMAGE

    masks = tifffile.imread(require(NUCLEI3D_MASKS)).astype(np.uint16)
    image = tifffile.imread(NUCLEI3D_IMAGE)
    flows = np.random.default_rng(0).standard_normal((components, *masks.shape))
    flows = flows.astype(np.float32)
    target = tmp_path / "stack_seg.npy"
    interop.write_seg_npy(target, image, masks, flows, "stack.tif")
    np.testing.assert_array_equal(cellpose_io.imread(str(target)), masks)
    saved = np.load(target, allow_pickle=True).item()
    assert saved["flows"][0].shape == (*masks.shape, 3)  # each plane's flow as colour
