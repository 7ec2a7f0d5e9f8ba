"""FDK's projection filtering.

Cosine pre-weighting, apodized ramp filter along detector rows, and the angular weights of a full
circular scan.

The ramp is sampled in real space and applied by zero-padded real FFTs of the shortest fast length
that keeps the row convolution linear (see :func:`ramp_filter_response` and ``_row_filter``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from xrsr_lib.simulate.ct._helpers import index_batches
from xrsr_lib.simulate.ct.geometry import ConeGeometry

__all__ = ["FILTERS", "angular_weights", "filter_projections", "ramp_filter_response"]

FILTERS: tuple[str, ...] = ("ram-lak", "shepp-logan", "cosine", "hamming", "hann")

# Padded detector samples filtered per FFT batch (the batch's temporaries take ~14 bytes each).
_FILTER_CHUNK = 1 << 22


def ramp_filter_response(n_pad: int, spacing: float, filter: str = "ram-lak") -> np.ndarray:
    """Frequency response (length ``n_pad // 2 + 1``, for ``rfft``) of the apodized ramp filter.

    The ramp is sampled in real space (``h[0] = 1/(4 τ²)``, ``h[odd n] = -1/(π n τ)²``, else 0) and
    Fourier transformed, which avoids the DC offset of a frequency-sampled ramp. The response already
    includes the factor ``τ`` of the discrete convolution, so filtered values carry units 1/length.

    Parameters
    ----------
    n_pad : int
        Padded length (even).
    spacing : float
        Sample spacing ``τ`` of the filtered signal (µm).
    filter : str
        Apodization window, one of :data:`FILTERS`.
    """
    name = check_filter(filter)
    n = np.arange(n_pad)
    n = np.where(n <= n_pad // 2, n, n - n_pad)  # circular index
    h = np.zeros(n_pad, dtype=np.float64)
    h[0] = 1.0 / (4.0 * spacing**2)
    odd = (n % 2) != 0
    h[odd] = -1.0 / (np.pi * n[odd] * spacing) ** 2
    resp = np.real(np.fft.rfft(h)) * spacing
    f = np.fft.rfftfreq(n_pad) / 0.5  # 0 .. 1 (Nyquist)
    if name == "shepp-logan":
        resp = resp * np.sinc(f / 2.0)
    elif name == "cosine":
        resp = resp * np.cos(np.pi * f / 2.0)
    elif name == "hamming":
        resp = resp * (0.54 + 0.46 * np.cos(np.pi * f))
    elif name == "hann":
        resp = resp * (0.5 + 0.5 * np.cos(np.pi * f))
    return resp


def check_filter(filter: str) -> str:
    name = str(filter).lower().replace("_", "-")
    aliases = {"ramlak": "ram-lak", "ramp": "ram-lak", "shepplogan": "shepp-logan", "hanning": "hann"}
    name = aliases.get(name, name)
    if name not in FILTERS:
        raise ValueError(f"filter must be one of {FILTERS}, got {filter!r}")
    return name


def angular_weights(angles: np.ndarray, max_gap_ratio: float = 2.0) -> np.ndarray:
    """Backprojection weights ``Δθ_i`` for a full (360°) circular scan.

    Each weight is half the sum of the cyclic gaps (modulo 2π) to the neighbouring angles, so the
    weights sum to 2π per turn and uneven spacing is integrated with the trapezoidal rule.

    Parameters
    ----------
    angles : numpy.ndarray
        Projection angles, radians.
    max_gap_ratio : float
        Largest accepted cyclic gap as a multiple of the mean step ``2π / n``. A larger gap means the
        angles do not cover the full circle (short scan), which FDK here does not support.
    """
    a = np.mod(np.asarray(angles, dtype=np.float64).reshape(-1), 2 * math.pi)
    n = a.size
    if n < 4:
        raise ValueError(f"FDK needs at least 4 projection angles over 360°, got {n}")
    order = np.argsort(a, kind="stable")
    s = a[order]
    gaps = np.diff(np.concatenate([s, [s[0] + 2 * math.pi]]))  # gap after each sorted angle
    mean_gap = 2 * math.pi / n
    if gaps.max() > max_gap_ratio * mean_gap:
        raise ValueError(
            f"angles must cover a full 360° scan evenly (largest angular gap {math.degrees(gaps.max()):.3g}° "
            f"vs mean step {math.degrees(mean_gap):.3g}°); short-scan (Parker) weighting is not implemented"
        )
    w_sorted = 0.5 * (gaps + np.roll(gaps, 1))
    w = np.empty(n)
    w[order] = w_sorted
    return w


def filter_projections(
    projections: torch.Tensor, geometry: ConeGeometry, filter: str = "ram-lak"
) -> torch.Tensor:
    """Cosine-weight and ramp-filter projections along detector rows (FDK steps 1-2).

    Parameters
    ----------
    projections : torch.Tensor
        ``(n_angles, rows, cols)`` float32 line integrals.
    geometry : ConeGeometry
        Acquisition geometry.
    filter : str
        Apodization window, one of :data:`FILTERS`.

    Returns
    -------
    torch.Tensor
        Filtered projections (same shape), in 1/µm, to be backprojected with the ``sod²/L²`` weight.
    """
    return filter_views(projections, geometry, filter)


def _smooth_length(n: int) -> int:
    """Smallest even ``2^a 3^b 5^c >= n`` (a fast FFT length)."""
    m = max(2, n + (n % 2))
    while True:
        k = m
        for f in (2, 3, 5):
            while k % f == 0:
                k //= f
        if k == 1:
            return m
        m += 2


def _row_filter(cols: int, tau: float, filter: str) -> tuple[int, np.ndarray]:
    """FFT length and ``rfft`` response of the row filter for rows of ``cols`` samples.

    The filter is defined on a power-of-two padding ``n_pad >= 2 cols`` (its windowed response
    depends on ``n_pad``). With zero padding only its taps ``|n| <= cols - 1`` reach the output, so
    the same linear convolution is done with those taps on the shortest fast length ``>= 2 cols - 1``.
    """
    n_pad = max(64, 1 << math.ceil(math.log2(2 * cols)))
    resp = ramp_filter_response(n_pad, tau, filter)
    n_fft = _smooth_length(2 * cols - 1)
    if n_fft >= n_pad:
        return n_pad, resp
    h = np.fft.irfft(resp, n=n_pad)  # circular kernel, symmetric
    h2 = np.zeros(n_fft)
    h2[:cols] = h[:cols]
    h2[n_fft - cols + 1 :] = h[n_pad - cols + 1 :]
    return n_fft, np.fft.rfft(h2).real


def filter_views(
    projections: torch.Tensor,
    geometry: ConeGeometry,
    filter: str,
    views: Sequence[int] | None = None,
    scale: Sequence[float] | None = None,
    flip: Sequence[bool] | None = None,
) -> torch.Tensor:
    """Apply :func:`filter_projections` to ``projections[views]`` without copying the stack first.

    View ``k`` is multiplied by ``scale[k]`` and column-flipped where ``flip[k]``.
    """
    dev = projections.device
    n = projections.shape[0] if views is None else len(views)
    idx = torch.arange(n) if views is None else torch.as_tensor(np.asarray(views, dtype=np.int64))
    sc = None if scale is None else torch.as_tensor(np.asarray(scale, dtype=np.float32), device=dev)
    fl = np.zeros(n, dtype=bool) if flip is None else np.asarray(flip, dtype=bool)
    sdd = geometry.source_detector
    u = torch.as_tensor(geometry.u_coords(), dtype=torch.float64, device=dev)
    v = torch.as_tensor(geometry.v_coords(), dtype=torch.float64, device=dev)
    cosw = (sdd / torch.sqrt(sdd**2 + u[None, :] ** 2 + v[:, None] ** 2)).to(torch.float32)
    cols = geometry.det_cols
    n_fft, resp_np = _row_filter(cols, geometry.pixel_at_isocenter, filter)
    resp = torch.as_tensor(resp_np, dtype=torch.float32, device=dev)
    out = torch.empty((n, geometry.det_rows, cols), dtype=torch.float32, device=dev)
    per = max(1, _FILTER_CHUNK // (geometry.det_rows * n_fft))
    for b in index_batches(n, per):
        p = projections[idx[b.start : b.stop].to(dev)] if views is not None else projections[b.start : b.stop]
        p = p * (cosw if sc is None else cosw * sc[b.start : b.stop, None, None])
        spec = torch.fft.rfft(p, n=n_fft, dim=-1)
        out[b.start : b.stop] = torch.fft.irfft(spec * resp, n=n_fft, dim=-1)[..., :cols]
        f = np.nonzero(fl[b.start : b.stop])[0]
        if f.size:
            fi = torch.as_tensor(f + b.start, device=dev)
            out[fi] = out[fi].flip(-1)
    return out
