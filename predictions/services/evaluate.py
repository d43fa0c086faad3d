"""Scoring a segmentation against ground-truth labels.

Overlaps come from one pass over the pixels (pairs of labels counted with ``np.unique``),
so the cost does not grow with the product of the two cell counts. Nothing depends on the
number of axes: (Z, Y, X) labels are scored the same way, by IoU over voxels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

DEFAULT_THRESHOLDS = (0.5, 0.75, 0.9)


@dataclass(frozen=True)
class Overlaps:
    """IoU of every overlapping (true, predicted) pair, labels renumbered from 0."""

    true_index: np.ndarray
    pred_index: np.ndarray
    intersection: npt.NDArray[np.intp]
    union: npt.NDArray[np.intp]
    true_areas: np.ndarray
    pred_areas: np.ndarray

    @property
    def iou(self) -> npt.NDArray[np.float64]:
        return self.intersection / self.union


def _areas(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ids, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    foreground = ids > 0
    # -1 marks background; objects are numbered 0..n-1 in ascending id order.
    index = np.cumsum(foreground) - 1
    index[~foreground] = -1
    return index[inverse.reshape(labels.shape)], counts[foreground]


def overlaps(true: np.ndarray, pred: np.ndarray) -> Overlaps:
    if true.shape != pred.shape:
        raise ValueError(f"ground truth is {true.shape} but the prediction is {pred.shape}")
    t_index, t_areas = _areas(true)
    p_index, p_areas = _areas(pred)
    both = (t_index >= 0) & (p_index >= 0)
    pairs = t_index[both].astype(np.int64) * max(len(p_areas), 1) + p_index[both]
    keys, intersection = np.unique(pairs, return_counts=True)
    t_pair, p_pair = np.divmod(keys, max(len(p_areas), 1))
    union = t_areas[t_pair] + p_areas[p_pair] - intersection
    return Overlaps(t_pair, p_pair, intersection, union, t_areas, p_areas)


def matched_count(ov: Overlaps, threshold: float) -> int:
    """True positives at an IoU threshold under one-to-one matching (maximum matching)."""
    keep = ov.iou >= threshold
    if not keep.any():
        return 0
    graph = csr_matrix(
        (np.ones(keep.sum()), (ov.true_index[keep], ov.pred_index[keep])),
        shape=(len(ov.true_areas), len(ov.pred_areas)),
    )
    return int((maximum_bipartite_matching(graph, perm_type="column") >= 0).sum())


def average_precision(ov: Overlaps, threshold: float) -> float:
    """TP / (TP + FP + FN), the DSB2018 / Cellpose definition."""
    tp = matched_count(ov, threshold)
    n_true, n_pred = len(ov.true_areas), len(ov.pred_areas)
    denominator = n_true + n_pred - tp
    return 1.0 if denominator == 0 else tp / denominator


def aggregated_jaccard(ov: Overlaps) -> float:
    """Aggregated Jaccard Index (Kumar et al. 2017).

    Each true object is paired with the prediction of highest IoU; the sums of their
    intersections over their unions, plus every unpaired object's area in the union.
    """
    n_true = len(ov.true_areas)
    order = np.lexsort((-ov.iou, ov.true_index))
    first = np.ones(order.size, bool)
    first[1:] = ov.true_index[order][1:] != ov.true_index[order][:-1]
    best = order[first]
    intersection = ov.intersection[best].sum()
    union = ov.union[best].sum()
    unmatched_true = np.setdiff1d(np.arange(n_true), ov.true_index[best])
    used_pred = np.unique(ov.pred_index[best])
    unused_pred = np.setdiff1d(np.arange(len(ov.pred_areas)), used_pred)
    union += ov.true_areas[unmatched_true].sum() + ov.pred_areas[unused_pred].sum()
    return 1.0 if union == 0 else float(intersection / union)


def evaluate(
    true: np.ndarray, pred: np.ndarray, thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS
) -> dict[str, Any]:
    ov = overlaps(true, pred)
    tp = {t: matched_count(ov, t) for t in thresholds}
    return {
        "average_precision": {f"{t:g}": average_precision(ov, t) for t in thresholds},
        "true_positives": {f"{t:g}": tp[t] for t in thresholds},
        "aggregated_jaccard_index": aggregated_jaccard(ov),
        "num_true": len(ov.true_areas),
        "num_predicted": len(ov.pred_areas),
    }
