"""Pore segmentation and per-pore morphometry: the study's workflow, the same for every image.

Every image of the study (ground truth, FDK reconstructions, super-resolution and deconvolution
outputs) is analysed by the same chain of plain functions on arrays::

    image, foam mask
      -> threshold t (Otsu on the foam voxels unless fixed)
      -> pore mask = (image < t) & foam mask
      -> binary closing (fills matrix specks inside pores), kept inside the foam mask
      -> removal of objects smaller than a sphere of ``min_pore_diameter_um`` (noise specks)
      -> separation of touching pores: watershed of the negated (smoothed) Euclidean distance
         transform from h-maxima markers, restricted to the pore mask
      -> edge-kill: pores touching the first or last z slice are dropped (as in study A)
      -> per-pore volume, equivalent diameter, surface (marching cubes), sphericity

Volumes are ``(z, y, x)`` arrays in material-fraction units (matrix ≈ 1, pores ≈ 0, zero outside
the foam cylinder). Lengths are in µm, with an isotropic voxel of ``voxel_size_um``.

Separation
----------
The markers are the maxima of the distance transform whose *dynamic* (how far one descends from
the maximum before reaching a higher one) is at least ``separation_h_voxels``: exactly the
h-maxima. Two touching voids are joined by a neck much narrower than either, so each keeps its
own maximum; a rough (noisy) pore surface only adds shallow maxima, which are merged. Neither the
volume's faces nor the outside of the foam mask count as matrix for the distance transform, so a
pore cut by them keeps the depth of its cut shape. Every connected pore object gets at least one
label (its highest maximum is always a marker).

Foam mask
---------
In blurred or deconvolved images the sample's outer surface is a dark rim just inside the
cylinder, which thresholds as thin "pores": on the 256³ ``cpu`` profile at σ = 3 µm, the full
cylinder (radius 120 µm) adds 13 (DeepNet), 57 (RL) and 90 (RL + NLM) rim fragments to the 161
pores. ``surface_margin_um`` treats an outer shell of the mask as surface: the threshold and the
porosity use only the voxels deeper than the margin; pores are separated inside that inner region
(where the rim cannot link them) and then grow back into the shell by at most the margin, so real
pores reaching into the shell keep their whole shape (a mask simply shrunk by the margin would cut
them, lowering their sphericity: ground-truth mean 0.975 instead of 0.988), while the rest of the
shell, the rim, is dropped. A pore that touches a rim takes the rim voxels within the margin of
it. Only the top and bottom slices edge-kill, so counts stay comparable to the generator's list.

Sphericity
----------
``ψ = π^(1/3) (6 V)^(2/3) / A`` (Wadell), with ``V`` the voxel-count volume and ``A`` the area of
a marching-cubes mesh. A raw mesh of a binary mask is a staircase (ψ ≈ 0.92 for any voxelized
sphere), so each pore's mask is smoothed with a Gaussian of σ = ``surface_smoothing_sigma``
voxels before meshing at level 0.5. Smoothing moves the 0.5 level inward by about σ²/r (small
pores shrink most), which alone would give ψ > 1 for small pores; the mesh is therefore scaled
isotropically until it encloses the pore's voxel-count volume (``A ← A (V / V_mesh)^(2/3)``). The
sphericity is then that of the smoothed surface's *shape*, which the isoperimetric inequality
bounds by 1 for a closed mesh. Measured on supersampled voxelized spheres (σ = 0.8, mean over
random sub-voxel centres): ψ = 0.98 (r = 3 voxels), 0.99 (r = 5 to 20 voxels).

Examples
--------
>>> import numpy as np
>>> from xrsr_lib.prepare.masks import cylinder_mask
>>> z, y, x = np.mgrid[:40, :40, :40]
>>> image = np.where((z - 20) ** 2 + (y - 20) ** 2 + (x - 20) ** 2 < 8**2, 0.0, 1.0)
>>> result = analyse_pores(image, cylinder_mask(image.shape, 19))
>>> result.n_pores
1
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu
from skimage.measure import marching_cubes, mesh_surface_area
from skimage.morphology import ball, local_maxima
from skimage.segmentation import expand_labels, relabel_sequential, watershed

from xrsr_lib.io.cache import atomic_path

__all__ = [
    "PORE_COLUMNS",
    "SURFACE_SMOOTHING_SIGMA",
    "PoreAnalysis",
    "PoreAnalysisConfig",
    "PoreSegmentation",
    "analyse_pores",
    "pore_properties",
    "pore_recovery",
    "porosity",
    "segment_pores",
    "size_histogram",
]

#: Columns of the per-pore table returned by :func:`pore_properties`.
PORE_COLUMNS = (
    "label",
    "volume_um3",
    "diameter_um",
    "surface_um2",
    "sphericity_raw",
    "sphericity",
    "sphericity_clipped",
    "centroid_z",
    "centroid_y",
    "centroid_x",
)

_FACES = ndi.generate_binary_structure(3, 1)  # 6-connectivity, as the watershed's default

#: Default Gaussian σ (voxels) smoothing each pore's mask before marching cubes (see the module notes).
SURFACE_SMOOTHING_SIGMA = 0.8


class PoreAnalysisConfig(BaseModel):
    """Settings of the pore segmentation and morphometry (one set for every analysed image)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    threshold: float | None = Field(
        default=None,
        description="grey value separating pores (below) from matrix, material-fraction units; "
        "None: Otsu's threshold of the voxels inside the foam mask",
    )
    closing_radius_voxels: int = Field(
        default=1,
        ge=0,
        le=10,
        description="radius of the ball used to close the pore mask (fills matrix specks left by noise "
        "inside pores); 0 disables",
    )
    min_pore_diameter_um: float = Field(
        default=4.0,
        ge=0,
        description="connected pore objects with a spherical-equivalent diameter below this are noise "
        "specks and are removed (4 µm ≈ 34 voxels at 1 µm: below every void of the profiles, >= 10 µm in "
        "smoke and ~20 µm in cpu; 0 keeps everything: 1242 objects instead of 88 on a noisy 96³ foam)",
    )
    separation_h_voxels: float = Field(
        default=1.0,
        gt=0,
        description="h of the h-maxima of the distance transform used as watershed markers (voxels): a "
        "pore is split off its neighbour when its inscribed radius exceeds the radius of the neck "
        "joining them by at least h. 1 separates touching voids down to r = 5 voxels (also 12 + 5) "
        "while noisy, deconvolved and network outputs are not over-split; 1.5-2 merge r = 5 pairs",
    )
    smooth_distance_sigma: float = Field(
        default=0.5,
        ge=0,
        description="Gaussian σ (voxels) applied to the distance transform before finding markers; "
        "removes spurious maxima of rough (noisy) pore surfaces. Smoothing lowers peaks and fills "
        "necks, so large σ (1) stops small touching pores from separating; 0 disables",
    )
    surface_margin_um: float = Field(
        default=0.0,
        ge=0,
        description="width of the foam mask's outer shell treated as sample surface: the threshold and "
        "the porosity use only voxels deeper than this, pores are separated inside the inner region and "
        "then grow back into the shell by at most the margin, and the rest of the shell is dropped (a "
        "blurred or deconvolved sample surface thresholds as a thin rim of false pores). Keep it below "
        "the smallest pore radius",
    )
    edge_kill: bool = Field(
        default=True, description="drop pores touching the first or last z slice (cut by the volume)"
    )
    surface_smoothing_sigma: float = Field(
        default=SURFACE_SMOOTHING_SIGMA,
        ge=0,
        le=3,
        description="Gaussian σ (voxels) applied to each pore's binary mask before marching cubes; "
        "0 meshes the raw binary staircase (ψ ≈ 0.92 for any voxelized sphere); 0.8 gives ψ = 0.98-0.99 "
        "for spheres of radius 3-20 voxels",
    )

    @field_validator("threshold", "min_pore_diameter_um", "separation_h_voxels", "smooth_distance_sigma",
                     "surface_smoothing_sigma")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError(f"must be finite, got {v}")
        return v


