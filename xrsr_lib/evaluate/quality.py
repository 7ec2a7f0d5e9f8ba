"""Voxel-wise image fidelity of a result against the ground truth: MSE, PSNR and SSIM.

Volumes are in material-fraction units, so the data range of the ground truth is 1 (pores 0,
matrix 1); it is passed explicitly rather than guessed from the data. MSE and PSNR by scikit-image;
SSIM computed here with scikit-image's statistics (tested equal to it).

Contents
--------
- :func:`mse`, :func:`psnr`: voxel-wise errors (over an optional mask).
- :func:`ssim`, :func:`ssim_map`: N-D structural similarity (Wang et al. 2004), scikit-image's map.
- The validation helpers and the SSIM kernel shared with :mod:`~xrsr_lib.evaluate.msssim` and
  :mod:`~xrsr_lib.evaluate.resolution` (:func:`check_metric_array`, :func:`check_metric_arrays`,
  :func:`check_mask`, :func:`check_positive`, :func:`masked_mean`, :func:`local_ssim_terms`).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio

from xrsr_lib.io.validate import check_array, check_real

__all__ = [
    "K1",
    "K2",
    "SSIM_TRUNCATE",
    "check_mask",
    "check_positive",
    "check_metric_array",
    "check_metric_arrays",
    "local_ssim_terms",
    "masked_mean",
    "match_grey_scale",
    "mse",
    "psnr",
    "ssim",
    "ssim_map",
]

#: SSIM constants of Wang et al. (2004): C1 = (K1·L)², C2 = (K2·L)² with L the data range.
K1 = 0.01
K2 = 0.03
#: Truncation of the Gaussian SSIM window in units of σ, as in scikit-image (11 taps for σ = 1.5).
SSIM_TRUNCATE = 3.5


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
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range² / MSE)``, over ``mask`` if given.

    It is ``inf`` for identical images.
    """
    if not data_range > 0:
        raise ValueError(f"data_range must be > 0, got {data_range}")
    a, b = _pair(result, truth, mask)
    if np.array_equal(a, b):
        return float("inf")
    return float(peak_signal_noise_ratio(b, a, data_range=data_range))


# ----------------------------------------------------------------------------------------------------
# Validation helpers (full volumes kept, unlike _pair which returns the masked voxels)
# ----------------------------------------------------------------------------------------------------


def check_metric_array(x: np.ndarray, name: str, dtype: type = np.float64) -> np.ndarray:
    """Return ``x`` as a finite, real, non-empty array of ``dtype`` (any number of axes).

    Raises
    ------
    ValueError
        Naming ``name`` and what is wrong (:func:`xrsr_lib.io.validate.check_array`).
    """
    return check_array(x, name, None, dtype=dtype)


