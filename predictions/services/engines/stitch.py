"""Joining per-plane 2D label images into 3D objects by IoU, as Cellpose's ``stitch3D``.

Planes are taken in order. Each cell of plane z + 1 is compared with the (already stitched)
cells of plane z. A pair counts only if its IoU is at least the threshold and the new cell is
the one (or one of those tied) overlapping that previous cell best; each new cell then takes
the label of its best counting pair (ties: the lowest label), and cells with none get new
labels. So a previous label passes to at most its best-overlapping new cell, barring exact ties.

The result equals Cellpose's up to the labels' numbering, with one difference: Cellpose
restarts its label counter when the stack begins with cells, then an empty plane, so a later
cell can reuse an earlier cell's label; here every new label is new. Labels come out 1..N
in order of first appearance. Overlaps of a pair of planes are counted with one ``np.unique``
over the pixels, so the cost does not grow with the product of the two cell counts.
No torch: the cpsam engine and the watershed engine share it.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import numpy.typing as npt

from predictions.services.labels import label_dtype


def stitch_planes(planes: np.ndarray, threshold: float) -> np.ndarray:
    """(Z, Y, X) labels, each plane numbered on its own, as one 3D label image 1..N."""
    planes = np.asarray(planes)
    if planes.ndim != 3:
        raise ValueError(f"expected (Z, Y, X) labels, got shape {planes.shape}")
    stitched = np.zeros(planes.shape, np.int64)
    count = 0  # the highest label handed out so far
    for z in range(planes.shape[0]):
        cells, n = _compact(planes[z])
        new_ids = np.zeros(n + 1, np.int64)
        if z > 0 and n > 0:
            new_ids = _match(cells, n, stitched[z - 1], count, threshold)
        fresh = np.flatnonzero(new_ids[1:] == 0) + 1
        new_ids[fresh] = np.arange(count + 1, count + 1 + fresh.size)
        count += fresh.size
        stitched[z] = new_ids[cells]
    return stitched.astype(label_dtype(count))


def _compact(plane: np.ndarray) -> tuple[npt.NDArray[np.intp], int]:
    """The plane's cells renumbered 1..n in ascending label order (0 stays background)."""
    ids, inverse = np.unique(plane, return_inverse=True)
    inverse = inverse.reshape(plane.shape)
    if ids.size and ids[0] == 0:
        return cast(npt.NDArray[np.intp], inverse), ids.size - 1
    return cast(npt.NDArray[np.intp], inverse + 1), ids.size


def _match(
    cells: np.ndarray, n: int, previous: np.ndarray, count: int, threshold: float
) -> npt.NDArray[np.int64]:
    """For cells 1..n, the previous plane's label each continues, or 0 for a new one."""
    new_ids = np.zeros(n + 1, np.int64)
    both = (cells > 0) & (previous > 0)
    if not both.any():
        return new_ids
    keys, intersection = np.unique(
        cells[both].astype(np.int64) * (count + 1) + previous[both], return_counts=True
    )
    new, old = np.divmod(keys, count + 1)
    new_areas = np.bincount(cells.ravel(), minlength=n + 1)
    old_areas = np.bincount(previous.ravel(), minlength=count + 1)
    iou: npt.NDArray[Any] = intersection / (new_areas[new] + old_areas[old] - intersection)
    keep = iou >= threshold
    new, old, iou = new[keep], old[keep], iou[keep]
    best_for_old = np.zeros(count + 1)
    np.maximum.at(best_for_old, old, iou)
    keep = iou >= best_for_old[old]  # only the new cell(s) overlapping that label best
    new, old, iou = new[keep], old[keep], iou[keep]
    order = np.lexsort((old, -iou, new))  # per new cell: highest IoU, then the lowest label
    new, old = new[order], old[order]
    first = np.ones(new.size, bool)
    first[1:] = new[1:] != new[:-1]
    new_ids[new[first]] = old[first]
    return new_ids
