"""Image-fidelity metrics of a result against the ground truth (scikit-image underneath).

Volumes are in material-fraction units, so the data range of the ground truth is 1 (pores 0,
matrix 1); it is passed explicitly rather than guessed from the data.

Contents
--------
- :func:`mse`, :func:`psnr`: voxel-wise errors (over an optional mask).
- :func:`ssim`, :func:`ssim_map`: N-D structural similarity (Wang et al. 2004) via scikit-image.
- :func:`ms_ssim_3d`: N-D multiscale SSIM (Wang, Simoncelli & Bovik 2003), with per-scale quality
  maps, following the semantics of MATLAB's ``multissim3``.
- :func:`gaussian_fit`: effective resolution as the σ of the 3D Gaussian blur of the truth that best
  matches a result (study A, Fig. 9).
- :func:`disc_mask`, :func:`cylinder_mask`: masks of the foam's bulk.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from scipy.ndimage import gaussian_filter
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

from xrsr_lib.prepare.masks import cylinder_mask, disc_mask  # noqa: F401  (re-exported: masks of the foam bulk)

if TYPE_CHECKING:  # torch is imported lazily by gaussian_fit only
    import torch

#: SSIM constants of Wang et al. (2004): C1 = (K1·L)², C2 = (K2·L)² with L the data range.
K1 = 0.01
K2 = 0.03
#: Truncation of the Gaussian SSIM window in units of σ, as in scikit-image (11 taps for σ = 1.5).
SSIM_TRUNCATE = 3.5
#: MS-SSIM scale weights of Wang et al. (2003), also MATLAB's ``multissim``/``multissim3`` default.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
#: Smallest side (voxels) allowed at the coarsest MS-SSIM scale.
MS_SSIM_MIN_SIDE = 4
#: FWHM of a Gaussian in units of its σ, 2·sqrt(2·ln 2) ≈ 2.3548.
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


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
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range² / MSE)``, over ``mask`` if given
    (``inf`` for identical images)."""
    if not data_range > 0:
        raise ValueError(f"data_range must be > 0, got {data_range}")
    a, b = _pair(result, truth, mask)
    if np.array_equal(a, b):
        return float("inf")
    return float(peak_signal_noise_ratio(b, a, data_range=data_range))


# ----------------------------------------------------------------------------------------------------
# Validation helpers (full volumes kept, unlike _pair which returns the masked voxels)
# ----------------------------------------------------------------------------------------------------


