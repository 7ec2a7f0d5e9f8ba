"""Per-pore morphometry: volume, equivalent diameter, surface (marching cubes), sphericity, centroid.

See the "Sphericity" notes of :mod:`xrsr_lib.evaluate.pores` for the smoothed, volume-rescaled
surface mesh.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from skimage.measure import marching_cubes, mesh_surface_area

from xrsr_lib.config.pores import SURFACE_SMOOTHING_SIGMA
from xrsr_lib.evaluate.pores._checks import check_labels, check_voxel_size

__all__ = ["PORE_COLUMNS", "pore_properties"]

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
    lab = check_labels(labels)
    vs = check_voxel_size(voxel_size_um)
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
        rows.append(
            (
                label,
                volume,
                (6.0 * volume / math.pi) ** (1.0 / 3.0),
                surface,
                psi,
                min(psi, 1.0),
                psi > 1.0,
                *centroid,
            )
        )
    table = pd.DataFrame(rows, columns=list(PORE_COLUMNS))
    return table.astype({"label": np.int64, "sphericity_clipped": bool})
