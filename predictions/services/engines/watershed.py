"""Classical CPU nucleus segmentation: threshold, distance transform, seeded watershed.

Needs no model weights and no torch, so it works offline and on any worker. Steps:

1. Reduce the image to one float channel in which objects are bright (``to_intensity``): colour
   images use the channel that separates into two classes best, and the polarity is chosen by
   which side of the threshold the background (histogram mode) falls, so H&E brightfield (dark
   nuclei on a light slide) and fluorescence (bright on dark) both work.
2. Smooth at a scale tied to the object diameter, threshold with Otsu, fill holes.
3. Seeds are the h-maxima of the smoothed distance transform of the foreground; a seeded
   watershed of the inverted distance splits touching objects.

Output ``flows`` follow Cellpose's layout, float32 (3, H, W):

- ``flows[0]``, ``flows[1]``: Y and X components of the unit gradient of each cell's own
  (smoothed) distance transform, pointing towards the cell's centre; zero on background.
- ``flows[2]``: a foreground logit, ``(smoothed intensity - threshold) / spread`` where the
  spread is a quarter of the gap between the two Otsu class means, so the threshold is 0 and the
  class means sit near +-2.

``params.cellprob_threshold`` is applied to that logit (0 = the Otsu threshold; higher keeps less
foreground). ``params.flow_threshold`` has no counterpart here and is ignored.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu
from skimage.morphology import h_maxima
from skimage.segmentation import find_boundaries, watershed

from predictions.services.engines import Segmentation, SegmentationParams

# Objects and seeds are sized from the diameter; these fractions are of the diameter in pixels.
SMOOTH_SIGMA_FRACTION = 0.04
SEED_H_FRACTION = 0.0
DIST_SMOOTH_FRACTION = 0.06
# Below this many pixels a diameter estimate is noise; fall back to a typical nucleus size.
DEFAULT_DIAMETER = 30.0
MIN_DIAMETER = 4.0
# Components thinner than this fraction of the typical (area-weighted) radius are specks.
SPECK_RADIUS_FRACTION = 0.25
# Robust normalisation ignores this percentage at each end, so hot pixels don't set the scale.
CLIP_PERCENT = 0.1
# Channels differing by less than this (of the full range) are treated as grey.
GREY_TOLERANCE = 0.02


class WatershedEngine:
    name = "watershed"

    def segment(self, image: np.ndarray, params: SegmentationParams) -> Segmentation:
        intensity = to_intensity(image)
        height, width = intensity.shape
        if intensity.max() <= intensity.min():
            return _empty(height, width)
        diameter = params.diameter or estimate_diameter(intensity)
        diameter = max(float(diameter), MIN_DIAMETER)
        smoothed = ndi.gaussian_filter(intensity, _sigma(diameter, SMOOTH_SIGMA_FRACTION))
        logit = foreground_logit(smoothed)
        foreground = ndi.binary_fill_holes(logit > params.cellprob_threshold)
        labels = split_touching(foreground, smoothed, diameter)
        labels = drop_small(labels, params.min_size)
        flows = np.concatenate([centre_flows(labels, diameter), logit[None]]).astype(np.float32)
        return Segmentation(masks=labels, flows=flows)


def create_engine() -> WatershedEngine:
    return WatershedEngine()


def to_intensity(image: np.ndarray) -> np.ndarray:
    """One float32 channel scaled to [0, 1] in which objects are brighter than background."""
    data = np.asarray(image)
    if data.ndim == 3 and data.shape[-1] in (3, 4):
        data = data[..., :3]
    elif data.ndim == 3 and 1 in (data.shape[0], data.shape[-1]):
        data = data.reshape(data.shape[:2] if data.shape[-1] == 1 else data.shape[1:])
    if data.ndim not in (2, 3):
        raise ValueError(f"expected a 2D or (H, W, 3) image, got shape {data.shape}")
    data = np.nan_to_num(data.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if data.ndim == 3:
        data = _best_channel(np.stack([_normalise(data[..., c]) for c in range(3)]))
    gray = _normalise(data)
    return (1.0 - gray if objects_are_dark(gray) else gray).astype(np.float32)


def _normalise(channel: np.ndarray) -> np.ndarray:
    low, high = np.percentile(channel, [CLIP_PERCENT, 100 - CLIP_PERCENT])
    if high <= low:
        low, high = channel.min(), channel.max()
    if high <= low:
        return np.zeros_like(channel)
    return np.clip((channel - low) / (high - low), 0.0, 1.0)


def _best_channel(channels: np.ndarray) -> np.ndarray:
    """The grey mean for grey-looking images, else the most bimodal channel (H&E: red/green)."""
    if np.abs(channels - channels.mean(axis=0)).max() < GREY_TOLERANCE:
        return channels.mean(axis=0)
    scores = [_separability(c) for c in channels]
    return channels[int(np.argmax(scores))]


def _separability(values: np.ndarray) -> float:
    """Otsu's between-class variance over total variance (1 = two perfect spikes)."""
    flat = values.ravel()
    total = flat.var()
    if total <= 0:
        return 0.0
    threshold = threshold_otsu(flat)
    above = flat > threshold
    weight = above.mean()
    if weight in (0.0, 1.0):
        return 0.0
    gap = flat[above].mean() - flat[~above].mean()
    return float(weight * (1 - weight) * gap**2 / total)


