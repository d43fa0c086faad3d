"""Classical CPU nucleus segmentation: threshold, valley-aware distance transform, watershed.

Needs no model weights and no torch, so it runs offline on any worker in well under a second
for a 512x512 image. Images are channel-last: (Y, X) or (Y, X, C), and for a stack (``do_3D``
or ``stitch_threshold > 0``) (Z, Y, X) or (Z, Y, X, C). Steps:

1. ``to_intensity``: one float channel in [0, 1] in which objects are bright: channel
   ``params.nuclear_channel`` when given, else, of C channels, their mean when they look grey
   (differ little) and otherwise the channel that splits most cleanly into two classes (a
   constant fourth channel is an opaque alpha and is left out). Polarity comes from which side
   of the Otsu threshold the background (the histogram mode) lies on, so H&E brightfield (dark
   nuclei on a light slide) and fluorescence (bright on dark) both work without settings.
2. ``estimate_diameter`` (when ``params.diameter`` is not given): twice the median inscribed
   radius of the foreground's components. Every other scale is a fraction of the diameter.
3. ``foreground_logit``: light Gaussian smoothing, then Otsu on the square root of the intensity
   (which stabilises shot noise, so a few bright nuclei don't lift the threshold above the dim
   ones); holes are filled.
4. ``split_touching``: seeds are the maxima of the distance transform of the foreground with its
   intensity valleys cut out (positive Laplacian of Gaussian), and a seeded watershed of that
   distance fills the foreground. Objects far smaller than a nucleus are dropped as specks, then
   objects under ``params.min_size`` pixels, and labels are renumbered 1..N.

A 2D image of at least ``local.MIN_CELLS * local.CELL`` (1024) pixels a side, such as a slide or a
block of one, is estimated locally (``segment_local``): the Otsu threshold and class spread of
step 3 come from windows of 256 px, interpolated between them, and the diameter of step 2 from
the components in each window; regions of one diameter are segmented on their own crops. One
estimate for a whole slide fails where its regions differ (AP@0.5 0.004 on a mosaic of the DSB
fluorescence images; see ``local``).

``do_3D`` runs the same steps on the volume, with ``params.anisotropy`` (Z step over pixel size,
1.0 when None) as the Z spacing: Gaussians and the Laplacian of Gaussian have the same physical
width along every axis (the Z sigma divided by the anisotropy), the distance transforms measure
in (Y, X) pixels (``sampling=(anisotropy, 1, 1)``), one Otsu threshold holds for the stack, holes
are cavities enclosed in 3D, and connectivity is by faces. The diameter estimate is twice the
median inscribed-sphere radius. Size limits that are areas in 2D become the volume (in voxels)
of the ball whose diameter is that of the disc of that area: a 3D speck is under
``0.2 ** 1.5`` of the ball of the diameter, as a 2D one is under ``0.2`` of its disc.
``params.min_size`` counts voxels.

``stitch_threshold > 0`` (without ``do_3D``) segments each plane in 2D and joins the planes by
IoU (``stitch.stitch_planes``, Cellpose's ``stitch3D``). Normalisation, polarity and the Otsu
threshold come from the whole stack (as Cellpose's ``norm3D``), so planes above and below the
nuclei, which hold only background, stay empty instead of having their noise thresholded; the
diameter estimate pools the 2D components of every plane (``anisotropy`` plays no part). As in
Cellpose, ``min_size`` applies to the stitched objects' voxels, not to each plane.

``flows`` follow Cellpose's layout, float32: (3, Y, X) in 2D, (4, Z, Y, X) for ``do_3D`` (dz
first) and (3, Z, Y, X) stitched (each plane's 2D flows):

- the flow components: the unit gradient (in physical units) of each cell's own (smoothed)
  distance transform, pointing towards the cell's centre; zero on background.
- the last: a foreground logit, ``(sqrt(smoothed) - threshold) / spread`` with the spread a
  quarter of the gap between the two Otsu class means: 0 at the threshold, about +-2 at the
  class means, clipped to +-10.

``params.cellprob_threshold`` is applied to that logit, as Cellpose applies it to its own (0 = the
Otsu threshold; positive keeps less foreground, negative more). ``params.flow_threshold`` has no
counterpart in a watershed and is ignored.
"""

