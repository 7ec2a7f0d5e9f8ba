"""Detector blur and photon noise applied to projections.

The physical order is kept: the detector point-spread function blurs the *intensity*
``I0 · exp(-µ p)`` reaching it, photon counting then adds Poisson noise, and the data handed to
reconstruction are ``-ln(I / I0) / µ`` (material path length, so FDK returns material fraction).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import gaussian_filter
from tqdm.auto import tqdm

from xrsr_lib.io.validate import check_array, check_real

__all__ = ["blur_projections", "degrade_projections"]


def _check_sigma(sigma_px: float) -> float:
    return check_real(sigma_px, "blur sigma", 0.0, unit=" pixels")


def _check_stack(projs: np.ndarray, name: str) -> np.ndarray:
    """Check that ``projs`` is a (n_angles, rows, cols) projection stack and return it as an array."""
    return check_array(projs, name, 3, dtype=None, axes="(n_angles, rows, cols)")


def blur_projections(intensity: np.ndarray, sigma_px: float, truncate: float = 4.0) -> np.ndarray:
    """2D Gaussian blur of every projection (not across angles).

    Borders are extended with the nearest value (the flat field outside the object), so the
    total intensity is preserved for an object that does not touch the detector edge.

    Parameters
    ----------
    intensity : ndarray, shape (n_angles, rows, cols)
    sigma_px : float
        Standard deviation in detector pixels; 0 returns a copy.
    """
    arr = _check_stack(intensity, "intensity").astype(np.float32)
    sigma = _check_sigma(sigma_px)
    if sigma == 0:
        return arr.copy()
    out = np.empty_like(arr)
    for i in range(arr.shape[0]):
        gaussian_filter(arr[i], sigma, output=out[i], mode="nearest", truncate=truncate)
    return out


def degrade_projections(
    path_length: np.ndarray,
    sigma_px: float,
    attenuation: float,
    photons: float | None,
    seed: int | np.random.SeedSequence | None,
    progress: bool = False,
) -> np.ndarray:
    """Blur in the intensity domain, add Poisson noise, and return noisy path lengths.

    Parameters
    ----------
    path_length : ndarray, shape (n_angles, rows, cols)
        Exact material path length per ray (µm).
    sigma_px : float
        Gaussian blur σ in detector pixels (>= 0).
    attenuation : float
        Linear attenuation µ of the material (1/µm): ``I = I0 exp(-µ p)``.
    photons : float or None
        Flat-field counts ``I0`` per pixel; ``None`` skips noise (blur only).
    seed : int or SeedSequence or None
        Seed of the noise realization (each dataset should get its own).
    progress : bool
        Show a progress bar over projections.

    Returns
    -------
    ndarray, float32, same shape
        ``-ln(I / I0) / µ``; counts of zero are set to one photon, as a detector would report.
    """
    p = _check_stack(path_length, "path_length")
    sigma = _check_sigma(sigma_px)
    if not (math.isfinite(attenuation) and attenuation > 0):
        raise ValueError(f"attenuation must be > 0 (1/µm), got {attenuation}")
    if photons is not None and not (math.isfinite(photons) and photons > 0):
        raise ValueError(f"photons (I0) must be > 0 or None, got {photons}")
    rng = np.random.default_rng(seed)
    i0 = 1.0 if photons is None else float(photons)
    out = np.empty(p.shape, dtype=np.float32)
    for i in tqdm(range(p.shape[0]), desc="degrade", disable=not progress, leave=False):
        intensity = i0 * np.exp(-attenuation * p[i].astype(np.float64))
        if sigma > 0:
            intensity = gaussian_filter(intensity, sigma, mode="nearest", truncate=4.0)
        if photons is not None:
            intensity = np.maximum(rng.poisson(intensity), 1).astype(np.float64)
        out[i] = (-np.log(intensity / i0) / attenuation).astype(np.float32)
    return out