def check_metric_arrays(
    result: np.ndarray, truth: np.ndarray, mask: np.ndarray | None, dtype: type = np.float64
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Return ``(result, truth, mask)`` validated: same shape, finite, mask boolean and non-empty.

    The mask is broadcast to the volumes' shape.
    """
    r, t = np.asarray(result), np.asarray(truth)
    if r.shape != t.shape:
        raise ValueError(f"result and truth shapes differ: {r.shape} vs {t.shape}")
    a, b = check_metric_array(r, "result", dtype), check_metric_array(t, "truth", dtype)
    return a, b, check_mask(mask, a.shape)


def check_mask(mask: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    """Return ``mask`` as bool broadcast to ``shape`` (None stays None).

    Raises
    ------
    ValueError
        If the mask does not broadcast to ``shape`` or selects no voxel.
    """
    if mask is None:
        return None
    try:
        m = np.broadcast_to(np.asarray(mask, dtype=bool), shape)
    except ValueError as exc:
        raise ValueError(f"mask of shape {np.shape(mask)} does not broadcast to {shape}") from exc
    if not m.any():
        raise ValueError("mask selects no voxel")
    return m


def check_positive(value: float, name: str) -> float:
    """Return ``value`` as a float if it is a finite number > 0; else raise ValueError naming ``name``."""
    return check_real(value, name, 0.0, strict=True)


def masked_mean(a: np.ndarray, mask: np.ndarray | None) -> float:
    """Return the mean of ``a`` (accumulated in float64) over ``mask``, or over all of it without one."""
    return float(a.mean(dtype=np.float64) if mask is None else a[mask].mean(dtype=np.float64))


# ----------------------------------------------------------------------------------------------------
# SSIM
# ----------------------------------------------------------------------------------------------------


def local_ssim_terms(
    x: np.ndarray, y: np.ndarray, sigma: float, c1: float, c2: float, luminance: bool
) -> np.ndarray:
    """Local contrast·structure map, times the luminance map if ``luminance`` (then: the SSIM map).

    Same statistics as scikit-image's ``structural_similarity`` (Gaussian σ truncated at 3.5 σ, reflect
    borders, population covariances), written with in-place operations to limit the peak memory.
    """
    kw = {"sigma": sigma, "truncate": SSIM_TRUNCATE, "mode": "reflect"}
    ux = gaussian_filter(x, **kw)
    uy = gaussian_filter(y, **kw)
    tmp = x * x
    vx = gaussian_filter(tmp, **kw)
    vx -= ux * ux
    np.multiply(y, y, out=tmp)
    vy = gaussian_filter(tmp, **kw)
    vy -= uy * uy
    np.multiply(x, y, out=tmp)
    vxy = gaussian_filter(tmp, **kw)
    np.multiply(ux, uy, out=tmp)
    vxy -= tmp  # covariance
    # contrast·structure = (2 σxy + C2) / (σx² + σy² + C2)
    cs = vxy
    cs *= 2.0
    cs += c2
    vx += vy
    vx += c2
    cs /= vx
    del vx, vy
    if luminance:
        # luminance = (2 μx μy + C1) / (μx² + μy² + C1); tmp holds μx μy
        tmp *= 2.0
        tmp += c1
        ux *= ux
        uy *= uy
        ux += uy
        ux += c1
        tmp /= ux
        cs *= tmp
    return cs


def ssim_map(
    result: np.ndarray, truth: np.ndarray, data_range: float = 1.0, sigma: float = 1.5
) -> np.ndarray:
    """Local SSIM map (Wang et al. 2004), same shape as the inputs, equal to scikit-image's.

    The map of ``skimage.metrics.structural_similarity(truth, result, gaussian_weights=True, sigma=sigma,
    use_sample_covariance=False, data_range=data_range, full=True)`` (to float64 round-off), computed
    with in-place operations (about 2.3x faster at 256³ and fewer temporaries): Gaussian-weighted local means,
    variances and covariance (population normalisation), Gaussian truncated at 3.5 σ (an 11-voxel
    window per axis for σ = 1.5), borders handled by reflection (``mode='reflect'``), constants
    ``C1 = (0.01·data_range)²`` and ``C2 = (0.03·data_range)²``.

    Parameters
    ----------
    result, truth : np.ndarray
        Volumes (any dimensionality, same shape, finite). Converted to float64: the local variances are
        differences of filtered squares, too inaccurate in float32 next to ``C2 ≈ 1e-3``; at 512³ the
        computation holds about 9 float64 volumes (≈ 10 GB; scikit-image's own about 20).
    data_range : float, default 1.0
        Data range ``L`` of the truth (material fraction: 1).
    sigma : float, default 1.5
        Standard deviation of the Gaussian window, voxels.

    Returns
    -------
    np.ndarray
        float64 SSIM map, values in [-1, 1].

    Raises
    ------
    ValueError
        Different shapes, NaN/inf, ``data_range`` or ``sigma`` not > 0, or a side shorter than the window
        (``2·int(3.5·σ + 0.5) + 1`` voxels, 11 for σ = 1.5; scikit-image's limit).
    """
    a, b, _ = check_metric_arrays(result, truth, None)
    return _ssim_map_checked(a, b, data_range, sigma)


def _ssim_map_checked(a: np.ndarray, b: np.ndarray, data_range: float, sigma: float) -> np.ndarray:
    data_range = check_positive(data_range, "data_range")
    sigma = check_positive(sigma, "sigma")
    win = 2 * int(SSIM_TRUNCATE * sigma + 0.5) + 1
    if min(a.shape) < win:
        raise ValueError(
            f"SSIM with sigma={sigma} needs every side >= {win} voxels (the Gaussian window), "
            f"got shape {a.shape}"
        )
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    return local_ssim_terms(a, b, sigma, c1, c2, luminance=True)


def ssim(
    result: np.ndarray,
    truth: np.ndarray,
    data_range: float = 1.0,
    mask: np.ndarray | None = None,
    sigma: float = 1.5,
) -> float:
    """Mean SSIM (Wang et al. 2004) of ``result`` against ``truth``, over ``mask`` if given.

    The local map is :func:`ssim_map` (scikit-image, Gaussian window σ = 1.5 truncated at 3.5 σ,
    population covariances, K1 = 0.01, K2 = 0.03, reflected borders). The score is the mean of the
    **full** map, over ``mask`` when given, otherwise over every voxel. Note that scikit-image's own
    scalar instead averages the map cropped by ``(win_size - 1) // 2`` = 5 voxels at each border;
    the full-map mean is used here so that ``mask=None`` and an all-true mask agree, and so that
    :func:`ms_ssim_3d` with ``scales=1`` gives the same number (MATLAB's ``ssim`` also averages the
    full map). Reproduce scikit-image's scalar with ``ssim_map(...)[5:-5, 5:-5, 5:-5].mean()``.

    Parameters
    ----------
    result, truth : np.ndarray
        Volumes of the same shape (any dimensionality), finite; computed in float64.
    data_range : float, default 1.0
        Data range ``L`` of the truth, ``C1 = (0.01 L)²``, ``C2 = (0.03 L)²``.
    mask : np.ndarray of bool, optional
        Voxels over which the map is averaged (broadcast to the volume shape). The local statistics
        still use the neighbours outside the mask.
    sigma : float, default 1.5
        Standard deviation of the Gaussian window, voxels.

    Returns
    -------
    float
        Mean SSIM, 1 for identical volumes.

    Raises
    ------
    ValueError
        Different shapes, NaN/inf, empty mask, ``data_range`` or ``sigma`` not > 0, volume smaller than
        the window.
    """
    a, b, m = check_metric_arrays(result, truth, mask)
    return masked_mean(_ssim_map_checked(a, b, data_range, sigma), m)


def match_grey_scale(
    image: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None
) -> tuple[np.ndarray, float, float]:
    """``gain · image + offset`` fitted to ``reference`` by least squares (inside ``mask``).

    Scans taken at other energies or with other detectors differ in grey scale; before an image is
    scored against a reference of another scan (or the exact phantom), its grey values are mapped
    onto the reference's by this affine fit.

    Returns
    -------
    matched : ndarray float32
    gain, offset : float
    """
    a, b, m = check_metric_arrays(image, reference, mask)
    x = a if m is None else a[m]
    y = b if m is None else b[m]
    xm, ym = float(x.mean()), float(y.mean())
    var = float(((x - xm) ** 2).mean())
    gain = float(((x - xm) * (y - ym)).mean() / var) if var > 0 else 0.0
    offset = ym - gain * xm
    return (gain * a + offset).astype(np.float32), gain, offset
