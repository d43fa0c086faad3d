import numpy as np
import pytest

from predictions.services.evaluate import evaluate


def squares(offset=0, count=4):
    labels = np.zeros((40, 40), np.uint16)
    for i in range(count):
        labels[2 + i * 9 : 9 + i * 9, 5 + offset : 12 + offset] = i + 1
    return labels


def test_identical_masks_score_one():
    truth = squares()
    result = evaluate(truth, truth.copy())
    assert result["average_precision"] == {"0.5": 1.0, "0.75": 1.0, "0.9": 1.0}
    assert result["aggregated_jaccard_index"] == 1.0


def test_shifted_masks_score_by_iou():
    # A 7-wide square shifted by 1 column: IoU = 42 / 56 = 0.75.
    result = evaluate(squares(), squares(offset=1))
    assert result["average_precision"]["0.5"] == 1.0
    assert result["average_precision"]["0.75"] == 1.0
    assert result["average_precision"]["0.9"] == 0.0
    assert result["aggregated_jaccard_index"] == pytest.approx(0.75)


def test_missed_and_extra_cells_count_as_errors():
    truth = squares(count=4)
    pred = squares(count=2)
    pred[30:35, 30:35] = 9  # a false positive
    result = evaluate(truth, pred)
    # 2 TP, 1 FP, 2 FN
    assert result["average_precision"]["0.5"] == pytest.approx(2 / 5)
    assert result["num_true"] == 4
    assert result["num_predicted"] == 3


@pytest.mark.slow  # imports cellpose, and with it torch
def test_matches_cellpose_metrics_on_real_labels(nuclei_dir):
    import tifffile
    from cellpose.metrics import average_precision
    from scipy import ndimage

    truth = tifffile.imread(nuclei_dir / "stardist_mask2d.tif")
    pred, _ = ndimage.label(ndimage.binary_erosion(truth > 0, iterations=2))
    ours = evaluate(truth, pred)
    theirs = average_precision([truth], [pred], threshold=[0.5, 0.75, 0.9])[0][0]
    assert [ours["average_precision"][k] for k in ("0.5", "0.75", "0.9")] == pytest.approx(
        theirs.tolist()
    )


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="ground truth"):
        evaluate(np.zeros((4, 4), int), np.zeros((5, 4), int))


def cubes(offset=0, count=3):
    """(Z, Y, X) labels: ``count`` 6x6x6 cubes side by side, shifted by ``offset`` along X."""
    labels = np.zeros((10, 12, 40), np.uint16)
    for i in range(count):
        labels[2:8, 3:9, 2 + i * 10 + offset : 8 + i * 10 + offset] = i + 1
    return labels


def test_3d_labels_score_by_voxel_iou():
    truth = cubes()
    perfect = evaluate(truth, truth.copy())
    assert perfect["average_precision"] == {"0.5": 1.0, "0.75": 1.0, "0.9": 1.0}
    # A 6-voxel-wide cube shifted by 1 along X: IoU = 180 / 252 = 5 / 7 over voxels.
    result = evaluate(truth, cubes(offset=1))
    assert result["average_precision"] == {"0.5": 1.0, "0.75": 0.0, "0.9": 0.0}
    assert result["aggregated_jaccard_index"] == pytest.approx(5 / 7)
    # Shifted along Z instead, by 2 of its 6 planes: IoU = 4 / 8.
    shifted = np.roll(truth, 2, axis=0)
    assert evaluate(truth, shifted)["aggregated_jaccard_index"] == pytest.approx(0.5)
    missed = cubes(count=2)
    missed[0, 0, 0] = 7  # a one-voxel false positive
    result = evaluate(truth, missed)
    assert result["average_precision"]["0.5"] == pytest.approx(2 / 4)
    assert (result["num_true"], result["num_predicted"]) == (3, 3)


def test_3d_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="ground truth"):
        evaluate(np.zeros((3, 4, 4), int), np.zeros((4, 4, 4), int))
    with pytest.raises(ValueError, match="ground truth"):
        evaluate(np.zeros((1, 4, 4), int), np.zeros((4, 4), int))


def random_volume(rng: np.random.Generator, shape=(12, 24, 24)) -> np.ndarray:
    from scipy import ndimage

    field = ndimage.gaussian_filter(rng.random(shape), 2.0)
    return ndimage.label(field > np.quantile(field, 0.55))[0]


@pytest.mark.slow  # imports cellpose, and with it torch
def test_matches_cellpose_metrics_on_3d_labels():
    import tifffile
    from cellpose.metrics import average_precision as cellpose_ap
    from scipy import ndimage

    from tests.helpers.data import SHARED_DATA, require

    truth = tifffile.imread(require(SHARED_DATA / "nuclei3d" / "stardist_mask3d.tif"))
    _, truth = np.unique(truth, return_inverse=True)  # cellpose wants ids 1..N
    truth = truth.reshape(-1, 61, 57)
    rng = np.random.default_rng(0)
    eroded, _ = ndimage.label(ndimage.binary_erosion(truth > 0, iterations=1))
    pairs = [(truth, eroded), (truth, np.roll(truth, 2, axis=0))]
    pairs += [(random_volume(rng), random_volume(rng)) for _ in range(3)]
    for true, pred in pairs:
        ours = evaluate(true, pred)
        theirs = cellpose_ap([true], [pred], threshold=[0.5, 0.75, 0.9])[0][0]
        assert [ours["average_precision"][k] for k in ("0.5", "0.75", "0.9")] == pytest.approx(
            theirs.tolist()
        )