def _volume(x: np.ndarray, name: str, dtype: type = np.float64) -> np.ndarray:
    a = np.asarray(x)
    if a.size == 0:
        raise ValueError(f"{name} is empty")
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_) or np.iscomplexobj(a):
        raise ValueError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    a = a.astype(dtype, copy=False)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def _volumes(
    result: np.ndarray, truth: np.ndarray, mask: np.ndarray | None, dtype: type = np.float64
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validated ``(result, truth, mask)``: same shape, finite, mask broadcast to bool and non-empty."""
    r, t = np.asarray(result), np.asarray(truth)
    if r.shape != t.shape:
        raise ValueError(f"result and truth shapes differ: {r.shape} vs {t.shape}")
    a, b = _volume(r, "result", dtype), _volume(t, "truth", dtype)
    return a, b, _mask(mask, a.shape)


def _mask(mask: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    if mask is None:
        return None
    try:
        m = np.broadcast_to(np.asarray(mask, dtype=bool), shape)
    except ValueError as exc:
        raise ValueError(f"mask of shape {np.shape(mask)} does not broadcast to {shape}") from exc
    if not m.any():
        raise ValueError("mask selects no voxel")
    return m


def _check_positive(value: float, name: str) -> float:
    if not (np.isscalar(value) and np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _masked_mean(a: np.ndarray, mask: np.ndarray | None) -> float:
    return float(a.mean(dtype=np.float64) if mask is None else a[mask].mean(dtype=np.float64))


# ----------------------------------------------------------------------------------------------------
# SSIM
# ----------------------------------------------------------------------------------------------------


def ssim_map(
    result: np.ndarray, truth: np.ndarray, data_range: float = 1.0, sigma: float = 1.5
) -> np.ndarray:
    """Local SSIM map (Wang et al. 2004), same shape as the inputs, via scikit-image.

    Calls ``skimage.metrics.structural_similarity(truth, result, gaussian_weights=True, sigma=sigma,
    use_sample_covariance=False, data_range=data_range, full=True)``: Gaussian-weighted local means,
    variances and covariance (population normalisation), Gaussian truncated at 3.5 σ (an 11-voxel
    window per axis for σ = 1.5), borders handled by reflection (``mode='reflect'``), constants
    ``C1 = (0.01·data_range)²`` and ``C2 = (0.03·data_range)²``.

    Parameters
    ----------
    result, truth : np.ndarray
        Volumes (any dimensionality, same shape, finite). Converted to float64: the local variances are
        differences of filtered squares, too inaccurate in float32 next to ``C2 ≈ 1e-3``; at 512³ the
        computation peaks at about 20 float64 volumes (≈ 20 GB), fine on a 128 GB machine.
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
    a, b, _ = _volumes(result, truth, None)
    return _ssim_map_checked(a, b, data_range, sigma)


def _ssim_map_checked(a: np.ndarray, b: np.ndarray, data_range: float, sigma: float) -> np.ndarray:
    data_range = _check_positive(data_range, "data_range")
    sigma = _check_positive(sigma, "sigma")
    win = 2 * int(SSIM_TRUNCATE * sigma + 0.5) + 1
    if min(a.shape) < win:
        raise ValueError(
            f"SSIM with sigma={sigma} needs every side >= {win} voxels (the Gaussian window), "
            f"got shape {a.shape}"
        )
    _, smap = structural_similarity(
        b, a, gaussian_weights=True, sigma=sigma, use_sample_covariance=False, data_range=data_range,
        K1=K1, K2=K2, full=True,
    )
    return smap


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
    a, b, m = _volumes(result, truth, mask)
    return _masked_mean(_ssim_map_checked(a, b, data_range, sigma), m)


# ----------------------------------------------------------------------------------------------------
# Multiscale SSIM
# ----------------------------------------------------------------------------------------------------


def _local_ssim_terms(
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


def _downsample2(a: np.ndarray) -> np.ndarray:
    """Mean over 2×…×2 blocks; an odd side is first padded by repeating its last slice.

    This is the low-pass + decimation of Wang et al.'s reference MS-SSIM code (a 2-tap box filter with
    symmetric borders, keeping every other sample), extended to N-D. Output side ``ceil(n / 2)``.
    """
    pad = [(0, s % 2) for s in a.shape]
    if any(p for _, p in pad):
        a = np.pad(a, pad, mode="edge")
    out = a
    for ax in range(a.ndim):
        lo = np.take(out, np.arange(0, out.shape[ax], 2), axis=ax)
        hi = np.take(out, np.arange(1, out.shape[ax], 2), axis=ax)
        lo += hi
        lo *= 0.5
        out = lo
    return out


def _upsample_linear(a: np.ndarray, factor: int, shape: tuple[int, ...]) -> np.ndarray:
    """Separable linear interpolation of a map pooled ``factor``× back to ``shape``.

    Coarse voxel ``i`` covers fine voxels ``[factor·i, factor·(i+1))``, so fine coordinate ``x`` sits at
    coarse coordinate ``(x + 0.5) / factor - 0.5``; values beyond the outermost coarse centres are held
    constant. A convex combination of neighbours, so the output stays within the input's range.
    """
    out = a
    for ax, n_out in enumerate(shape):
        n_in = out.shape[ax]
        if factor == 1 and n_in == n_out:
            continue
        c = np.clip((np.arange(n_out) + 0.5) / factor - 0.5, 0.0, n_in - 1)
        i0 = np.floor(c).astype(np.intp)
        i1 = np.minimum(i0 + 1, n_in - 1)
        t = (c - i0).reshape([-1 if k == ax else 1 for k in range(out.ndim)])
        lo = np.take(out, i0, axis=ax)
        hi = np.take(out, i1, axis=ax)
        hi -= lo
        hi *= t
        lo += hi
        out = lo
    return out


@dataclass(frozen=True, eq=False)
class MultiscaleSSIM:
    """Result of :func:`ms_ssim_3d`.

    Attributes
    ----------
    score : float
        Global MS-SSIM, ``Π_j max(mean_j, 0) ** w_j``.
    maps : list of np.ndarray
        Local quality map per scale (finest first), each the shape of that scale: the
        contrast·structure map at scales 1..M-1 and the full SSIM map (luminance·contrast·structure)
        at the coarsest scale M.
    weights : tuple of float
        Exponent ``w_j`` per scale.
    sigma : float
        σ of the Gaussian SSIM window (voxels of each scale).
    scale_means : tuple of float
        ``mean_j``: mean of ``maps[j]`` over the mask at that scale (before clipping at 0).
    """

    score: float
    maps: list[np.ndarray] = field(repr=False)
    weights: tuple[float, ...]
    sigma: float
    scale_means: tuple[float, ...] = ()

    def combined_map(self) -> np.ndarray:
        """Local MS-SSIM per voxel at full resolution, ``Π_j max(up(map_j), 0) ** w_j``.

        Each per-scale map is brought back to the shape of ``maps[0]`` by separable linear
        interpolation consistent with the 2× block pooling (see :func:`_upsample_linear`), clipped at 0
        and raised to its weight. Values lie in [0, 1] (maps are ≤ 1 up to round-off).

        Returns
        -------
        np.ndarray
            float64 array of the full-resolution shape.
        """
        shape = self.maps[0].shape
        out = np.ones(shape, dtype=np.float64)
        for j, (m, w) in enumerate(zip(self.maps, self.weights, strict=True)):
            up = _upsample_linear(np.asarray(m, dtype=np.float64), 2**j, shape)
            np.maximum(up, 0.0, out=up)
            np.power(up, w, out=up)
            out *= up
        return out


def _scale_weights(scales: int, weights: object) -> tuple[float, ...]:
    if isinstance(scales, bool) or not isinstance(scales, (int, np.integer)) or scales < 1:
        raise ValueError(f"scales must be an integer >= 1, got {scales!r}")
    if weights is None:
        if scales > len(MS_SSIM_WEIGHTS):
            raise ValueError(
                f"default weights exist for at most {len(MS_SSIM_WEIGHTS)} scales, got scales={scales}; "
                "pass weights explicitly"
            )
        if scales == len(MS_SSIM_WEIGHTS):
            return MS_SSIM_WEIGHTS
        w = np.asarray(MS_SSIM_WEIGHTS[:scales], dtype=np.float64)
        return tuple(float(v) for v in w / w.sum())
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or w.size != scales:
        raise ValueError(f"weights must be a sequence of {scales} values (one per scale), got {weights!r}")
    if not (np.all(np.isfinite(w)) and np.all(w >= 0)):
        raise ValueError(f"weights must be finite and >= 0, got {weights!r}")
    return tuple(float(v) for v in w)


def ms_ssim_3d(
    result: np.ndarray,
    truth: np.ndarray,
    data_range: float = 1.0,
    scales: int = 5,
    weights: tuple[float, ...] | list[float] | np.ndarray | None = None,
    sigma: float = 1.5,
    mask: np.ndarray | None = None,
) -> MultiscaleSSIM:
    """Multiscale SSIM (Wang, Simoncelli & Bovik 2003) of a volume, with local quality maps.

    Follows the semantics of MATLAB's ``multissim3`` (score plus one quality map per scale); works for
    any dimensionality. The algorithm and all defaults are listed under Notes.

    Parameters
    ----------
    result, truth : np.ndarray
        Volumes of the same shape, finite; computed in float64 (≈ 12 float64 volumes at peak for the
        finest scale: ~12 GB at 512³).
    data_range : float, default 1.0
        Data range ``L`` of the truth.
    scales : int, default 5
        Number of scales M.
    weights : sequence of float, optional
        Exponent per scale (finest first), length ``scales``, finite and ≥ 0.
    sigma : float, default 1.5
        Standard deviation of the Gaussian window, voxels.
    mask : np.ndarray of bool, optional
        Voxels over which the maps are averaged (broadcast to the volume shape).

    Returns
    -------
    MultiscaleSSIM
        Score, per-scale maps, weights, σ and per-scale means; ``combined_map()`` gives the local
        MS-SSIM at full resolution.

    Raises
    ------
    ValueError
        Different shapes, NaN/inf, empty mask (at any scale), bad ``data_range``/``sigma``/``scales``/
        ``weights``, or a volume too small: every side must stay ≥ 4 voxels at the coarsest scale.

    Notes
    -----
    - Scale 1 is the input; scale ``j + 1`` is scale ``j`` low-passed and decimated by 2 along every
      axis with a 2×2×2 block mean (an odd side repeats its last slice first, giving ``ceil(n/2)``). This
      is the 2-tap box filter + decimation of Wang et al.'s reference MS-SSIM implementation (also used
      by pytorch-msssim's average pooling). MATLAB's downsampling filter is not documented; its results
      may differ slightly.
    - Local statistics at every scale: Gaussian window of ``sigma`` (default 1.5) voxels of that scale,
      truncated at 3.5 σ (11 taps for σ = 1.5), reflected borders, population (co)variances; identical to
      :func:`ssim_map`. Constants ``C1 = (0.01·data_range)²``, ``C2 = (0.03·data_range)²``.
    - Scales 1..M-1 contribute the contrast·structure map ``(2σxy + C2) / (σx² + σy² + C2)``; the
      coarsest scale M the full SSIM map (luminance · contrast·structure).
    - ``scales`` default 5; ``weights`` default ``(0.0448, 0.2856, 0.3001, 0.2363, 0.1333)`` (Wang et al.
      2003, MATLAB's default, used as published for 5 scales). For ``scales < 5`` with ``weights=None``
      the first ``scales`` default weights are renormalised to sum 1 (``scales=1`` → weight 1, so the
      score equals :func:`ssim` with the same σ and mask). User weights are used as given.
    - Score ``Π_j max(mean_j, 0) ** w_j`` where ``mean_j`` is the mean of ``maps[j]`` over the mask at
      that scale (the whole map when ``mask`` is None; maps are not border-cropped). A negative mean is
      clipped to 0 before the power, so the score lies in [0, 1].
    - The mask is pooled with the volumes: a coarse voxel belongs to it when at least half of its
      (edge-padded) children do.

    References
    ----------
    Wang, Z., Simoncelli, E. P., Bovik, A. C. (2003). Multiscale structural similarity for image quality
    assessment. 37th Asilomar Conference on Signals, Systems & Computers, 1398-1402.
    """
    a, b, m = _volumes(result, truth, mask)
    data_range = _check_positive(data_range, "data_range")
    sigma = _check_positive(sigma, "sigma")
    w = _scale_weights(scales, weights)
    coarsest = tuple(-(-s // 2 ** (scales - 1)) for s in a.shape)
    if min(coarsest) < MS_SSIM_MIN_SIDE:
        raise ValueError(
            f"volume of shape {a.shape} is too small for {scales} scales: the coarsest scale would be "
            f"{coarsest}, sides must be >= {MS_SSIM_MIN_SIDE}; use fewer scales"
        )
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    maps: list[np.ndarray] = []
    means: list[float] = []
    for j in range(scales):
        if j > 0:
            a, b = _downsample2(a), _downsample2(b)
            if m is not None:
                m = _downsample2(m.astype(np.float32)) >= 0.5
                if not m.any():
                    raise ValueError(f"mask selects no voxel at scale {j + 1} (shape {m.shape})")
        smap = _local_ssim_terms(a, b, sigma, c1, c2, luminance=j == scales - 1)
        maps.append(smap)
        means.append(_masked_mean(smap, m))
    score = float(np.prod([max(mu, 0.0) ** wj for mu, wj in zip(means, w, strict=True)]))
    return MultiscaleSSIM(score=score, maps=maps, weights=w, sigma=sigma, scale_means=tuple(means))


# ----------------------------------------------------------------------------------------------------
# Gaussian-fit effective resolution
# ----------------------------------------------------------------------------------------------------


def default_fit_sigmas() -> np.ndarray:
    """σ grid of study A Fig. 9: 0 to 10 voxels in steps of 0.1 (101 values)."""
    return np.round(np.arange(0, 10.0001, 0.1), 10)


@dataclass(frozen=True, eq=False)
class GaussianFit:
    """Result of :func:`gaussian_fit`.

    Attributes
    ----------
    sigmas : np.ndarray
        σ grid (voxels).
    mse : dict of str to np.ndarray
        MSE curve per result, ``mse[name][k]`` = MSE(result, truth blurred with ``sigmas[k]``).
    best_sigma : dict of str to float
        Grid argmin of each curve: the effective resolution (σ, voxels) as defined in study A.
    refined_sigma : dict of str to float
        Vertex of the parabola through the grid minimum and its two neighbours, kept within those
        neighbours; equals ``best_sigma`` when the minimum is at an end of the grid.
    """

    sigmas: np.ndarray
    mse: dict[str, np.ndarray]
    best_sigma: dict[str, float]
    refined_sigma: dict[str, float]

    def fwhm(self, name: str | None = None, refined: bool = False) -> float:
        """Effective resolution as a FWHM, ``2·sqrt(2 ln 2)·σ`` (voxels).

        Parameters
        ----------
        name : str, optional
            Result name; may be omitted when there is one result.
        refined : bool, default False
            Use ``refined_sigma`` instead of the grid argmin.
        """
        if name is None:
            if len(self.best_sigma) != 1:
                raise ValueError(f"several results, name one of {sorted(self.best_sigma)}")
            (name,) = self.best_sigma
        if name not in self.best_sigma:
            raise KeyError(f"no result named {name!r}; have {sorted(self.best_sigma)}")
        src = self.refined_sigma if refined else self.best_sigma
        return FWHM_PER_SIGMA * src[name]

    @property
    def best_fwhm(self) -> dict[str, float]:
        """FWHM (voxels) of the grid-argmin σ of every result."""
        return {k: FWHM_PER_SIGMA * s for k, s in self.best_sigma.items()}


def _parabola_vertex(x: np.ndarray, y: np.ndarray, i: int) -> float:
    if i == 0 or i == len(x) - 1:
        return float(x[i])
    x0, x1, x2 = (float(v) for v in x[i - 1 : i + 2])
    y0, y1, y2 = (float(v) for v in y[i - 1 : i + 2])
    # Vertex of the interpolating parabola (works for a non-uniform grid).
    num = (x1 - x0) ** 2 * (y1 - y2) - (x1 - x2) ** 2 * (y1 - y0)
    den = (x1 - x0) * (y1 - y2) - (x1 - x2) * (y1 - y0)
    if den == 0 or not np.isfinite(num / den):
        return x1
    return float(np.clip(x1 - 0.5 * num / den, x0, x2))


def _fft_len(n: int) -> int:
    """Smallest even ``m >= n`` of the form 2^a 3^b 5^c 7^d with d <= 1 (fast for pocketfft and cuFFT)."""
    m = max(int(n), 2)
    while True:
        if m % 2 == 0:
            r = m
            for f in (2, 3, 5):
                while r % f == 0:
                    r //= f
            if r in (1, 7):
                return m
        m += 1


def _fit_sigmas(sigmas: object) -> np.ndarray:
    s = default_fit_sigmas() if sigmas is None else np.asarray(sigmas, dtype=np.float64)
    if s.ndim != 1 or s.size == 0:
        raise ValueError(f"sigmas must be a non-empty 1-D sequence, got shape {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("sigmas contain NaN or infinite values")
    if np.any(s < 0):
        raise ValueError(f"sigmas must be >= 0, got min {s.min()}")
    if np.any(np.diff(s) <= 0):
        raise ValueError("sigmas must be sorted in strictly increasing order")
    return s


def gaussian_fit(
    results: np.ndarray | Mapping[str, np.ndarray],
    truth: np.ndarray,
    sigmas: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> GaussianFit:
    """Effective resolution by fitting a 3D Gaussian blur of the truth to each result (study A Fig. 9).

    For every σ of the grid, the truth is blurred by an isotropic Gaussian of standard deviation σ
    (voxels) and the MSE against each result is recorded; the argmin of the curve is the result's
    effective resolution.

    Blur: the truth is padded by ``ceil(4·max σ)`` voxels per side with mirror reflection
    (``numpy.pad(mode='symmetric')``, scipy.ndimage's ``'reflect'``: edge voxel repeated, as used by
    ``gaussian_filter``), further extended at the high end of every axis to an FFT-friendly length, and
    Fourier-transformed once (torch.fft, float32, on :func:`xrsr_lib.device.resolve_device`: CUDA when
    present). Each σ multiplies the spectrum by the continuous Gaussian transfer function
    ``exp(-2π² σ² |f|²)`` (f in cycles/voxel), transforms back and crops the padding, so the periodic
    wrap of the FFT never mixes opposite faces. The transfer function of scipy's sampled, truncated
    kernel differs from the continuous one at small σ: the sampled kernel blurs less, so the fit of a
    ``gaussian_filter(truth, σ)`` result returns 0 for σ = 0.3 and 0.4 for σ = 0.5; from σ ≈ 0.7 on the
    grid argmin is exact (parabola-refined values within ~0.005 of σ for σ = 1…5, checked on a
    48³ foam). σ = 0 is the identity and
    is evaluated on the unblurred truth in float64, so ``mse[name][0] == mse(result, truth, mask)``
    exactly when the grid starts at 0. Other MSEs are float32 differences summed with torch's cascade
    summation (relative error ~1e-7).

    Cost: one inverse real FFT of the padded volume per σ plus one subtract-square-sum per (σ, result).
    Measured on the 2-core CPU development machine (torch 2 threads, a second job busy on one core),
    256³ truth padded to 336³, 101 σ, 5 results: 98 s (per σ ≈ 0.55 s inverse FFT, 0.15 s spectrum
    product, 0.04 s per result), so ≈ 2 min for 10 results; about half that on an idle machine. Memory:
    the padded spectrum, two work volumes and the float32 results (≈ 1 GB + 64 MB per result at 256³).
    ``ssim`` (scikit-image) takes ≈ 10 s and ``ms_ssim_3d`` ≈ 4.5 s at 256³ on the same machine.

    Parameters
    ----------
    results : np.ndarray or Mapping[str, np.ndarray]
        One result (named ``"result"``) or several named results, each the truth's shape, finite.
    truth : np.ndarray
        Ground truth, finite.
    sigmas : array_like, optional
        σ grid in voxels, non-negative and strictly increasing; default 0, 0.1, …, 10
        (:func:`default_fit_sigmas`).
    mask : np.ndarray of bool, optional
        Voxels over which the MSE is taken (broadcast to the shape). The blur itself uses the whole truth.
    device : str or torch.device, optional
        Torch device; default CUDA when available, else CPU.
    progress : bool, default False
        Show a tqdm progress bar over σ.

    Returns
    -------
    GaussianFit
        σ grid, MSE curves, grid argmin and parabola-refined σ per result; ``fwhm(name)``.

    Raises
    ------
    ValueError
        Shapes differ, NaN/inf, bad σ grid (negative, unsorted, empty, non-finite), empty mask, no
        result.
    """
    import torch

    from xrsr_lib.device import resolve_device

    if isinstance(results, Mapping):
        named = dict(results)
        if not named:
            raise ValueError("results is empty")
    else:
        named = {"result": results}
    t64 = _volume(truth, "truth")
    res32: dict[str, np.ndarray] = {}
    for name, r in named.items():
        if not isinstance(name, str):
            raise ValueError(f"result names must be strings, got {name!r}")
        if np.shape(r) != t64.shape:
            raise ValueError(f"result {name!r} and truth shapes differ: {np.shape(r)} vs {t64.shape}")
        res32[name] = _volume(r, f"result {name!r}").astype(np.float32)  # one float64 copy at a time
    s = _fit_sigmas(sigmas)
    m = _mask(mask, t64.shape)
    dev = resolve_device(device)

    shape = t64.shape
    pad = math.ceil(4.0 * float(s[-1]))
    padded_shape = tuple(_fft_len(n + 2 * pad) for n in shape)
    widths = [(pad, ps - n - pad) for n, ps in zip(shape, padded_shape, strict=True)]
    crop = tuple(slice(pad, pad + n) for n in shape)

    mse_curves = {name: np.empty(s.size, dtype=np.float64) for name in named}
    todo = [k for k in range(s.size) if s[k] > 0]
    for k in range(s.size):
        if s[k] == 0:
            for name, r in named.items():
                mse_curves[name][k] = mse(r, t64, m)

    if todo:
        with torch.no_grad():
            spec = torch.fft.rfftn(
                torch.from_numpy(np.pad(t64.astype(np.float32), widths, mode="symmetric")).to(dev)
            )
            freq2 = [torch.fft.fftfreq(n, device=dev, dtype=torch.float64) ** 2 for n in padded_shape[:-1]]
            freq2.append(torch.fft.rfftfreq(padded_shape[-1], device=dev, dtype=torch.float64) ** 2)
            ndim = len(padded_shape)
            axis_shapes = [[-1 if a == ax else 1 for a in range(ndim)] for ax in range(ndim)]
            m_t = None if m is None else torch.from_numpy(np.ascontiguousarray(m)).to(dev)
            count = float(np.prod(shape) if m is None else m.sum())
            res_t = {}
            for name, r in res32.items():
                rt = torch.from_numpy(np.ascontiguousarray(r)).to(dev)
                res_t[name] = rt if m_t is None else rt[m_t]
            buf = torch.empty_like(next(iter(res_t.values())))
            work = torch.empty_like(spec)
            spec_r, work_r = torch.view_as_real(spec), torch.view_as_real(work)
            blurred_full = torch.empty(padded_shape, dtype=torch.float32, device=dev)
            it = todo
            if progress:
                from tqdm.auto import tqdm

                it = tqdm(todo, desc="gaussian_fit", unit="σ")
            for k in it:
                c = -2.0 * math.pi**2 * float(s[k]) ** 2
                # Separable transfer function: outer product of the 1-D factors, broadcast per axis.
                tf = None
                for ax, f2 in enumerate(freq2):
                    g = torch.exp(c * f2).to(torch.float32).reshape(axis_shapes[ax])
                    tf = g if tf is None else tf * g
                # Real-view product: ~4× faster on CPU than promoting the real transfer function to complex.
                torch.mul(spec_r, tf[..., None], out=work_r)
                torch.fft.irfftn(work, s=padded_shape, out=blurred_full)
                blurred = blurred_full[crop] if m_t is None else blurred_full[crop][m_t]
                for name, rt in res_t.items():
                    torch.sub(rt, blurred, out=buf)
                    buf.square_()
                    # float32 cascade summation (torch.sum): ~1e-7 relative error, unlike a BLAS dot.
                    mse_curves[name][k] = float(buf.sum()) / count
                del blurred
    best = {name: float(s[int(np.argmin(c))]) for name, c in mse_curves.items()}
    refined = {name: _parabola_vertex(s, c, int(np.argmin(c))) for name, c in mse_curves.items()}
    return GaussianFit(sigmas=s, mse=mse_curves, best_sigma=best, refined_sigma=refined)


# ----------------------------------------------------------------------------- 2-D SR images (study B)
#: Scores of :func:`sr_image_scores` and whether lower values are better.
SR_SCORES: dict[str, bool] = {"psnr": False, "ssim": False, "lpips": True, "dists": True, "niqe": True}


def sr_image_scores(
    result: np.ndarray, reference: np.ndarray, lpips_net: str = "alex", ssim_sigma: float = 1.5
) -> dict[str, float]:
    """PSNR, SSIM, LPIPS, DISTS (full-reference) and NIQE (no-reference) of one 2-D image.

    Both images are clipped to [0, 1] first (the range the perceptual networks and NIQE expect, and
    what a saved 8-bit image would keep); PSNR and SSIM use data range 1. LPIPS, DISTS and NIQE
    are the offline implementations of :mod:`xrsr_lib.evaluate.iqa` (grey repeated to three channels for
    LPIPS / DISTS), validated against pyiqa's calibration pairs in the tests.

    Parameters
    ----------
    result, reference : ndarray (H, W)
    lpips_net : {"alex", "vgg"}
    ssim_sigma : float
        Gaussian window of SSIM, pixels.

    Returns
    -------
    dict
        ``psnr`` (dB; inf for identical images), ``ssim``, ``lpips``, ``dists``, ``niqe`` (of
        ``result``).
    """
    from xrsr_lib.evaluate import iqa

    a = np.asarray(result, dtype=np.float64)
    b = np.asarray(reference, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"result and reference must be 2-D images of one shape, got {a.shape} and {b.shape}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("images contain NaN or infinite values")
    a, b = np.clip(a, 0.0, 1.0), np.clip(b, 0.0, 1.0)
    return {
        "psnr": psnr(a, b, data_range=1.0),
        "ssim": ssim(a, b, data_range=1.0, sigma=ssim_sigma),
        "lpips": iqa.lpips(a.astype(np.float32), b.astype(np.float32), net=lpips_net),
        "dists": iqa.dists(a.astype(np.float32), b.astype(np.float32)),
        "niqe": iqa.niqe(a),
    }