# ------------------------------------------------------------------------------ validation helpers
def _check_voxel_size(voxel_size_um: float) -> float:
    try:
        value = float(voxel_size_um)
    except (TypeError, ValueError):
        raise ValueError(f"voxel_size_um must be a real number, got {voxel_size_um!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"voxel_size_um must be finite and > 0, got {voxel_size_um!r}")
    return value


def _check_image_and_mask(image: np.ndarray, foam_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    img = np.asarray(image)
    if img.ndim != 3:
        raise ValueError(f"image must be 3-D (z, y, x), got shape {img.shape}")
    if img.size == 0:
        raise ValueError(f"image is empty (shape {img.shape})")
    if not np.issubdtype(img.dtype, np.number) or np.iscomplexobj(img) or img.dtype == np.bool_:
        raise ValueError(f"image must hold real numbers, got dtype {img.dtype}")
    mask = np.asarray(foam_mask)
    if mask.shape != img.shape:
        raise ValueError(f"foam_mask shape {mask.shape} differs from image shape {img.shape}")
    if mask.dtype != np.bool_:
        if not np.issubdtype(mask.dtype, np.number) or not np.all((mask == 0) | (mask == 1)):
            raise ValueError("foam_mask must be boolean (or hold only 0 and 1)")
        mask = mask.astype(bool)
    if not mask.any():
        raise ValueError("foam_mask selects no voxel")
    img = img.astype(np.float32, copy=False)
    if not np.all(np.isfinite(img[mask])):
        raise ValueError("image contains NaN or infinite values inside the foam mask")
    return img, mask


def _check_labels(labels: np.ndarray) -> np.ndarray:
    lab = np.asarray(labels)
    if lab.ndim != 3:
        raise ValueError(f"labels must be 3-D (z, y, x), got shape {lab.shape}")
    if not np.issubdtype(lab.dtype, np.integer):
        raise ValueError(f"labels must be an integer array, got dtype {lab.dtype}")
    if lab.size and lab.min() < 0:
        raise ValueError("labels must be >= 0 (0 is background)")
    return lab


def _sphere_volume_voxels(diameter_um: float, voxel_size_um: float) -> float:
    return math.pi / 6.0 * (diameter_um / voxel_size_um) ** 3


# ------------------------------------------------------------------------------ segmentation
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
    """Binary closing with a ball, on a padded copy: an unpadded erosion would strip pores cut by
    the volume's faces off the edge slices (and so hide them from the edge-kill)."""
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
    """Pairs of face-adjacent regions ``(a < b)`` and their saddle: the highest ``min(values)``
    over the voxel pairs joining them (the pass where flooding from one reaches the other)."""
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
    Every connected component of ``mask`` ends up with at least one label."""
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
        The foam's bulk (e.g. :func:`xrsr_lib.evaluate.metrics.cylinder_mask`); pores are sought inside it
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
    vs = _check_voxel_size(voxel_size_um)
    img, mask = _check_image_and_mask(image, foam_mask)

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
    min_voxels = _sphere_volume_voxels(cfg.min_pore_diameter_um, vs)
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


# ------------------------------------------------------------------------------ morphometry
def _mesh_area_volume(region: np.ndarray, sigma: float) -> tuple[float, float]:
    """Area and enclosed volume (voxel units) of the 0.5 iso-surface of a (smoothed) binary mask."""
    pad = 2 + math.ceil(3 * sigma)
    grid = np.pad(region.astype(np.float32), pad)
    if sigma > 0:
        smooth = ndi.gaussian_filter(grid, sigma, mode="constant")
        if smooth.max() > 0.5:  # tiny pores can vanish below the level: use the raw mask then
            grid = smooth
    verts, faces, _, _ = marching_cubes(grid, 0.5)
    area = float(mesh_surface_area(verts, faces))
    tri = verts[faces].astype(np.float64)
    volume = abs(float(np.einsum("ij,ij->", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])))) / 6.0
    return area, volume


def pore_properties(
    labels: np.ndarray,
    voxel_size_um: float = 1.0,
    surface_smoothing_sigma: float = SURFACE_SMOOTHING_SIGMA,
) -> pd.DataFrame:
    """Volume, equivalent diameter, surface, sphericity and centroid of each labelled pore.

    Parameters
    ----------
    labels : (Z, Y, X) int array
        Pore labels (0 = background). Labels need not be consecutive; absent ones get no row.
    voxel_size_um : float
        Edge of the (isotropic) voxel, µm.
    surface_smoothing_sigma : float
        Gaussian σ (voxels) applied to each pore's mask before marching cubes at level 0.5; the
        mesh area is then rescaled so the mesh encloses the voxel-count volume (see the module
        notes). 0 meshes the binary mask as it is.

    Returns
    -------
    pandas.DataFrame
        One row per label, columns :data:`PORE_COLUMNS`: ``label``; ``volume_um3`` (voxel count ×
        voxel³); ``diameter_um`` = (6V/π)^(1/3); ``surface_um2``; ``sphericity_raw`` =
        π^(1/3)(6V)^(2/3)/A; ``sphericity`` = min(raw, 1); ``sphericity_clipped`` (raw > 1);
        ``centroid_z/y/x`` (voxel indices).
    """
    lab = _check_labels(labels)
    vs = _check_voxel_size(voxel_size_um)
    sigma = float(surface_smoothing_sigma)
    if not (math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"surface_smoothing_sigma must be finite and >= 0, got {surface_smoothing_sigma!r}")
    rows: list[tuple[Any, ...]] = []
    for index, box in enumerate(ndi.find_objects(lab)):
        if box is None:
            continue
        label = index + 1
        region = lab[box] == label
        n_vox = int(np.count_nonzero(region))
        coords = np.nonzero(region)
        centroid = [float(c.mean()) + s.start for c, s in zip(coords, box, strict=True)]
        area_vox, mesh_vol = _mesh_area_volume(region, sigma)
        if mesh_vol > 0:
            area_vox *= (n_vox / mesh_vol) ** (2.0 / 3.0)
        volume = n_vox * vs**3
        surface = area_vox * vs**2
        psi = math.pi ** (1.0 / 3.0) * (6.0 * volume) ** (2.0 / 3.0) / surface
        rows.append((label, volume, (6.0 * volume / math.pi) ** (1.0 / 3.0), surface, psi, min(psi, 1.0),
                     psi > 1.0, *centroid))
    table = pd.DataFrame(rows, columns=list(PORE_COLUMNS))
    return table.astype({"label": np.int64, "sphericity_clipped": bool})


# ------------------------------------------------------------------------------ summaries
def porosity(pore_mask: np.ndarray, foam_mask: np.ndarray) -> float:
    """Pore voxels inside the foam mask divided by the foam-mask voxels."""
    pores = np.asarray(pore_mask)
    mask = np.asarray(foam_mask)
    if pores.shape != mask.shape:
        raise ValueError(f"pore_mask shape {pores.shape} differs from foam_mask shape {mask.shape}")
    mask = mask.astype(bool)
    n_foam = int(np.count_nonzero(mask))
    if n_foam == 0:
        raise ValueError("foam_mask selects no voxel")
    return float(np.count_nonzero(pores.astype(bool) & mask)) / n_foam


def pore_recovery(n_found: int, n_truth: int) -> float:
    """Fraction ``n_found / n_truth`` of the true pores found (may exceed 1 with over-segmentation)."""
    if not (math.isfinite(n_truth) and n_truth > 0):
        raise ValueError(f"n_truth must be > 0, got {n_truth}")
    if not (math.isfinite(n_found) and n_found >= 0):
        raise ValueError(f"n_found must be >= 0, got {n_found}")
    return float(n_found) / float(n_truth)


def size_histogram(
    diameters_um: np.ndarray, bin_um: float = 5.0, max_um: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of pore diameters on bins ``[0, bin_um, 2 bin_um, ...]``.

    Parameters
    ----------
    diameters_um : 1-D array
        Pore diameters, µm (finite, >= 0).
    bin_um : float
        Bin width, µm.
    max_um : float, optional
        Upper end to cover (rounded up to a whole bin), so several images share the same edges;
        default: the largest diameter. Diameters above it raise an error.

    Returns
    -------
    counts : ndarray of int64
    edges : ndarray of float64
        ``len(counts) + 1`` edges starting at 0 in steps of ``bin_um``; the last bin includes its
        right edge.
    """
    d = np.asarray(diameters_um, dtype=np.float64).ravel()
    if not (math.isfinite(bin_um) and bin_um > 0):
        raise ValueError(f"bin_um must be finite and > 0, got {bin_um}")
    if d.size and not np.all(np.isfinite(d)):
        raise ValueError("diameters_um contains NaN or infinite values")
    if d.size and d.min() < 0:
        raise ValueError("diameters_um must be >= 0")
    top = float(d.max()) if d.size else 0.0
    if max_um is not None:
        if not (math.isfinite(max_um) and max_um > 0):
            raise ValueError(f"max_um must be finite and > 0, got {max_um}")
        if top > max_um:
            raise ValueError(f"{int(np.count_nonzero(d > max_um))} diameter(s) exceed max_um={max_um}")
        top = float(max_um)
    n_bins = max(1, math.ceil(top / bin_um - 1e-9))
    edges = np.arange(n_bins + 1, dtype=np.float64) * bin_um
    if edges[-1] < top:  # guard against rounding in the tolerance above
        edges = np.append(edges, edges[-1] + bin_um)
    counts, _ = np.histogram(d, bins=edges)
    return counts.astype(np.int64), edges


# ------------------------------------------------------------------------------ full analysis
@dataclass(frozen=True, eq=False)
class PoreAnalysis:
    """Summary and per-pore table of one analysed image (see :func:`analyse_pores`).

    Attributes
    ----------
    threshold : float
    n_pores : int
        Pores kept (after edge-kill when enabled): the rows of ``table``.
    n_edge_killed : int
    porosity : float
        Pore fraction of the foam mask, without its surface shell (before edge-kill).
    n_sphericity_clipped : int
        Pores whose raw sphericity exceeded 1.
    mean_sphericity : float
        Mean of ``table.sphericity`` (NaN when there is no pore).
    voxel_size_um : float
    config : PoreAnalysisConfig
    table : pandas.DataFrame
        :func:`pore_properties` of the kept pores.
    n_surface_killed : int
        Objects dropped in the surface shell (``config.surface_margin_um``).
    """

    threshold: float
    n_pores: int
    n_edge_killed: int
    porosity: float
    n_sphericity_clipped: int
    mean_sphericity: float
    voxel_size_um: float
    config: PoreAnalysisConfig
    table: pd.DataFrame
    n_surface_killed: int = 0

    def summary(self) -> dict[str, float | int]:
        """The scalar results as plain Python numbers (JSON-friendly)."""
        return {
            "threshold": float(self.threshold),
            "n_pores": int(self.n_pores),
            "n_edge_killed": int(self.n_edge_killed),
            "n_surface_killed": int(self.n_surface_killed),
            "porosity": float(self.porosity),
            "n_sphericity_clipped": int(self.n_sphericity_clipped),
            "mean_sphericity": float(self.mean_sphericity),
            "voxel_size_um": float(self.voxel_size_um),
        }

    def to_dict(self) -> dict[str, Any]:
        """Summary, config and table (column -> list) as plain JSON types."""
        return {
            "summary": self.summary(),
            "config": self.config.model_dump(),
            "pores": {c: self.table[c].tolist() for c in self.table.columns},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PoreAnalysis:
        """Inverse of :meth:`to_dict`."""
        s = data["summary"]
        table = pd.DataFrame(data["pores"], columns=list(data["pores"].keys()) or list(PORE_COLUMNS))
        if len(table) == 0:
            table = pd.DataFrame({c: pd.Series(dtype=float) for c in PORE_COLUMNS})
        table = table.astype({"label": np.int64, "sphericity_clipped": bool})
        return cls(
            threshold=float(s["threshold"]),
            n_pores=int(s["n_pores"]),
            n_edge_killed=int(s["n_edge_killed"]),
            porosity=float(s["porosity"]),
            n_sphericity_clipped=int(s["n_sphericity_clipped"]),
            mean_sphericity=float(s["mean_sphericity"]),
            voxel_size_um=float(s["voxel_size_um"]),
            config=PoreAnalysisConfig(**data["config"]),
            table=table,
            n_surface_killed=int(s.get("n_surface_killed", 0)),
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_dict` as one JSON file, atomically; returns the path. (The evaluation
        caches analyses as HDF5 tables instead: see :meth:`StudyAEvaluation.pores`.)"""
        final = Path(path)
        with atomic_path(final) as tmp:
            tmp.write_text(json.dumps(self.to_dict()) + "\n")
        return final

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PoreAnalysis:
        """Read a file written by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text()))


def analyse_pores(
    image: np.ndarray,
    foam_mask: np.ndarray,
    voxel_size_um: float = 1.0,
    config: PoreAnalysisConfig | None = None,
) -> PoreAnalysis:
    """Segment the pores of ``image`` and measure each one (:func:`segment_pores` then
    :func:`pore_properties`).

    Parameters
    ----------
    image : (Z, Y, X) array
        Material-fraction image.
    foam_mask : (Z, Y, X) array of bool
        The foam's bulk.
    voxel_size_um : float
        Edge of the (isotropic) voxel, µm.
    config : PoreAnalysisConfig, optional
        Defaults to ``PoreAnalysisConfig()``.

    Returns
    -------
    PoreAnalysis
    """
    cfg = PoreAnalysisConfig() if config is None else config
    seg = segment_pores(image, foam_mask, voxel_size_um, cfg)
    table = pore_properties(seg.labels, seg.voxel_size_um, cfg.surface_smoothing_sigma)
    mean_psi = float(table["sphericity"].mean()) if len(table) else float("nan")
    return PoreAnalysis(
        threshold=seg.threshold,
        n_pores=len(table),
        n_edge_killed=seg.n_edge_killed,
        porosity=porosity(seg.pore_mask, foam_mask if seg.inner_mask is None else seg.inner_mask),
        n_sphericity_clipped=int(table["sphericity_clipped"].sum()),
        mean_sphericity=mean_psi,
        voxel_size_um=seg.voxel_size_um,
        config=cfg,
        table=table,
        n_surface_killed=seg.n_surface_killed,
    )
