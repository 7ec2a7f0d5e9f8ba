"""Per-voxel signals of where a recovered volume may be wrong, computed without ground truth.

Each is a non-negative map on the prediction's grid; large means "less trustworthy":

- :func:`tta_spread`: how much the prediction changes under the eight in-plane symmetries of a
  slice (flips and 90° turns about z). A network that learned the physics answers the same for a
  turned sample; where it invents structure the answers disagree.
- :func:`ensemble_spread`: how much models trained from different seeds disagree.
- :func:`data_consistency`: how far the prediction, degraded again by the blur that maps the HRES
  grid to the LRES input, lies from the measured input. A hallucinated pore is not in the data.

:func:`local_mean` smooths any of them (the error of a recovered voxel is shared by its
neighbours; a smoothed score ranks regions, not noise).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.ndimage import gaussian_filter

__all__ = [
    "DIHEDRAL_YX",
    "data_consistency",
    "ensemble_spread",
    "invert_yx",
    "local_mean",
    "transform_yx",
    "tta_spread",
]

#: The eight symmetries of a square slice as (quarter turns about z, then flip x): identity first,
#: then the flips and turns that :func:`tta_spread` uses when asked for fewer than eight.
DIHEDRAL_YX: tuple[tuple[int, bool], ...] = (
    (0, False),
    (0, True),
    (2, False),
    (2, True),
    (1, False),
    (1, True),
    (3, False),
    (3, True),
)


def _volume(x: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 3:
        raise ValueError(f"{name} must be a 3-D volume (z, y, x), got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} has NaN or infinite values")
    return a


def transform_yx(volume: np.ndarray, k: int, flip: bool) -> np.ndarray:
    """Turn a volume by ``k`` quarter turns in the (y, x) plane, then flip x when ``flip``."""
    out = np.rot90(volume, k, axes=(-2, -1))
    return out[..., ::-1] if flip else out


def invert_yx(volume: np.ndarray, k: int, flip: bool) -> np.ndarray:
    """Undo :func:`transform_yx` (flip first, then turn back)."""
    out = volume[..., ::-1] if flip else volume
    return np.rot90(out, -k, axes=(-2, -1))


def tta_spread(
    predict: Callable[[np.ndarray], np.ndarray], volume: np.ndarray, n_transforms: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """Test-time augmentation: mean and standard deviation over in-plane symmetries.

    Parameters
    ----------
    predict : callable
        Maps an input volume (z, y, x) to the prediction on the same grid (e.g.
        ``LoadedModel.predict``). Slices that are not square are fine for fully convolutional networks.
    volume : ndarray (z, y, x)
        The input, already on the prediction grid.
    n_transforms : int
        How many of :data:`DIHEDRAL_YX` to use, 2 to 8 (identity, x flip, half turn, ... ).

    Returns
    -------
    mean, spread : ndarray (z, y, x), float32
        The mean prediction and the standard deviation (ddof 0) over the transforms, per voxel.
    """
    vol = _volume(volume, "volume")
    if not 2 <= int(n_transforms) <= 8:
        raise ValueError(f"n_transforms must be 2 to 8, got {n_transforms}")
    total = sq = None
    for k, flip in DIHEDRAL_YX[: int(n_transforms)]:
        y = invert_yx(np.asarray(predict(np.ascontiguousarray(transform_yx(vol, k, flip)))), k, flip)
        if y.shape != vol.shape:
            raise ValueError(f"predict returned shape {y.shape} for an input of {vol.shape}")
        y = y.astype(np.float64)
        total = y if total is None else total + y
        sq = y * y if sq is None else sq + y * y
    assert total is not None and sq is not None
    mean = total / n_transforms
    var = np.maximum(sq / n_transforms - mean * mean, 0.0)
    return mean.astype(np.float32), np.sqrt(var).astype(np.float32)


def ensemble_spread(predictions: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation (ddof 0) of the predictions of K models, per voxel (K ≥ 2)."""
    if len(predictions) < 2:
        raise ValueError(f"an ensemble needs at least 2 predictions, got {len(predictions)}")
    stack = [_volume(p, f"prediction {i}") for i, p in enumerate(predictions)]
    if len({p.shape for p in stack}) != 1:
        raise ValueError(f"the predictions differ in shape: {[p.shape for p in stack]}")
    arr = np.stack(stack).astype(np.float64)
    return arr.mean(0).astype(np.float32), arr.std(0).astype(np.float32)


def local_mean(score: np.ndarray, sigma_voxels: float) -> np.ndarray:
    """Gaussian-weighted local mean of a map (σ in voxels; 0 returns it as float32)."""
    s = _volume(score, "score").astype(np.float32)
    if sigma_voxels < 0:
        raise ValueError(f"sigma_voxels must be >= 0, got {sigma_voxels}")
    return gaussian_filter(s, sigma_voxels, mode="nearest") if sigma_voxels > 0 else s


def data_consistency(
    prediction: np.ndarray, observed: np.ndarray, blur_sigma_voxels: float, smooth_voxels: float = 2.0
) -> np.ndarray:
    """Root local mean square of ``blur(prediction) - observed``: disagreement with the measured input.

    Parameters
    ----------
    prediction : ndarray (z, y, x)
        The recovered volume.
    observed : ndarray (z, y, x)
        The low-resolution input on the same grid (resampled there) and in the same grey scale.
    blur_sigma_voxels : float
        σ (voxels of this grid) of the Gaussian blur that maps the high-resolution image to the
        low-resolution one: known in a simulation, fitted on the overlap for real scans
        (:func:`xrsr_lib.evaluate.resolution.gaussian_fit` of the LRES on the HRES).
    smooth_voxels : float
        σ of the Gaussian window of the local mean square (the input's noise averages out over it).

    Returns
    -------
    ndarray (z, y, x), float32
        ``sqrt(local_mean((G_σ * prediction - observed)²))``, in the images' grey units.
    """
    p = _volume(prediction, "prediction").astype(np.float32)
    o = _volume(observed, "observed").astype(np.float32)
    if p.shape != o.shape:
        raise ValueError(f"prediction {p.shape} and observed {o.shape} differ in shape")
    if blur_sigma_voxels < 0:
        raise ValueError(f"blur_sigma_voxels must be >= 0, got {blur_sigma_voxels}")
    r = gaussian_filter(p, blur_sigma_voxels, mode="nearest") - o if blur_sigma_voxels > 0 else p - o
    return np.sqrt(local_mean(r * r, smooth_voxels))