from __future__ import annotations

from functools import reduce
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu
from skimage.morphology import h_maxima
from skimage.segmentation import find_boundaries, watershed

from predictions.services.engines import Segmentation, SegmentationParams, local
from predictions.services.engines.stitch import stitch_planes
from predictions.services.labels import label_dtype

# Spacing of a volume's axes in (Y, X) pixels, (anisotropy, 1, 1); None for a 2D image.
Spacing = tuple[float, ...] | None

# Scales as fractions of the object diameter in pixels. Smoothing stays light because blurring
# moves the threshold contour outwards and merges neighbours.
SMOOTH_SIGMA_FRACTION = 0.04
DIST_SMOOTH_FRACTION = 0.06
# Valleys between touching nuclei are found at about half a radius: finer scales respond to
# chromatin texture, coarser ones miss the seam.
VALLEY_SIGMA_FRACTION = 0.25
# Core fragments smaller than this * diameter**2 are texture, too small to seed a nucleus.
CORE_MIN_FRACTION = 0.05
# Objects under this fraction of a disc of the diameter's area are specks, not nuclei.
SPECK_AREA_FRACTION = 0.2
# Seeds are regional maxima of the distance at least this deep, which only drops
# discretisation ripples; the valley cut, not this depth, decides where nuclei split.
SEED_H_PIXELS = 0.5
# Diameter estimation: components thinner than this fraction of the area-weighted median
# radius are background texture; with no usable components fall back to a typical size.
SPECK_RADIUS_FRACTION = 0.25
DEFAULT_DIAMETER = 30.0
MIN_DIAMETER = 4.0
# Percentiles clipped at each end when normalising, so hot pixels don't set the scale.
CLIP_PERCENT = 0.1
# Colour images whose channels differ on average by less than this are treated as grey.
GREY_TOLERANCE = 0.02
MODE_BINS = 64  # histogram bins in which the background's mode is found
LOGIT_LIMIT = 10.0


class WatershedEngine:
    name = "watershed"

    def segment(self, image: np.ndarray, params: SegmentationParams) -> Segmentation:
        stack = params.do_3D or params.stitch_threshold > 0
        intensity = to_intensity(image, stack=stack, channel=params.nuclear_channel)
        if params.do_3D:
            return segment_volume(intensity, params, spacing(params.anisotropy))
        if stack:
            return segment_stitched(intensity, params)
        if local.wanted(intensity.shape):
            return segment_local(intensity, params)
        return segment_volume(intensity, params, None)


def create_engine() -> WatershedEngine:
    return WatershedEngine()


def spacing(anisotropy: float | None) -> tuple[float, float, float]:
    """(Z, Y, X) spacing in pixels: the anisotropy, 1.0 when None, then 1, 1."""
    step = 1.0 if anisotropy is None else float(anisotropy)
    if not np.isfinite(step) or step <= 0:
        raise ValueError(f"anisotropy must be a positive number, got {anisotropy!r}")
    return (step, 1.0, 1.0)


def segment_volume(
    intensity: np.ndarray, params: SegmentationParams, axes: Spacing
) -> Segmentation:
    """The whole pipeline on a 2D image (``axes`` None) or on a volume with that spacing."""
    if intensity.max() <= intensity.min():
        return _empty(intensity.shape, intensity.ndim + 1)
    given = params.diameter
    diameter = given if given and given > 0 else estimate_diameter(intensity, axes)
    diameter = max(float(diameter), MIN_DIAMETER)
    smoothed = ndi.gaussian_filter(intensity, _sigma(diameter, SMOOTH_SIGMA_FRACTION, axes))
    logit = foreground_logit(smoothed)
    foreground = ndi.binary_fill_holes(logit > params.cellprob_threshold)
    labels = drop_small(split_touching(foreground, smoothed, diameter, axes), params.min_size)
    flows = np.concatenate([centre_flows(labels, diameter, axes), logit[None]])
    return Segmentation(masks=labels, flows=flows.astype(np.float32))


