"""Pore segmentation: threshold, closing, speck removal, separation of touching pores, edge-kill.

The chain and its settings are described in :mod:`xrsr_lib.evaluate.pores` (sections
"Separation" and "Foam mask"); :func:`segment_pores` returns a :class:`PoreSegmentation`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu
from skimage.morphology import ball, local_maxima
from skimage.segmentation import expand_labels, relabel_sequential, watershed

from xrsr_lib.config.pores import PoreAnalysisConfig
from xrsr_lib.evaluate.pores._checks import check_image_and_mask, check_voxel_size, sphere_volume_voxels

__all__ = ["PoreSegmentation", "segment_pores"]

_FACES = ndi.generate_binary_structure(3, 1)  # 6-connectivity, as the watershed's default


@dataclass(frozen=True, eq=False)
class PoreSegmentation:
    """Result of :func:`segment_pores`.

    Attributes
    ----------
    threshold : float
        Grey value used (pores are strictly below it).
    pore_mask : ndarray of bool
        Pore voxels after closing, speck removal and the surface shell's objects, before
        edge-kill (use it for porosity, over ``inner_mask`` when there is one).
    labels : ndarray of int32
        One label per pore after edge-kill (if enabled), numbered ``1..n_pores``; 0 elsewhere.
    labels_all : ndarray of int32
        Labels before edge-kill, numbered ``1..n``.
    n_edge_killed : int
        Pores dropped because they touch the first or last z slice.
    voxel_size_um : float
    config : PoreAnalysisConfig
    inner_mask : ndarray of bool or None
        The foam mask without its surface shell (``config.surface_margin_um``); None when the
        margin is 0. Threshold and porosity use it.
    n_surface_killed : int
        Objects of the surface shell (at least the minimum pore size) dropped as rim: not reached
        by any pore.
    """

    threshold: float
    pore_mask: np.ndarray
    labels: np.ndarray
    labels_all: np.ndarray
    n_edge_killed: int
    voxel_size_um: float
    config: PoreAnalysisConfig = field(default_factory=PoreAnalysisConfig)
    inner_mask: np.ndarray | None = None
    n_surface_killed: int = 0

    @property
    def n_pores(self) -> int:
        """Pores kept (after edge-kill when enabled)."""
        return int(self.labels.max()) if self.labels.size else 0


def _close(mask: np.ndarray, radius: int) -> np.ndarray:
    """Close ``mask`` with a ball of ``radius`` voxels, on a padded copy.

    An unpadded erosion would strip pores cut by the volume's faces off the edge slices (and so
    hide them from the edge-kill).
    """
    padded = np.pad(mask, radius, mode="edge")
    closed = ndi.binary_closing(padded, structure=ball(radius).astype(bool))
    return closed[(slice(radius, -radius),) * 3]


def _remove_small(mask: np.ndarray, min_voxels: float) -> np.ndarray:
    if min_voxels <= 1:
        return mask
    comps, n = ndi.label(mask, structure=_FACES)
    if n == 0:
        return mask
    sizes = np.bincount(comps.ravel(), minlength=n + 1)
    keep = sizes >= min_voxels
    keep[0] = False
    return keep[comps]


def _adjacent_saddles(labels: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the pairs of face-adjacent regions ``(a < b)`` and their saddle.

    The saddle is the highest ``min(values)`` over the voxel pairs joining them (the pass where
    flooding from one reaches the other).
    """
    n = int(labels.max()) + 1
    keys, saddles = [], []
    for axis in range(3):
        lab = np.moveaxis(labels, axis, 0)
        val = np.moveaxis(values, axis, 0)
        a, b = lab[:-1], lab[1:]
        sel = (a != b) & (a > 0) & (b > 0)
        la, lb = a[sel].astype(np.int64), b[sel].astype(np.int64)
        keys.append(np.minimum(la, lb) * n + np.maximum(la, lb))
        saddles.append(np.minimum(val[:-1][sel], val[1:][sel]))
    key = np.concatenate(keys)
    saddle = np.concatenate(saddles)
    if key.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=values.dtype)
    order = np.lexsort((saddle, key))
    key, saddle = key[order], saddle[order]
    last = np.r_[key[1:] != key[:-1], True]  # the largest saddle of each pair sorts last
    return key[last] // n, key[last] % n, saddle[last]


