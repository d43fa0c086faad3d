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