def objects_are_dark(gray: np.ndarray) -> bool:
    """True when the background (histogram mode) lies above the Otsu threshold."""
    if gray.max() <= gray.min():
        return False
    counts, edges = np.histogram(gray, bins=64, range=(0.0, 1.0))
    counts = ndi.gaussian_filter1d(counts.astype(float), 1.0)
    mode = 0.5 * (edges[counts.argmax()] + edges[counts.argmax() + 1])
    return bool(mode > threshold_otsu(gray))


def foreground_logit(smoothed: np.ndarray) -> np.ndarray:
    """(intensity - Otsu threshold) / spread; see the module docstring."""
    # Square root stabilises shot noise, so bright nuclei don't pull Otsu above the dim ones.
    smoothed = np.sqrt(smoothed)
    threshold = threshold_otsu(smoothed)
    above = smoothed > threshold
    if above.all() or not above.any():
        return np.full(smoothed.shape, -10.0, np.float32)
    spread = max((smoothed[above].mean() - smoothed[~above].mean()) / 4.0, 1e-6)
    return np.clip((smoothed - threshold) / spread, -10.0, 10.0).astype(np.float32)


def estimate_diameter(intensity: np.ndarray) -> float:
    """Twice the median inscribed radius of the foreground's components.

    The inscribed radius (max of the distance transform) of a clump of touching nuclei is still
    about one nucleus radius, so clumps don't inflate the estimate the way areas would. Specks
    of textured background would drag a plain median down, so components much thinner than the
    area-weighted median are left out first.
    """
    logit = foreground_logit(ndi.gaussian_filter(intensity, 1.0))
    foreground = ndi.binary_opening(ndi.binary_fill_holes(logit > 0))
    components, count = ndi.label(foreground)
    if count == 0:
        return DEFAULT_DIAMETER
    distance = ndi.distance_transform_edt(foreground)
    radii = np.asarray(ndi.maximum(distance, components, np.arange(1, count + 1)))
    areas = np.bincount(components.ravel())[1:]
    usable = radii >= MIN_DIAMETER / 2
    if not usable.any():
        return DEFAULT_DIAMETER
    reference = _weighted_median(radii[usable], areas[usable])
    return float(2 * np.median(radii[radii >= SPECK_RADIUS_FRACTION * reference]))


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2)])


def split_touching(foreground: np.ndarray, smoothed: np.ndarray, diameter: float) -> np.ndarray:
    """Seeded watershed of the distance transform; every component gets at least one seed."""
    components, count = ndi.label(foreground)
    if count == 0:
        return components.astype(np.int32)
    distance = ndi.distance_transform_edt(foreground)
    distance = ndi.gaussian_filter(distance, _sigma(diameter, DIST_SMOOTH_FRACTION))
    seeds, _ = ndi.label(h_maxima(distance, max(SEED_H_FRACTION * diameter, 0.5)))
    labels = watershed(-distance, seeds, mask=foreground)
    # Components too shallow for an h-maximum keep their connected-component label.
    unseeded = foreground & (labels == 0)
    labels[unseeded] = components[unseeded] + labels.max()
    return labels


def drop_small(labels: np.ndarray, min_size: int) -> np.ndarray:
    """Remove objects under ``min_size`` pixels and relabel 1..N in a compact dtype."""
    areas = np.bincount(labels.ravel())
    keep = areas >= max(min_size, 1)
    keep[0] = False
    new_ids = np.zeros(areas.size, np.int64)
    new_ids[keep] = np.arange(1, keep.sum() + 1)
    count = int(keep.sum())
    dtype = np.uint16 if count < 2**16 else np.uint32
    return new_ids[labels].astype(dtype)


def centre_flows(labels: np.ndarray, diameter: float) -> np.ndarray:
    """Unit gradient of each cell's own distance transform, shape (2, H, W)."""
    inside = (labels > 0) & ~find_boundaries(labels, mode="inner")
    distance = ndi.distance_transform_edt(inside) + (labels > 0)
    distance = ndi.gaussian_filter(distance, _sigma(diameter, DIST_SMOOTH_FRACTION))
    dy, dx = np.gradient(distance)
    norm = np.hypot(dy, dx)
    cells = labels > 0
    scale = np.where(cells & (norm > 1e-6), 1.0 / np.maximum(norm, 1e-6), 0.0)
    return np.stack([dy * scale, dx * scale]).astype(np.float32)


def _sigma(diameter: float, fraction: float) -> float:
    return max(fraction * diameter, 0.5)


def _empty(height: int, width: int) -> Segmentation:
    flows = np.zeros((3, height, width), np.float32)
    flows[2] = -10.0
    return Segmentation(masks=np.zeros((height, width), np.uint16), flows=flows)
