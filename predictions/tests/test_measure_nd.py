"""Intensity features, physical units and 3D fields of ``measure``, against scikit-image.

Reference values come from ``regionprops`` cell by cell; ours come from one vectorized pass,
so floats agree to a relative 1e-9 (summation order), integers exactly.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import tifffile
from scipy.spatial import ConvexHull
from skimage.draw import ellipse
from skimage.measure import marching_cubes, mesh_surface_area, regionprops
from skimage.segmentation import relabel_sequential

from predictions.services import measure
from tests.helpers.data import NUCLEI3D_IMAGE, NUCLEI3D_MASKS, require

RTOL = 1e-9
CHANNELS = ("dapi", "gfp", "rfp")
INTENSITY_REFERENCE = {
    "MeanIntensity": lambda props, values: props.intensity_mean,
    "MedianIntensity": lambda props, values: np.median(values, axis=0),
    "StdIntensity": lambda props, values: props.intensity_std,
    "MinIntensity": lambda props, values: props.intensity_min,
    "MaxIntensity": lambda props, values: props.intensity_max,
    "IntegratedIntensity": lambda props, values: np.sum(values, axis=0),
}
# skimage's convex_hull_image represents a voxel by the centres of its six faces.
DIAMOND = np.concatenate([np.eye(3), -np.eye(3)]) / 2


@pytest.fixture
def masks2d() -> np.ndarray:
    """Ellipses, a gap in the ids, a one-pixel-thin cell and one with a hole."""
    rng = np.random.default_rng(5)
    labels = np.zeros((200, 220), np.uint16)
    label = 0
    for r in range(20, 190, 40):
        for c in range(20, 210, 40):
            label += 1
            rr, cc = ellipse(
                r, c, rng.integers(3, 16), rng.integers(3, 16), labels.shape, rng.uniform(0, 3)
            )
            labels[rr, cc] = label
    labels[labels == 4] = 0
    labels[150, 5:30] = 90
    labels[100:112, 100:112] = 91
    labels[104:107, 104:107] = 0
    labels[0, 0] = 92  # a one-pixel cell: even count 1, std 0
    return labels


@pytest.fixture(scope="module")
def nuclei3d() -> tuple[np.ndarray, np.ndarray]:
    """(labels relabelled 1..n, the uint16 z-stack) of the stardist 3D nuclei."""
    masks = tifffile.imread(require(NUCLEI3D_MASKS))
    image = tifffile.imread(require(NUCLEI3D_IMAGE))
    return relabel_sequential(masks)[0], image


def channels_of(masks: np.ndarray, dtype: type, seed: int) -> np.ndarray:
    """Three channels of ``dtype``, channel last: noise on a per-cell brightness."""
    rng = np.random.default_rng(seed)
    brightness = rng.uniform(0, 1, (int(masks.max()) + 1, len(CHANNELS)))[masks]
    noise = rng.uniform(0, 1, (*masks.shape, len(CHANNELS)))
    if np.issubdtype(dtype, np.integer):
        top = np.iinfo(dtype).max
        return np.clip((0.6 * brightness + 0.4 * noise) * top, 0, top).astype(dtype)
    return ((brightness - 0.3) * 5000 + rng.normal(0, 300, noise.shape)).astype(dtype)


def intensity_reference(masks: np.ndarray, intensity: np.ndarray) -> dict[str, np.ndarray]:
    """Feature -> (cells, channels), from regionprops cell by cell.

    Float data goes in as float64: regionprops would accumulate a float32 image in float32
    (np.mean keeps the dtype), a rounding error far above 1e-9 that is not ours to match.
    """
    if intensity.dtype.kind == "f":
        intensity = intensity.astype(np.float64)
    reference: dict[str, list] = {feature: [] for feature in INTENSITY_REFERENCE}
    for props in regionprops(masks, intensity_image=intensity):
        values = props.image_intensity[props.image]
        for feature, compute in INTENSITY_REFERENCE.items():
            reference[feature].append(compute(props, values))
    return {feature: np.array(values, np.float64) for feature, values in reference.items()}


def assert_intensity_matches(masks: np.ndarray, intensity: np.ndarray) -> None:
    table = measure.intensity_table(masks, intensity, CHANNELS)
    assert list(table) == list(measure.intensity_fields(CHANNELS))
    reference = intensity_reference(masks, intensity)
    for feature, expected in reference.items():
        for k, name in enumerate(CHANNELS):
            column = table[f"Intensity_{feature}_{name}"]
            assert column.dtype == np.float64
            np.testing.assert_allclose(column, expected[:, k], rtol=RTOL, atol=0, err_msg=feature)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_intensity_matches_regionprops_2d(masks2d, dtype):
    assert_intensity_matches(masks2d, channels_of(masks2d, dtype, seed=1))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_intensity_matches_regionprops_3d(nuclei3d, dtype):
    masks, image = nuclei3d
    intensity = channels_of(masks, dtype, seed=2)
    intensity[..., 0] = image.astype(dtype) if dtype != np.uint8 else image >> 8
    assert_intensity_matches(masks, intensity)


@pytest.mark.parametrize(
    "dtype", [np.int8, np.int16, np.int32, np.int64, np.uint32, np.float16, np.float64, bool]
)
def test_medians_of_every_dtype_match_numpy(dtype):
    """Odd and even counts, negative values, and 64-bit values (the lexsort path)."""
    masks = np.array([[1, 1, 2, 2, 2, 0, 3], [4, 4, 4, 4, 3, 3, 3]], np.int32)
    values = np.array([[-5, 7, 3, -2, 9, 100, 0], [6, -1, -1, 8, 2, 5, -7]])
    intensity = values.astype(dtype)[..., None]
    table = measure.intensity_table(masks, intensity, ["c"])
    for row, label in enumerate(range(1, 5)):
        cell = intensity[masks == label, 0]
        assert table["Intensity_MedianIntensity_c"][row] == np.median(cell.astype(np.float64))
        assert table["Intensity_MinIntensity_c"][row] == float(cell.min())
        assert table["Intensity_MaxIntensity_c"][row] == float(cell.max())


def test_a_nan_makes_its_cell_nan_and_null_in_json(masks2d):
    intensity = channels_of(masks2d, np.float32, seed=3)
    intensity[masks2d == 1] = np.nan
    table = measure.measure_cells(masks2d) | measure.intensity_table(masks2d, intensity, CHANNELS)
    assert np.isnan(table["Intensity_MedianIntensity_gfp"][0])
    assert np.isfinite(table["Intensity_MedianIntensity_gfp"][1:]).all()
    doc = measure.metrics_document(table, channel_names=CHANNELS)
    json.dumps(doc, allow_nan=False)
    assert doc["individual_metrics"][0]["Intensity_MeanIntensity_gfp"] is None
    assert doc["summary"]["channels"]["gfp"]["mean_intensity"] is None


def test_intensity_fields_are_per_channel_in_feature_order():
    assert measure.intensity_fields(["a", "b"]) == (
        "Intensity_MeanIntensity_a",
        "Intensity_MedianIntensity_a",
        "Intensity_StdIntensity_a",
        "Intensity_MinIntensity_a",
        "Intensity_MaxIntensity_a",
        "Intensity_IntegratedIntensity_a",
        "Intensity_MeanIntensity_b",
        "Intensity_MedianIntensity_b",
        "Intensity_StdIntensity_b",
        "Intensity_MinIntensity_b",
        "Intensity_MaxIntensity_b",
        "Intensity_IntegratedIntensity_b",
    )


@pytest.mark.parametrize(
    ("shape", "names", "dtype", "message"),
    [
        ((8, 9), ["a"], np.uint8, "shape"),  # no channel axis
        ((8, 9, 2), ["a"], np.uint8, "shape"),  # more channels than names
        ((9, 8, 1), ["a"], np.uint8, "shape"),  # transposed
        ((8, 9, 2), ["a", "a"], np.uint8, "unique"),
        ((8, 9, 1), ["a"], np.complex64, "real"),
    ],
)
def test_intensity_table_rejects_what_does_not_fit(shape, names, dtype, message):
    with pytest.raises(ValueError, match=message):
        measure.intensity_table(np.ones((8, 9), np.uint16), np.zeros(shape, dtype), names)


def test_no_cells_give_empty_intensity_columns_and_a_null_summary():
    masks = np.zeros((4, 5, 6), np.uint16)
    table = measure.intensity_table(masks, np.ones((4, 5, 6, 2), np.uint16), ["a", "b"])
    assert list(table) == list(measure.intensity_fields(["a", "b"]))
    assert all(column.shape == (0,) for column in table.values())
    assert measure.intensity_summary(table, ["a"]) == {
        "a": {
            "mean_intensity": None,
            "mean_integrated_intensity": None,
            "min_intensity": None,
            "max_intensity": None,
        }
    }


def test_no_channels_give_no_columns(masks2d):
    assert measure.intensity_table(masks2d, np.zeros((*masks2d.shape, 0)), []) == {}


def test_intensity_summary_aggregates_the_cells(masks2d):
    intensity = channels_of(masks2d, np.uint16, seed=4)
    table = measure.intensity_table(masks2d, intensity, CHANNELS)
    summary = measure.intensity_summary(table, CHANNELS)
    assert list(summary) == list(CHANNELS)
    gfp = intensity[..., 1][masks2d > 0]
    assert summary["gfp"]["min_intensity"] == float(gfp.min())
    assert summary["gfp"]["max_intensity"] == float(gfp.max())
    assert summary["gfp"]["mean_intensity"] == pytest.approx(
        table["Intensity_MeanIntensity_gfp"].mean(), rel=1e-12
    )
    assert summary["gfp"]["mean_integrated_intensity"] == pytest.approx(
        gfp.astype(np.float64).sum() / table["Intensity_MeanIntensity_gfp"].size, rel=1e-12
    )


# --- physical units, 2D


def test_2d_physical_fields_match_regionprops_with_spacing(masks2d):
    plain = measure.measure_cells(masks2d)
    table = measure.measure_cells(masks2d, pixel_size_um=0.325)
    assert set(table) == set(plain) | set(measure.PHYSICAL_FIELDS)
    for name, column in plain.items():  # the voxel-unit columns are untouched
        np.testing.assert_array_equal(table[name], column, err_msg=name)
    props = regionprops(masks2d, spacing=(0.325, 0.325))
    expected = {
        "area_um2": [p.area for p in props],
        "centroid_y_um": [p.centroid[0] for p in props],
        "centroid_x_um": [p.centroid[1] for p in props],
        "major_axis_length_um": [p.axis_major_length for p in props],
        "minor_axis_length_um": [p.axis_minor_length for p in props],
        "equivalent_diameter_um": [p.equivalent_diameter_area for p in props],
    }
    for name, values in expected.items():
        np.testing.assert_allclose(table[name], values, rtol=RTOL, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(table["perimeter_um"], plain["perimeter"] * 0.325, rtol=1e-15)


def test_plain_2d_output_has_no_new_columns(masks2d):
    table = measure.measure_cells(masks2d)
    assert not any(name.endswith(("_um", "_um2", "_um3")) for name in table)
    assert "volume" not in table
    assert measure.metrics_document(table) == measure.metrics_document(
        table, channel_names=(), physical=False
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"z_step_um": 1.0}, "needs pixel_size_um"),
        ({"pixel_size_um": 0.0}, "positive"),
        ({"pixel_size_um": -1.0}, "positive"),
        ({"pixel_size_um": np.nan}, "positive"),
        ({"pixel_size_um": 1.0, "z_step_um": -2.0}, "z_step_um must be"),
    ],
)
def test_bad_pixel_sizes_are_refused(masks2d, kwargs, message):
    with pytest.raises(ValueError, match=message):
        measure.measure_cells(masks2d, **kwargs)


def test_4d_labels_are_refused():
    with pytest.raises(ValueError, match="label image"):
        measure.measure_cells(np.ones((2, 2, 2, 2), np.uint16))


# --- 3D fields


def test_3d_fields_match_regionprops(nuclei3d):
    masks, _ = nuclei3d
    table = measure.measure_cells(masks)
    props = regionprops(masks)
    assert table["cell_id"].tolist() == [p.label for p in props] == list(range(1, 52))
    expected = {
        "volume": [p.area for p in props],
        "centroid_z": [p.centroid[0] for p in props],
        "centroid_y": [p.centroid[1] for p in props],
        "centroid_x": [p.centroid[2] for p in props],
        "extent": [p.extent for p in props],
        "solidity": [p.solidity for p in props],
        "convex_volume": [p.area_convex for p in props],
        "equivalent_diameter": [p.equivalent_diameter_area for p in props],
        "major_axis_length": [p.axis_major_length for p in props],
        "minor_axis_length": [p.axis_minor_length for p in props],
    }
    for name, values in expected.items():
        np.testing.assert_allclose(table[name], values, rtol=RTOL, atol=0, err_msg=name)
    for k, axis in enumerate(("plane", "row", "col")):
        assert table[f"bbox_min_{axis}"].tolist() == [p.bbox[k] for p in props]
        assert table[f"bbox_max_{axis}"].tolist() == [p.bbox[k + 3] for p in props]


def test_3d_ids_with_gaps_keep_their_ids(nuclei3d):
    relabelled, _ = nuclei3d
    original = tifffile.imread(NUCLEI3D_MASKS)
    ours, theirs = measure.measure_cells(original), measure.measure_cells(relabelled)
    assert ours["cell_id"].tolist() == [int(v) for v in np.unique(original) if v]
    for name in measure.SHAPE_FIELDS_3D[1:]:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-12, atol=0, err_msg=name)


def test_3d_surface_area_is_the_marching_cubes_mesh_of_each_cell(nuclei3d):
    masks, _ = nuclei3d
    table = measure.measure_cells(masks, pixel_size_um=0.4, z_step_um=1.3)
    for row, label in enumerate(table["cell_id"].tolist()):
        cell = np.pad(masks == label, 1).astype(np.float32)
        verts, faces, _, _ = marching_cubes(cell, level=0.5)
        # Vertices come back float32; our area sums them in float64, as the spacing path does.
        area = mesh_surface_area(verts.astype(np.float64), faces)
        assert table["surface_area"][row] == pytest.approx(area, RTOL)
        verts, faces, _, _ = marching_cubes(cell, level=0.5, spacing=(1.3, 0.4, 0.4))
        assert table["surface_area_um2"][row] == pytest.approx(
            mesh_surface_area(verts, faces), RTOL
        )
    volume, surface = table["volume"], table["surface_area"]
    np.testing.assert_allclose(
        table["sphericity"], np.pi ** (1 / 3) * (6 * volume) ** (2 / 3) / surface, rtol=1e-12
    )
    assert (table["sphericity"] > 0.5).all()
    assert (table["sphericity"] < 1).all()


def test_anisotropic_physical_fields_match_regionprops_with_spacing(nuclei3d):
    masks, _ = nuclei3d
    spacing = (2.0, 0.5, 0.5)
    table = measure.measure_cells(masks, pixel_size_um=0.5, z_step_um=2.0)
    props = regionprops(masks, spacing=spacing)
    expected = {
        "volume_um3": [p.area for p in props],
        "centroid_z_um": [p.centroid[0] for p in props],
        "centroid_y_um": [p.centroid[1] for p in props],
        "centroid_x_um": [p.centroid[2] for p in props],
        "equivalent_diameter_um": [p.equivalent_diameter_area for p in props],
        "major_axis_length_um": [p.axis_major_length for p in props],
        "minor_axis_length_um": [p.axis_minor_length for p in props],
    }
    for name, values in expected.items():
        np.testing.assert_allclose(table[name], values, rtol=RTOL, atol=0, err_msg=name)
    # Not the voxel-unit lengths times one factor: the ratio varies with each cell's pose.
    ratio = table["major_axis_length_um"] / table["major_axis_length"]
    assert ratio.max() - ratio.min() > 0.1
    plain = measure.measure_cells(masks)
    for name, column in plain.items():
        np.testing.assert_array_equal(table[name], column, err_msg=name)


def test_isotropic_3d_physical_fields_scale_by_the_pixel_size(nuclei3d):
    masks, _ = nuclei3d
    table = measure.measure_cells(masks, pixel_size_um=0.25)
    scales = {
        "volume_um3": ("volume", 0.25**3),
        "surface_area_um2": ("surface_area", 0.25**2),
        "equivalent_diameter_um": ("equivalent_diameter", 0.25),
        "major_axis_length_um": ("major_axis_length", 0.25),
        "minor_axis_length_um": ("minor_axis_length", 0.25),
        "centroid_z_um": ("centroid_z", 0.25),
    }
    for name, (source, scale) in scales.items():
        np.testing.assert_allclose(table[name], table[source] * scale, rtol=1e-12, err_msg=name)


def convex_count_reference(cell: np.ndarray) -> int:
    """skimage's 3D convex image, brute force: the hull of every voxel's face centres (no
    first hull of the bare centres, which Qhull refuses for flat cells), every centre of
    the crop tested against every facet."""
    points = (np.argwhere(cell)[:, None, :] + DIAMOND).reshape(-1, 3)
    equations = ConvexHull(points).equations
    grid = np.argwhere(np.ones(cell.shape, bool))
    return int(np.all(grid @ equations[:, :3].T + equations[:, 3] < 1e-10, axis=1).sum())


@pytest.fixture
def awkward3d() -> np.ndarray:
    """Cells Qhull cannot take as bare voxel centres (one voxel, collinear, coplanar),
    cells at the image's faces, and a hollow one."""
    masks = np.zeros((9, 20, 24), np.uint16)
    masks[4, 2, 2] = 1  # one voxel
    masks[2, 5, 3:12] = 2  # a row
    masks[np.arange(6), np.arange(6) + 8, np.arange(6) + 4] = 3  # a diagonal line
    rr, cc = ellipse(14, 6, 4, 3, masks.shape[1:])
    masks[6, rr, cc] = 4  # a one-plane disc
    masks[0:3, 0:3, 20:24] = 5  # a box in the image's corner
    masks[3:9, 12:20, 14:22] = 6
    masks[5:7, 14:17, 16:19] = 0  # with a cavity
    for z in range(9):  # a tilted plane: coplanar, but along no axis
        masks[z, 17 - z // 2, 0:4] = 7
    return masks


def test_degenerate_3d_cells_measure_without_warnings(awkward3d):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = measure.measure_cells(awkward3d, pixel_size_um=0.3, z_step_um=1.0)
    assert table["cell_id"].tolist() == list(range(1, 8))
    for row, label in enumerate(range(1, 8)):
        crop = awkward3d == label
        box = tuple(slice(a.min(), a.max() + 1) for a in np.nonzero(crop))
        assert table["convex_volume"][row] == convex_count_reference(crop[box]), label
    assert (table["solidity"] <= 1).all()
    assert (table["solidity"] > 0).all()
    assert table["solidity"][[0, 1, 4]].tolist() == [1.0, 1.0, 1.0]
    assert (table["surface_area"] > 0).all()
    assert np.isfinite(table["sphericity"]).all()
    assert table["minor_axis_length"][1] == 0  # the row
    assert table["major_axis_length"][1] > 0
    doc = measure.metrics_document(table, physical=True)
    json.dumps(doc, allow_nan=False)
    json.dumps(measure.shape_analysis_document(table), allow_nan=False)


def test_3d_fields_of_awkward_cells_match_regionprops_where_it_can(awkward3d):
    """regionprops' solidity fails on flat cells; the other fields hold for all."""
    table = measure.measure_cells(awkward3d)
    props = regionprops(awkward3d)
    for name, attribute in (
        ("volume", "area"),
        ("extent", "extent"),
        ("equivalent_diameter", "equivalent_diameter_area"),
        ("major_axis_length", "axis_major_length"),
    ):
        values = [getattr(p, attribute) for p in props]
        np.testing.assert_allclose(table[name], values, rtol=RTOL, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(table["solidity"][[4, 5]], [props[4].solidity, props[5].solidity])


def test_a_digital_ball_measures_as_a_ball():
    zz, yy, xx = np.mgrid[-12:13, -12:13, -12:13]
    masks = (zz**2 + yy**2 + xx**2 <= 10**2).astype(np.uint8)
    table = measure.measure_cells(masks)
    assert table["major_axis_length"][0] == pytest.approx(20, rel=0.01)
    assert table["minor_axis_length"][0] == pytest.approx(table["major_axis_length"][0])
    assert 0.88 < table["sphericity"][0] < 0.95  # marching cubes over a binary mask: facets
    assert table["equivalent_diameter"][0] == pytest.approx(20, rel=0.01)


# --- documents


def test_2d_document_with_physical_and_intensity_fields(masks2d):
    intensity = channels_of(masks2d, np.uint8, seed=6)
    plain = measure.measure_cells(masks2d)
    table = measure.measure_cells(masks2d, pixel_size_um=0.5)
    table |= measure.intensity_table(masks2d, intensity, CHANNELS)
    doc = measure.metrics_document(table, channel_names=CHANNELS, physical=True)
    plain_doc = measure.metrics_document(plain)
    assert list(doc["summary"]) == [
        *plain_doc["summary"],
        "average_area_um2",
        "min_area_um2",
        "max_area_um2",
        "average_equivalent_diameter_um",
        "channels",
    ]
    assert {k: doc["summary"][k] for k in plain_doc["summary"]} == plain_doc["summary"]
    assert doc["summary"]["average_area_um2"] == pytest.approx(
        plain_doc["summary"]["average_area"] * 0.25
    )
    assert list(doc["summary"]["channels"]) == list(CHANNELS)
    fields = [*measure.INDIVIDUAL_FIELDS, *measure.PHYSICAL_FIELDS]
    fields += measure.intensity_fields(CHANNELS)
    for ours, seed in zip(doc["individual_metrics"], plain_doc["individual_metrics"], strict=True):
        assert list(ours) == fields
        assert {k: ours[k] for k in seed} == seed
        extra = [ours[name] for name in fields[len(seed) :]]
        assert all(type(value) is float for value in extra)
    json.dumps(doc, allow_nan=False)
    assert measure.shape_analysis_document(table) == measure.shape_analysis_document(plain)


def test_3d_documents(nuclei3d):
    masks, image = nuclei3d
    table = measure.measure_cells(masks, pixel_size_um=0.5, z_step_um=2.0)
    table |= measure.intensity_table(masks, image[..., None], ["dapi"])
    assert measure.is_3d(table)
    plain = measure.metrics_document(table)
    assert list(plain["summary"]) == [
        "total_cells",
        "average_volume",
        "min_volume",
        "max_volume",
        "average_surface_area",
        "average_sphericity",
    ]
    assert plain["summary"]["total_cells"] == 51
    assert plain["summary"]["max_volume"] == max(r["volume"] for r in plain["individual_metrics"])
    assert list(plain["individual_metrics"][0]) == list(measure.INDIVIDUAL_FIELDS_3D)
    row = plain["individual_metrics"][0]
    assert all(type(row[name]) is int for name in row if name.startswith(("bbox", "cell_id")))
    assert type(row["volume"]) is float
    full = measure.metrics_document(table, channel_names=["dapi"], physical=True)
    assert list(full["summary"]) == [
        *plain["summary"],
        "average_volume_um3",
        "min_volume_um3",
        "max_volume_um3",
        "average_surface_area_um2",
        "average_equivalent_diameter_um",
        "channels",
    ]
    assert list(full["individual_metrics"][0]) == [
        *measure.INDIVIDUAL_FIELDS_3D,
        *measure.PHYSICAL_FIELDS_3D,
        *measure.intensity_fields(["dapi"]),
    ]
    json.dumps(full, allow_nan=False)
    shape = measure.shape_analysis_document(table)["shape_analysis"]
    assert list(shape[0]) == list(measure.SHAPE_FIELDS_3D)


def test_empty_3d_masks_give_an_empty_document():
    table = measure.measure_cells(np.zeros((3, 8, 8), np.uint16), pixel_size_um=1.0)
    assert measure.is_3d(table)
    assert set(measure.SHAPE_FIELDS_3D + measure.PHYSICAL_FIELDS_3D) <= set(table)
    doc = measure.metrics_document(table, physical=True)
    assert doc["individual_metrics"] == []
    assert doc["summary"]["total_cells"] == 0
    assert all(value is None for key, value in doc["summary"].items() if key != "total_cells")
    assert measure.shape_analysis_document(table) == {"shape_analysis": []}


def test_plane_bounds_are_integer_fields():
    assert {"bbox_min_plane", "bbox_max_plane"} <= measure.INTEGER_FIELDS
    integer_3d = {name for name in measure.INDIVIDUAL_FIELDS_3D if name.startswith("bbox")}
    assert integer_3d <= measure.INTEGER_FIELDS