def segment_local(intensity: np.ndarray, params: SegmentationParams) -> Segmentation:
    """A large 2D image with a threshold and a diameter per region (``local``).

    Each region of one diameter is segmented on its bounding box grown by two diameters (so its
    cells and their context are whole) and keeps the cells whose centroid lies in it; where a
    kept cell overlaps one kept before, the earlier one keeps the pixels.
    """
    stabilised = np.sqrt(np.clip(ndi.gaussian_filter(intensity, 1.0), 0.0, None))
    thresholds = local.window_thresholds(stabilised)
    if not thresholds.any_objects:
        return segment_volume(intensity, params, None)
    thresholds = thresholds.filled()
    diameters = _local_diameters(thresholds, stabilised, params.diameter)
    if diameters is None:
        return segment_volume(intensity, params, None)
    regions = local.regions(diameters)
    labels = np.zeros(intensity.shape, np.int64)
    logit = np.full(intensity.shape, -LOGIT_LIMIT, np.float32)
    next_id = 1
    for index, diameter in enumerate(regions.diameters):
        crop = regions.pixels(index, intensity.shape, int(np.ceil(2 * diameter)))
        smoothed = ndi.gaussian_filter(intensity[crop], _sigma(diameter, SMOOTH_SIGMA_FRACTION))
        region_logit = thresholds.logit(np.sqrt(np.clip(smoothed, 0.0, None)), _origin(crop))
        region_logit = np.clip(region_logit, -LOGIT_LIMIT, LOGIT_LIMIT)
        foreground = ndi.binary_fill_holes(region_logit > params.cellprob_threshold)
        cells = split_touching(foreground, smoothed, diameter)
        inside = regions.of_pixels(crop) == index + 1
        logit[crop][inside] = region_logit[inside]
        next_id = _paste(labels, crop, _centred_in(cells, inside), next_id)
    labels = drop_small(labels, params.min_size)
    median = float(np.median(regions.diameters))
    flows = np.concatenate([centre_flows(labels, median), logit[None]])
    return Segmentation(masks=labels, flows=flows.astype(np.float32))


def _local_diameters(
    thresholds: local.Thresholds, stabilised: np.ndarray, given: float | None
) -> np.ndarray | None:
    """Every grid cell's diameter: the one given, or estimated from the local foreground."""
    grid = local.grid_shape(stabilised.shape)
    if given and given > 0:
        return np.full(grid, max(float(given), MIN_DIAMETER))
    foreground = ndi.binary_opening(ndi.binary_fill_holes(thresholds.logit(stabilised) > 0))
    components, count = ndi.label(foreground)
    radii, areas = _component_radii(foreground, components, count)
    windows = thresholds.threshold.shape
    found = local.cell_diameters(components, radii, areas, windows, _median_diameter)
    return None if found is None else np.maximum(found, MIN_DIAMETER)


def _origin(crop: tuple[slice, slice]) -> tuple[int, int]:
    return int(crop[0].start), int(crop[1].start)


