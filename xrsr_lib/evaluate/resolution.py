"""Effective resolution: the σ of the 3D Gaussian blur of the truth that best matches a result.

:func:`gaussian_fit` scans a σ grid (study A, Fig. 9; :func:`default_fit_sigmas`) with FFT blurs on
torch (CUDA when present) and returns a :class:`GaussianFit` with the MSE curves, the grid argmin
and its parabola refinement; :data:`FWHM_PER_SIGMA` converts σ to a FWHM. :func:`curve_minimum`
reads the effective resolution off one MSE curve (also one stored in a table).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from xrsr_lib.evaluate.quality import check_mask, check_metric_array, mse

if TYPE_CHECKING:  # torch is imported lazily by gaussian_fit only
    import torch

__all__ = [
    "FWHM_PER_SIGMA",
    "CurveMinimum",
    "GaussianFit",
    "curve_minimum",
    "default_fit_sigmas",
    "gaussian_fit",
]

#: FWHM of a Gaussian in units of its σ, 2·sqrt(2·ln 2) ≈ 2.3548.
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


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


@dataclass(frozen=True)
class CurveMinimum:
    """Grid argmin of one Gaussian-fit MSE curve (:func:`curve_minimum`).

    Attributes
    ----------
    index : int
        Position of the minimum on the σ grid.
    sigma : float
        Effective resolution σ, in the units of the grid (voxels, or µm for a grid in µm).
    fwhm : float
        ``FWHM_PER_SIGMA · sigma``, same units.
    mse : float
        The curve's value at the minimum (squared image units).
    at_grid_edge : bool
        The minimum is the grid's largest σ: the curve may still descend beyond the grid, so
        ``sigma`` is only a lower bound.
    """

    index: int
    sigma: float
    fwhm: float
    mse: float
    at_grid_edge: bool


def curve_minimum(sigmas: np.ndarray, mse_curve: np.ndarray) -> CurveMinimum:
    """Effective resolution from one MSE curve: the grid argmin (first one on ties) and its FWHM.

    The same σ as :attr:`GaussianFit.best_sigma`, for a curve of :func:`gaussian_fit` or one read
    back from a table.

    Parameters
    ----------
    sigmas : 1-D array
        σ grid, non-negative and strictly increasing; voxels or µm (the result has the same units).
    mse_curve : 1-D array
        MSE against the truth blurred with each σ, same length, finite.

    Returns
    -------
    CurveMinimum
        Index, σ, FWHM (``FWHM_PER_SIGMA · σ``), MSE at the minimum, and whether it is the last σ.

    Raises
    ------
    ValueError
        Bad σ grid (see :func:`gaussian_fit`), lengths differ, or a non-finite MSE.
    """
    s = _fit_sigmas(sigmas)
    c = np.asarray(mse_curve, dtype=np.float64)
    if c.shape != s.shape:
        raise ValueError(f"mse_curve of shape {c.shape} does not match the σ grid of shape {s.shape}")
    if not np.all(np.isfinite(c)):
        raise ValueError("mse_curve contains NaN or infinite values")
    i = int(np.argmin(c))
    best = float(s[i])
    return CurveMinimum(
        index=i, sigma=best, fwhm=FWHM_PER_SIGMA * best, mse=float(c[i]), at_grid_edge=i == s.size - 1
    )


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
    t64 = check_metric_array(truth, "truth")
    res32: dict[str, np.ndarray] = {}
    for name, r in named.items():
        if not isinstance(name, str):
            raise ValueError(f"result names must be strings, got {name!r}")
        if np.shape(r) != t64.shape:
            raise ValueError(f"result {name!r} and truth shapes differ: {np.shape(r)} vs {t64.shape}")
        res32[name] = check_metric_array(r, f"result {name!r}").astype(
            np.float32
        )  # one float64 copy at a time
    s = _fit_sigmas(sigmas)
    m = check_mask(mask, t64.shape)
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
            m_t = None if m is None else torch.from_numpy(np.array(m, copy=True)).to(dev)  # m: read-only view
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
                tf: torch.Tensor | None = None
                for ax, f2 in enumerate(freq2):
                    g = torch.exp(c * f2).to(torch.float32).reshape(axis_shapes[ax])
                    tf = g if tf is None else tf * g
                # Real-view product: ~4× faster on CPU than promoting the real transfer function to complex.
                assert tf is not None  # a volume has 3 axes
                torch.mul(spec_r, tf[..., None], out=work_r)
                torch.fft.irfftn(work, s=padded_shape, out=blurred_full)
                blurred = blurred_full[crop] if m_t is None else blurred_full[crop][m_t]
                for name, rt in res_t.items():
                    torch.sub(rt, blurred, out=buf)
                    buf.square_()
                    # float32 cascade summation (torch.sum): ~1e-7 relative error, unlike a BLAS dot.
                    mse_curves[name][k] = float(buf.sum()) / count
                del blurred
    best = {name: curve_minimum(s, c).sigma for name, c in mse_curves.items()}
    refined = {name: _parabola_vertex(s, c, int(np.argmin(c))) for name, c in mse_curves.items()}
    return GaussianFit(sigmas=s, mse=mse_curves, best_sigma=best, refined_sigma=refined)