def _merge_by_dynamics(basins: np.ndarray, markers: np.ndarray, values: np.ndarray, h: float) -> np.ndarray:
    """Merge watershed basins whose maximum has a dynamic below ``h``.

    ``basins`` is the watershed of ``-values`` from ``markers``, every regional maximum (its
    label ``i`` marks basin ``i``). The dynamic of a maximum is how far one must descend from it
    to reach a higher maximum; the maxima with a
    dynamic >= ``h`` are exactly the markers an h-maxima transform keeps (the highest maximum of
    each connected component always stays). Pairs of basins are visited from the highest saddle
    down (a Kruskal sweep of the merge tree); when two trees meet, the one with the lower top is
    absorbed into the basin across the saddle if its top rises less than ``h`` above it. This
    is the marker watershed from h-maxima markers (skimage.morphology.h_maxima) at the cost of
    one watershed and a sort instead of a grey-level reconstruction, which takes 3-4 times as
    long as the rest of the segmentation on 256³.

    Returns the lookup table old basin label -> kept label (0 -> 0).
    """
    n = int(basins.max())
    lut = np.arange(n + 1, dtype=np.int64)
    if n <= 1:
        return lut
    at = np.flatnonzero(markers)
    peak = np.zeros(n + 1)
    peak[markers.flat[at]] = values.flat[at]
    a_arr, b_arr, s_arr = _adjacent_saddles(basins, values)
    parent = list(range(n + 1))  # union-find over the merge tree
    top = peak.tolist()  # highest maximum of each tree (valid at roots)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner = list(range(n + 1))  # kept label of each basin (followed transitively)

    def resolve(i: int) -> int:
        while owner[i] != i:
            owner[i] = owner[owner[i]]
            i = owner[i]
        return i

    for k in np.argsort(-s_arr, kind="stable"):
        a, b, s = int(a_arr[k]), int(b_arr[k]), float(s_arr[k])
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        if top[ra] < top[rb] or (top[ra] == top[rb] and ra > rb):
            ra, rb, a, b = rb, ra, b, a  # ra: the tree with the higher top
        if top[rb] - s < h:  # the lower top is not significant: its basins join b's neighbour a
            owner[resolve(b)] = resolve(a)
        parent[rb] = ra
    for i in range(1, n + 1):
        lut[i] = resolve(i)
    return lut


def _separate(mask: np.ndarray, foam_mask: np.ndarray, h: float, sigma: float) -> np.ndarray:
    """Watershed of the negated distance transform with h-maxima markers, inside ``mask``.

    Distances are to the nearest matrix voxel: neither the volume's faces nor the outside of
    ``foam_mask`` count as matrix, so a pore cut by them keeps the large distances of its whole
    shape (a cut pore measured from its cut would look shallow and merge into its neighbours).
    Every connected component of ``mask`` ends up with at least one label.
    """
    labels = np.zeros(mask.shape, dtype=np.int32)
    if not mask.any():
        return labels
    # work on the bounding box of the pores (plus a margin) to save time and memory
    nz = [np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != ax))) for ax in range(3)]
    margin = 1 + math.ceil(3 * sigma)
    box = tuple(slice(max(0, int(i[0]) - margin), int(i[-1]) + 1 + margin) for i in nz)
    sub = mask[box]
    not_matrix = np.pad(sub | ~foam_mask[box], 1, mode="edge")
    dist = ndi.distance_transform_edt(not_matrix)[1:-1, 1:-1, 1:-1].astype(np.float32)
    if sigma > 0:
        dist = ndi.gaussian_filter(dist, sigma)
    dist[~sub] = 0.0
    peaks = local_maxima(dist, allow_borders=True) & sub
    markers, _ = ndi.label(peaks, structure=np.ones((3, 3, 3), dtype=bool))
    basins = watershed(-dist, markers, mask=sub).astype(np.int32)
    lut = _merge_by_dynamics(basins, markers, dist, h)
    labels[box] = lut[basins]
    labels, _, _ = relabel_sequential(labels)
    return labels.astype(np.int32, copy=False)