def _centred_in(cells: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """``cells`` with only the labels whose centroid pixel lies where ``inside`` is True."""
    count = int(cells.max())
    if count == 0:
        return cells
    keep = np.zeros(count + 1, bool)
    keep[1:] = inside[local.centroid_pixels(cells, count)]
    return np.where(keep[cells], cells, 0)


def _paste(labels: np.ndarray, crop: tuple[slice, slice], cells: np.ndarray, first: int) -> int:
    """Write ``cells`` into ``labels`` at ``crop`` where no cell is yet, their ids from
    ``first`` on; the next free id."""
    target = labels[crop]
    free = (cells > 0) & (target == 0)
    target[free] = cells[free] + (first - 1)
    return first + int(cells.max(initial=0))


def segment_stitched(intensity: np.ndarray, params: SegmentationParams) -> Segmentation:
    """Each plane of a (Z, Y, X) stack in 2D, against one threshold; planes joined by IoU."""
    if intensity.max() <= intensity.min():
        return _empty(intensity.shape, 3)
    given = params.diameter
    diameter = given if given and given > 0 else estimate_plane_diameter(intensity)
    diameter = max(float(diameter), MIN_DIAMETER)
    sigma = _sigma(diameter, SMOOTH_SIGMA_FRACTION)
    smoothed = ndi.gaussian_filter(intensity, (0, sigma, sigma))  # within each plane
    logit = foreground_logit(smoothed)
    planes = [
        split_touching(ndi.binary_fill_holes(plane > params.cellprob_threshold), image, diameter)
        for plane, image in zip(logit, smoothed, strict=True)
    ]
    labels = drop_small(stitch_planes(np.stack(planes), params.stitch_threshold), params.min_size)
    flows = np.stack([centre_flows(plane, diameter) for plane in labels], axis=1)
    return Segmentation(masks=labels, flows=np.concatenate([flows, logit[None]]).astype(np.float32))


def to_intensity(
    image: np.ndarray, *, stack: bool = False, channel: int | None = None
) -> np.ndarray:
    """One float32 channel scaled to [0, 1] in which objects are brighter than background.

    ``image`` is (Y, X) or (Y, X, C), or with ``stack`` (Z, Y, X) or (Z, Y, X, C); ``channel``
    picks one of the C channels (a single-channel image has only channel 0).
    """
    data = np.asarray(image)
    spatial = 3 if stack else 2
    if data.ndim not in (spatial, spatial + 1) or data.size == 0:
        layout = "(Z, Y, X) or (Z, Y, X, C)" if stack else "(Y, X) or (Y, X, C)"
        raise ValueError(f"expected a {layout} image, got shape {data.shape}")
    channels = data.shape[-1] if data.ndim > spatial else 1
    if channel is not None:
        if not 0 <= channel < channels:
            raise ValueError(f"nuclear_channel {channel} is not one of the {channels} channels")
        data = data[..., channel] if data.ndim > spatial else data
    elif channels == 4 and data[..., 3].min() == data[..., 3].max():
        data = data[..., :3]  # RGBA with an opaque alpha, which carries no stain
    data = np.nan_to_num(data.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if data.ndim > spatial:
        data = _best_channel(np.stack([_normalise(data[..., c]) for c in range(data.shape[-1])]))
    gray = _normalise(data)
    return (1.0 - gray if objects_are_dark(gray) else gray).astype(np.float32)


def _normalise(channel: np.ndarray) -> np.ndarray:
    low, high = np.percentile(channel, [CLIP_PERCENT, 100 - CLIP_PERCENT])
    if high <= low:  # mostly constant with a few outliers: use the full range
        low, high = channel.min(), channel.max()
    if high <= low:
        return np.zeros_like(channel)
    return cast(npt.NDArray[Any], np.clip((channel - low) / (high - low), 0.0, 1.0))


def _best_channel(channels: np.ndarray) -> np.ndarray:
    """The mean for grey-looking images, else the most bimodal channel (red/green for H&E)."""
    mean: npt.NDArray[Any] = channels.mean(axis=0)
    if np.abs(channels - mean).mean() < GREY_TOLERANCE:
        return mean
    return cast(npt.NDArray[Any], channels[int(np.argmax([_separability(c) for c in channels]))])


def _separability(values: np.ndarray) -> float:
    """Otsu's between-class variance over the total variance (1 = two perfect spikes)."""
    flat = values.ravel()
    total = flat.var()
    if total <= 0:
        return 0.0
    above = flat > threshold_otsu(flat)
    weight = above.mean()
    if weight in (0.0, 1.0):
        return 0.0
    gap = flat[above].mean() - flat[~above].mean()
    return float(weight * (1 - weight) * gap**2 / total)


def objects_are_dark(gray: np.ndarray) -> bool:
    """True when the background (the histogram's mode) lies above the Otsu threshold.

    The mode rather than the majority, because in dense fluorescence nearly half the pixels are
    nuclei, yet the background stays the tallest peak as it is the most uniform.
    """
    if gray.max() <= gray.min():
        return False
    bins = np.minimum((gray * MODE_BINS).astype(np.intp), MODE_BINS - 1)
    counts = np.bincount(bins.ravel(), minlength=MODE_BINS)
    peak = int(np.argmax(ndi.gaussian_filter1d(counts.astype(float), 1.0)))
    # The mode's own pixels, not its bin's centre: in a two-valued image Otsu's threshold is the
    # lower value itself, which the centre of the lowest bin lies above.
    background = float(np.median(gray[bins == peak])) if counts[peak] else (peak + 0.5) / MODE_BINS
    return bool(background > threshold_otsu(gray.ravel()))  # flat: no (..., 3) RGB warning


def foreground_logit(smoothed: np.ndarray) -> np.ndarray:
    """Signed distance from the Otsu threshold of sqrt(intensity), in units of class spread."""
    stabilised = np.sqrt(np.clip(smoothed, 0.0, None))
    if stabilised.max() <= stabilised.min():
        return np.full(smoothed.shape, -LOGIT_LIMIT, np.float32)
    threshold = threshold_otsu(stabilised.ravel())
    above = stabilised > threshold
    if above.all() or not above.any():
        return np.full(smoothed.shape, -LOGIT_LIMIT, np.float32)
    spread = max((stabilised[above].mean() - stabilised[~above].mean()) / 4.0, 1e-6)
    logit = (stabilised - threshold) / spread
    return cast(
        npt.NDArray[np.float32], np.clip(logit, -LOGIT_LIMIT, LOGIT_LIMIT).astype(np.float32)
    )


def estimate_diameter(intensity: np.ndarray, axes: Spacing = None) -> float:
    """Twice the median inscribed radius of the foreground's components.

    The inscribed radius (maximum of the distance transform) of a clump of touching nuclei is
    still about one nucleus radius, so clumps don't inflate the estimate as areas would. Specks
    of textured background would drag a plain median down, so components much thinner than
    the area-weighted median are left out first. For a volume (``axes`` given) the radii are
    of inscribed spheres, in (Y, X) pixels, and the weights are volumes.
    """
    foreground = foreground_logit(ndi.gaussian_filter(intensity, _scaled(1.0, axes))) > 0
    foreground = ndi.binary_opening(ndi.binary_fill_holes(foreground))
    return _median_diameter(*_inscribed_radii(foreground, axes))


def estimate_plane_diameter(intensity: np.ndarray) -> float:
    """``estimate_diameter`` over the 2D components of every plane of a (Z, Y, X) stack."""
    foreground = foreground_logit(ndi.gaussian_filter(intensity, (0, 1.0, 1.0))) > 0
    found = [_inscribed_radii(ndi.binary_opening(ndi.binary_fill_holes(p))) for p in foreground]
    return _median_diameter(*(np.concatenate(values) for values in zip(*found, strict=True)))


def _inscribed_radii(foreground: np.ndarray, axes: Spacing = None) -> tuple[np.ndarray, ...]:
    """Each component's inscribed radius and its size in pixels (voxels)."""
    components, count = ndi.label(foreground)
    return _component_radii(foreground, components, count, axes)


def _component_radii(
    foreground: np.ndarray, components: np.ndarray, count: int, axes: Spacing = None
) -> tuple[np.ndarray, ...]:
    """``_inscribed_radii`` of components already labelled 1..count."""
    if count == 0:
        return np.zeros(0), np.zeros(0, np.intp)
    distance = ndi.distance_transform_edt(foreground, sampling=axes)
    radii = np.asarray(ndi.maximum(distance, components, np.arange(1, count + 1)))
    return radii, np.bincount(components.ravel())[1:]


def _median_diameter(radii: np.ndarray, areas: np.ndarray) -> float:
    usable = radii >= MIN_DIAMETER / 2
    if not usable.any():
        return DEFAULT_DIAMETER
    typical = _weighted_median(radii[usable], areas[usable])
    return float(2 * np.median(radii[radii >= SPECK_RADIUS_FRACTION * typical]))


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2)])


