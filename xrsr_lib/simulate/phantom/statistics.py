"""Count and size statistics of a foam phantom's voids (those an edge-killed segmentation sees)."""

from __future__ import annotations

import numpy as np

from xrsr_lib.simulate.phantom.spheres import as_float, check_spheres

__all__ = ["void_statistics"]


def void_statistics(spheres: np.ndarray, half_height: float) -> dict[str, float]:
    """Count and size statistics of the voids that lie fully inside ``|z| < half_height``.

    These are the voids an edge-killed segmentation of the volume can find whole (voids cut by
    the top or bottom slice are excluded, as in study A). Lengths in the unit of ``spheres``.

    Parameters
    ----------
    spheres : ndarray, shape (N, 5)
        Void list (x, y, z, r, c).
    half_height : float
        Half the height of the imaged volume, centred on z = 0.

    Returns
    -------
    dict
        ``n_voids`` (all generated), ``n_inside``, diameter min/median/max and the 5/95 %
        quantiles of the voids inside, and ``volume_fraction_d25_70``: the share of their pore
        volume in voids of 25-70 diameter units (µm when the list is in µm).
    """
    s = check_spheres(spheres).astype(np.float64)
    h = as_float(half_height, "half_height")
    if h <= 0:
        raise ValueError(f"half_height must be > 0, got {h}")
    inside = np.abs(s[:, 2]) + s[:, 3] < h
    d = 2.0 * s[inside, 3]
    if d.size == 0:
        return {"n_voids": float(len(s)), "n_inside": 0.0}
    vol = d**3
    q05, q50, q95 = np.quantile(d, [0.05, 0.5, 0.95])
    return {
        "n_voids": float(len(s)),
        "n_inside": float(d.size),
        "diameter_min": float(d.min()),
        "diameter_q05": float(q05),
        "diameter_median": float(q50),
        "diameter_q95": float(q95),
        "diameter_max": float(d.max()),
        "volume_fraction_d25_70": float(vol[(d >= 25) & (d <= 70)].sum() / vol.sum()),
    }