def _edge_kill(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Drop labels present in the first or last z slice; relabel the rest 1..n."""
    touching = np.union1d(np.unique(labels[0]), np.unique(labels[-1]))
    touching = touching[touching > 0]
    if touching.size == 0:
        return labels.copy(), 0
    kept = np.where(np.isin(labels, touching), 0, labels)
    kept, _, _ = relabel_sequential(kept)
    return kept.astype(np.int32, copy=False), int(touching.size)


def segment_pores(
    image: np.ndarray,
    foam_mask: np.ndarray,
    voxel_size_um: float = 1.0,
    config: PoreAnalysisConfig | None = None,
) -> PoreSegmentation:
    """Segment and separate the pores of a foam image.

    Parameters
    ----------
    image : (Z, Y, X) array
        Material-fraction image (matrix ≈ 1, pores ≈ 0). Must be finite inside ``foam_mask``.
    foam_mask : (Z, Y, X) array of bool
        The foam's bulk (e.g. :func:`xrsr_lib.prepare.masks.cylinder_mask`); pores are sought inside it
        and the Otsu threshold is computed on its voxels. A blurred sample surface at its edge
        thresholds as pore: set ``config.surface_margin_um`` (see the module notes).
    voxel_size_um : float
        Edge of the (isotropic) voxel, µm.
    config : PoreAnalysisConfig, optional
        Defaults to ``PoreAnalysisConfig()``.

    Returns
    -------
    PoreSegmentation

    Raises
    ------
    ValueError
        If the image is not 3-D, the mask has another shape or selects nothing, the image has
        non-finite values inside the mask, or the voxel size is not positive.
    """
    cfg = PoreAnalysisConfig() if config is None else config
    if not isinstance(cfg, PoreAnalysisConfig):
        raise ValueError(f"config must be a PoreAnalysisConfig, got {type(cfg).__name__}")
    vs = check_voxel_size(voxel_size_um)
    img, mask = check_image_and_mask(image, foam_mask)

    inner = None
    if cfg.surface_margin_um > 0:
        # distance to the nearest voxel outside the mask (the volume's faces do not count)
        inner = ndi.distance_transform_edt(mask) > cfg.surface_margin_um / vs
        if not inner.any():
            raise ValueError(f"surface_margin_um={cfg.surface_margin_um} leaves no voxel of the foam mask")
    if cfg.threshold is None:
        values = img[mask if inner is None else inner]
        if values.min() == values.max():
            raise ValueError("image is constant inside the foam mask: Otsu's threshold is undefined")
        threshold = float(threshold_otsu(values))
    else:
        threshold = float(cfg.threshold)

    pores = (img < threshold) & mask
    if cfg.closing_radius_voxels > 0:
        pores = _close(pores, cfg.closing_radius_voxels) & mask
    min_voxels = sphere_volume_voxels(cfg.min_pore_diameter_um, vs)
    n_surface = 0
    if inner is None:
        pores = _remove_small(pores, min_voxels)
        labels_all = _separate(pores, mask, cfg.separation_h_voxels, cfg.smooth_distance_sigma)
    else:
        # separate inside the inner mask, where the surface rim cannot link pores, then give each
        # pore back its voxels in the shell (up to the margin away); the rest of the shell is rim
        core = _remove_small(pores & inner, min_voxels)
        labels_all = _separate(core, inner, cfg.separation_h_voxels, cfg.smooth_distance_sigma)
        grown = expand_labels(labels_all, distance=cfg.surface_margin_um / vs)
        rim, n_rim = ndi.label(pores & ~inner & (grown == 0))
        n_surface = int(np.count_nonzero(np.bincount(rim.ravel(), minlength=n_rim + 1)[1:] >= min_voxels))
        labels_all = np.where(pores, grown, 0).astype(np.int32)
        pores = labels_all > 0
    if cfg.edge_kill:
        labels, n_killed = _edge_kill(labels_all)
    else:
        labels, n_killed = labels_all, 0
    return PoreSegmentation(threshold, pores, labels, labels_all, n_killed, vs, cfg, inner, n_surface)