def split_touching(
    foreground: np.ndarray, smoothed: np.ndarray, diameter: float, axes: Spacing = None
) -> np.ndarray:
    """Seeded watershed splitting touching nuclei along distance and intensity valleys.

    Two touching nuclei often form one convex blob whose distance transform has a single peak,
    while the dimmer seam between them still shows in the intensity. Cutting the seam (where
    the Laplacian of Gaussian is positive) out of the mask before the distance transform gives
    each nucleus its own peak; the watershed then hands the cut pixels back to their neighbours.
    """
    components, count = ndi.label(foreground)
    if count == 0:
        return cast(npt.NDArray[Any], components)
    curvature = _laplace(smoothed, _sigma(diameter, VALLEY_SIGMA_FRACTION, axes), axes)
    min_core = _volume(CORE_MIN_FRACTION * diameter**2, axes)
    cores = _drop_small_components(foreground & (curvature < 0), min_core)
    distance = ndi.distance_transform_edt(cores, sampling=axes)
    distance = ndi.gaussian_filter(distance, _sigma(diameter, DIST_SMOOTH_FRACTION, axes))
    seeds, _ = ndi.label(h_maxima(distance, SEED_H_PIXELS) & cores)
    labels = watershed(-distance, seeds, mask=foreground)
    # Components with no core (all valley) would vanish; keep them whole instead.
    unseeded = foreground & (labels == 0)
    labels[unseeded] = components[unseeded] + labels.max()
    return drop_specks(labels, diameter, axes)


