"""Image-fidelity metrics of a result against the ground truth (scikit-image underneath).

Volumes are in material-fraction units, so the data range of the ground truth is 1 (pores 0,
matrix 1); it is passed explicitly rather than guessed from the data.
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio


def _pair(result: np.ndarray, truth: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(result, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"result and truth shapes differ: {a.shape} vs {b.shape}")
    if a.size == 0:
        raise ValueError("empty volumes")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("volumes contain NaN or infinite values")
    if mask is not None:
        m = np.broadcast_to(np.asarray(mask, dtype=bool), a.shape)
        if not m.any():
            raise ValueError("mask selects no voxel")
        a, b = a[m], b[m]
    return a, b


def mse(result: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean squared error, over ``mask`` if given."""
    a, b = _pair(result, truth, mask)
    return float(mean_squared_error(b, a))


def psnr(
    result: np.ndarray, truth: np.ndarray, data_range: float = 1.0, mask: np.ndarray | None = None
) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range² / MSE)``, over ``mask`` if given."""
    if not data_range > 0:
        raise ValueError(f"data_range must be > 0, got {data_range}")
    a, b = _pair(result, truth, mask)
    return float(peak_signal_noise_ratio(b, a, data_range=data_range))


def disc_mask(shape_yx: tuple[int, int], radius_voxels: float) -> np.ndarray:
    """(y, x) mask of voxel centres within ``radius_voxels`` of the slice centre."""
    ny, nx = shape_yx
    yy = np.arange(ny) - (ny - 1) / 2.0
    xx = np.arange(nx) - (nx - 1) / 2.0
    return yy[:, None] ** 2 + xx[None, :] ** 2 <= radius_voxels**2


def cylinder_mask(shape: tuple[int, int, int], radius_voxels: float) -> np.ndarray:
    """(z, y, x) mask of a centred cylinder along z (the foam's bulk)."""
    return np.broadcast_to(disc_mask(shape[1:], radius_voxels), tuple(shape))
