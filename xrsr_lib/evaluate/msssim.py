"""N-D multiscale SSIM (Wang, Simoncelli & Bovik 2003) with per-scale quality maps.

:func:`ms_ssim_3d` follows the semantics of MATLAB's ``multissim3`` (a score plus one local
quality map per scale); :meth:`MultiscaleSSIM.combined_map` brings the maps back to full
resolution. The local statistics are those of :func:`xrsr_lib.evaluate.quality.ssim_map`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from xrsr_lib.evaluate.quality import (
    K1,
    K2,
    check_metric_arrays,
    check_positive,
    local_ssim_terms,
    masked_mean,
)

__all__ = ["MS_SSIM_MIN_SIDE", "MS_SSIM_WEIGHTS", "MultiscaleSSIM", "ms_ssim_3d"]

#: MS-SSIM scale weights of Wang et al. (2003), also MATLAB's ``multissim``/``multissim3`` default.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
#: Smallest side (voxels) allowed at the coarsest MS-SSIM scale.
MS_SSIM_MIN_SIDE = 4


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
    a, b, m = check_metric_arrays(result, truth, mask)
    data_range = check_positive(data_range, "data_range")
    sigma = check_positive(sigma, "sigma")
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
        smap = local_ssim_terms(a, b, sigma, c1, c2, luminance=j == scales - 1)
        maps.append(smap)
        means.append(masked_mean(smap, m))
    score = float(np.prod([max(mu, 0.0) ** wj for mu, wj in zip(means, w, strict=True)]))
    return MultiscaleSSIM(score=score, maps=maps, weights=w, sigma=sigma, scale_means=tuple(means))