def _laplace(image: np.ndarray, sigma: float | tuple[float, ...], axes: Spacing) -> np.ndarray:
    """Laplacian of Gaussian, in physical units (each axis's term over its spacing squared)."""
    if axes is None:
        return cast(npt.NDArray[Any], ndi.gaussian_laplace(image, sigma))
    terms = [
        ndi.gaussian_filter(image, sigma, order=[2 * (i == j) for j in range(image.ndim)]) / step**2
        for i, step in enumerate(axes)
    ]
    return cast(npt.NDArray[Any], sum(terms))


def _volume(area: float, axes: Spacing) -> float:
    """A 2D size limit in pixels, or for a volume the ball of the same diameter, in voxels."""
    if axes is None:
        return area
    return float(np.pi / 6 * (4 * area / np.pi) ** 1.5 / np.prod(axes))


def _drop_small_components(mask: np.ndarray, min_area: float) -> np.ndarray:
    components, _ = ndi.label(mask)
    large = np.bincount(components.ravel()) >= min_area
    large[0] = False
    return cast(npt.NDArray[np.bool_], large[components])


def drop_specks(labels: np.ndarray, diameter: float, axes: Spacing = None) -> np.ndarray:
    """Zero objects far smaller than a typical nucleus: texture and noise, not nuclei."""
    areas = np.bincount(labels.ravel())
    specks = areas < _volume(SPECK_AREA_FRACTION * np.pi * diameter**2 / 4, axes)
    specks[0] = False
    return np.where(specks[labels], 0, labels)


def drop_small(labels: np.ndarray, min_size: int) -> np.ndarray:
    """Remove objects under ``min_size`` pixels and renumber 1..N in a compact dtype."""
    areas = np.bincount(labels.ravel())
    keep = areas >= max(min_size, 1)
    keep[0] = False
    count = int(keep.sum())
    new_ids = np.zeros(areas.size, label_dtype(count))
    new_ids[keep] = np.arange(1, count + 1)
    return cast(npt.NDArray[np.unsignedinteger[Any]], new_ids[labels])


def centre_flows(labels: np.ndarray, diameter: float, axes: Spacing = None) -> np.ndarray:
    """Unit gradient of each cell's own distance transform, shape (ndim, ...), zero outside."""
    cells = labels > 0
    if min(labels.shape) < 2 or not cells.any():
        return np.zeros((labels.ndim, *labels.shape), np.float32)
    # Cutting the boundary pixels between touching cells makes each distance peak per cell.
    inside = cells & ~find_boundaries(labels, mode="inner")
    distance = ndi.distance_transform_edt(inside, sampling=axes) + cells
    distance = ndi.gaussian_filter(distance, _sigma(diameter, DIST_SMOOTH_FRACTION, axes))
    gradient = np.gradient(distance) if axes is None else np.gradient(distance, *axes)
    norm = reduce(np.hypot, gradient)
    scale = np.where(cells & (norm > 1e-6), 1.0 / np.maximum(norm, 1e-6), 0.0)
    return np.stack([component * scale for component in gradient]).astype(np.float32)


def _sigma(diameter: float, fraction: float, axes: Spacing = None) -> float | tuple[float, ...]:
    return _scaled(max(fraction * diameter, 0.5), axes)


def _scaled(sigma: float, axes: Spacing) -> float | tuple[float, ...]:
    """A width in (Y, X) pixels as a sigma per axis: the same physical width along each."""
    return sigma if axes is None else tuple(sigma / step for step in axes)


def _empty(shape: tuple[int, ...], flow_channels: int) -> Segmentation:
    flows = np.zeros((flow_channels, *shape), np.float32)
    flows[-1] = -LOGIT_LIMIT
    return Segmentation(masks=np.zeros(shape, label_dtype(0)), flows=flows)
