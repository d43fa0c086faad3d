import numpy as np
import pytest
from skimage.draw import ellipse
from skimage.measure import regionprops

from predictions.services import measure


@pytest.fixture
def masks() -> np.ndarray:
    rng = np.random.default_rng(3)
    labels = np.zeros((300, 300), np.uint16)
    label = 0
    for r in range(25, 280, 50):
        for c in range(25, 280, 50):
            label += 1
            rr, cc = ellipse(
                r, c, rng.integers(4, 20), rng.integers(4, 20), labels.shape, rng.uniform(0, 3)
            )
            labels[rr, cc] = label
    labels[labels == 5] = 0  # a gap in the label ids
    labels[100:103, 10:40] = 99  # a one-pixel-wide region has a minor axis of 0...
    labels[150, 10:40] = 100
    labels[200:215, 200:215] = 101
    labels[205:208, 205:208] = 0  # ...and one with a hole has Euler number 0
    return labels


def per_cell_reference(masks: np.ndarray, label: int) -> dict:
    """The seed's way: one regionprops call on the full-image binary mask of each cell."""
    props = regionprops((masks == label).astype(np.uint8))[0]
    return {
        "area": props.area,
        "perimeter": props.perimeter,
        "centroid_x": props.centroid[1],
        "centroid_y": props.centroid[0],
        "eccentricity": props.eccentricity,
        "solidity": props.solidity,
        "extent": props.extent,
        "equivalent_diameter": props.equivalent_diameter_area,
        "bbox_min_row": props.bbox[0],
        "bbox_min_col": props.bbox[1],
        "bbox_max_row": props.bbox[2],
        "bbox_max_col": props.bbox[3],
        "orientation": props.orientation,
        "major_axis_length": props.axis_major_length,
        "minor_axis_length": props.axis_minor_length,
        "convex_area": props.area_convex,
        "filled_area": props.area_filled,
        "euler_number": props.euler_number,
    }


def test_vectorized_table_matches_regionprops_per_cell(masks):
    table = measure.measure_cells(masks)
    labels = [int(v) for v in np.unique(masks) if v]
    assert table["cell_id"].tolist() == labels
    for row, label in enumerate(labels):
        expected = per_cell_reference(masks, label)
        for field, value in expected.items():
            assert table[field][row] == pytest.approx(value, rel=1e-12, abs=1e-12), (label, field)


def test_aspect_ratio_is_null_for_zero_minor_axis(masks):
    table = measure.measure_cells(masks)
    rows = {r["cell_id"]: r for r in measure.rows(table, measure.SHAPE_FIELDS)}
    assert rows[100]["aspect_ratio"] is None
    assert rows[101]["euler_number"] == 0
    assert rows[1]["aspect_ratio"] == pytest.approx(
        rows[1]["major_axis_length"] / rows[1]["minor_axis_length"]
    )


def test_documents_follow_the_seed_fields(masks):
    table = measure.measure_cells(masks)
    doc = measure.metrics_document(table)
    assert list(doc["summary"]) == [
        "total_cells",
        "average_area",
        "min_area",
        "max_area",
        "average_aspect_ratio",
    ]
    assert doc["summary"]["total_cells"] == len(np.unique(masks)) - 1
    assert doc["summary"]["max_area"] == max(r["area"] for r in doc["individual_metrics"])
    assert list(doc["individual_metrics"][0]) == list(measure.INDIVIDUAL_FIELDS)
    shape = measure.shape_analysis_document(table)["shape_analysis"]
    assert list(shape[0]) == list(measure.SHAPE_FIELDS)


def test_empty_masks_give_an_empty_table():
    table = measure.measure_cells(np.zeros((20, 20), np.uint16))
    doc = measure.metrics_document(table)
    assert doc == {
        "summary": {
            "total_cells": 0,
            "average_area": None,
            "min_area": None,
            "max_area": None,
            "average_aspect_ratio": None,
        },
        "individual_metrics": [],
    }
