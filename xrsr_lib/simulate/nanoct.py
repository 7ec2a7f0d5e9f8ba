"""Simulated synchrotron nano-CT slices with pores and thin branching cracks (study B).

Study B pre-trains a super-resolution network on natural images and fine-tunes it on nano-CT
slices of a dense material with pores and thin branching cracks; a fixed crack segmentation is
then scored against the crack mask on the bicubic input, each SR output and the reference. No
data can be downloaded, so the simulation is offline:

* :func:`simulate_crack_slice` – a high-quality reference slice (dense textured matrix, elliptical
  pores, cracks grown as persistent random walks with branching), rasterized at ``supersampling``×
  and block-averaged so edges carry partial-volume grey values, with the crack and pore masks;
* :func:`degrade_slice` / :func:`bicubic_upsample` – the low-resolution input and the baseline;
* :func:`make_split` / :data:`SPLIT_SEEDS` – train / val / test sets that never share a seed.

The pre-training images are in :mod:`xrsr_lib.simulate.natural`, the downstream crack segmentation
in :mod:`xrsr_lib.evaluate.cracks`, the settings in :mod:`xrsr_lib.config.nanoct`.

Conventions: images are float32 ``(H, W)``; pixel ``(r, c)`` covers ``[r, r+1) × [c, c+1)`` in
continuous coordinates (rows, columns), all lengths are in reference (high-resolution) pixels.

Examples
--------
>>> from xrsr_lib.config.nanoct import CrackSliceConfig
>>> from xrsr_lib.simulate.nanoct import simulate_crack_slice
>>> s = simulate_crack_slice(CrackSliceConfig(size=128), seed=0)
>>> s.image.shape, s.image.dtype, bool(s.crack_mask.any())
((128, 128), dtype('float32'), True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter, zoom

from xrsr_lib.config.nanoct import CrackSliceConfig
from xrsr_lib.io.validate import check_array, check_real

__all__ = [
    "DEFAULT_BLUR_SIGMA_PX",
    "DEFAULT_NOISE_STD",
    "SPLIT_SEEDS",
    "CrackSlice",
    "Seed",
    "bicubic_upsample",
    "degrade_slice",
    "make_split",
    "simulate_crack_slice",
    "split_image_seeds",
]

Seed = int | Sequence[int] | np.random.SeedSequence

#: Base seeds of the three splits. Image ``i`` of a split with base seed ``b`` is simulated with
#: ``np.random.default_rng((b, i, 0))`` and its noise drawn with ``(b, i, 1)`` (see
#: :func:`split_image_seeds`): the seed tuples of different splits differ in their first entry,
#: so no two splits ever share a realization, whatever their sizes.
SPLIT_SEEDS: dict[str, int] = {"train": 20_231, "val": 20_232, "test": 20_233}

#: Default degradation (σ of the Gaussian blur in reference pixels, noise std in grey levels).
DEFAULT_BLUR_SIGMA_PX = 1.0
DEFAULT_NOISE_STD = 0.02

_VALID_SCALES = (1, 2, 4)


# --------------------------------------------------------------------------------------------
# Simulation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CrackSlice:
    """A reference slice and its ground truth.

    Attributes
    ----------
    image : ndarray, float32 (H, W)
        High-quality reference in [0, 1] (partial-volume edges, grain texture, no noise).
    crack_mask : ndarray, bool (H, W)
        Pixels at least half covered by crack, excluding pore pixels.
    pore_mask : ndarray, bool (H, W)
        Pixels at least half covered by pores.
    """

    image: np.ndarray
    crack_mask: np.ndarray
    pore_mask: np.ndarray


def _grow_cracks(config: CrackSliceConfig, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """Grow cracks as persistent random walks with branching.

    Returns the polylines as (vertices (n, 2), full widths (n,)) pairs, in pixels.
    """
    n = config.size
    wmin, wmax = config.crack_width_range_px
    step = config.step_px
    margin = 4 * step + wmax
    polylines: list[tuple[np.ndarray, np.ndarray]] = []
    for _ in range(config.n_cracks):
        start = rng.uniform(0.1 * n, 0.9 * n, size=2)
        stack = [
            (
                start,
                rng.uniform(0, 2 * np.pi),
                rng.uniform(*config.crack_length_range_px),
                rng.uniform(wmin, wmax),
                0,
            )
        ]
        while stack:
            p, theta, length, w, depth = stack.pop()
            n_steps = max(1, math.ceil(length / step))
            dtheta = rng.normal(0.0, config.tortuosity_rad, n_steps)
            dw = rng.normal(0.0, config.width_jitter_px, n_steps)
            branch_u = rng.random(n_steps)
            pts = [p]
            ws = [w]
            for k in range(n_steps):
                theta += dtheta[k]
                p = p + step * np.array([math.sin(theta), math.cos(theta)])
                w = min(max(w + dw[k], wmin), wmax)
                pts.append(p)
                ws.append(w)
                if not (-margin <= p[0] <= n + margin and -margin <= p[1] <= n + margin):
                    break
                if depth < config.max_branch_depth and branch_u[k] < config.branch_probability:
                    side = 1.0 if rng.random() < 0.5 else -1.0
                    angle = math.radians(rng.uniform(*config.branch_angle_range_deg))
                    rest = (n_steps - k - 1) * step
                    stack.append(
                        (
                            p.copy(),
                            theta + side * angle,
                            max(step, rest * rng.uniform(*config.branch_length_fraction)),
                            max(wmin, w * rng.uniform(0.6, 0.9)),
                            depth + 1,
                        )
                    )
            verts = np.array(pts)
            widths = np.array(ws)
            m = len(widths)
            n_taper = config.tip_taper_fraction * m
            if n_taper >= 1:
                taper = np.clip((m - 1 - np.arange(m)) / n_taper, 0.0, 1.0)
                widths = wmin + (widths - wmin) * taper
            polylines.append((verts, widths))
    return polylines


def _rasterize_polylines(
    polylines: list[tuple[np.ndarray, np.ndarray]], shape: tuple[int, int], s: int
) -> np.ndarray:
    """Boolean super-sampled map of the union of capsules (linearly varying half-width) along polylines."""
    out = np.zeros(shape, dtype=bool)
    for verts, widths in polylines:
        v = verts * s
        h = widths * (s / 2.0)
        for a, b, ha, hb in zip(v[:-1], v[1:], h[:-1], h[1:], strict=True):
            hm = max(ha, hb)
            r0 = max(int(math.floor(min(a[0], b[0]) - hm - 0.5)), 0)
            r1 = min(int(math.ceil(max(a[0], b[0]) + hm + 0.5)), shape[0])
            c0 = max(int(math.floor(min(a[1], b[1]) - hm - 0.5)), 0)
            c1 = min(int(math.ceil(max(a[1], b[1]) + hm + 0.5)), shape[1])
            if r0 >= r1 or c0 >= c1:
                continue
            rr = (np.arange(r0, r1) + 0.5)[:, None] - a[0]
            cc = (np.arange(c0, c1) + 0.5)[None, :] - a[1]
            d = b - a
            dd = float(d @ d)
            t = np.clip((rr * d[0] + cc * d[1]) / dd, 0.0, 1.0) if dd > 0 else np.zeros_like(rr + cc)
            dist2 = (rr - t * d[0]) ** 2 + (cc - t * d[1]) ** 2
            half = ha + t * (hb - ha)
            out[r0:r1, c0:c1] |= dist2 <= half**2
    return out


def _rasterize_pores(
    config: CrackSliceConfig, rng: np.random.Generator, shape: tuple[int, int], s: int
) -> np.ndarray:
    out = np.zeros(shape, dtype=bool)
    n = config.size
    for _ in range(config.n_pores):
        a = rng.uniform(*config.pore_radius_range_px) * s
        b = a / rng.uniform(*config.pore_aspect_range)
        phi = rng.uniform(0, np.pi)
        centre = rng.uniform(0, n, size=2) * s
        r0, r1 = max(int(centre[0] - a - 1), 0), min(int(centre[0] + a + 2), shape[0])
        c0, c1 = max(int(centre[1] - a - 1), 0), min(int(centre[1] + a + 2), shape[1])
        if r0 >= r1 or c0 >= c1:
            continue
        rr = (np.arange(r0, r1) + 0.5)[:, None] - centre[0]
        cc = (np.arange(c0, c1) + 0.5)[None, :] - centre[1]
        u = rr * math.cos(phi) + cc * math.sin(phi)
        w = -rr * math.sin(phi) + cc * math.cos(phi)
        out[r0:r1, c0:c1] |= (u / a) ** 2 + (w / b) ** 2 <= 1.0
    return out


def _block_mean(arr: np.ndarray, s: int) -> np.ndarray:
    h, w = arr.shape
    return arr.reshape(h // s, s, w // s, s).mean(axis=(1, 3), dtype=np.float64)


def simulate_crack_slice(config: CrackSliceConfig | None = None, seed: Seed = 0) -> CrackSlice:
    """Simulate one reference nano-CT slice with pores and branching cracks.

    Pores (random ellipses) and cracks (persistent random walks: the direction changes by
    ``N(0, tortuosity_rad)`` per step, the width by ``N(0, width_jitter_px)`` within
    ``crack_width_range_px``, a branch starts with ``branch_probability`` per step and the last
    ``tip_taper_fraction`` of each crack narrows to the minimum width) are rasterized on a grid
    ``supersampling`` times finer and block-averaged into void fractions ``v``. The image is
    ``material·(1 - v) + void·v + texture·(1 - v)`` where the texture is Gaussian-filtered white
    noise of std ``texture_amplitude``, clipped to [0, 1].

    Parameters
    ----------
    config : CrackSliceConfig, optional
        Defaults to ``CrackSliceConfig()`` (256², 10 pores, 4 cracks, widths 1–3 px).
    seed : int, sequence of ints or SeedSequence
        Anything ``numpy.random.default_rng`` accepts; the output depends only on it and the config.

    Returns
    -------
    CrackSlice
        ``crack_mask`` = crack coverage >= 0.5 and not a pore pixel; ``pore_mask`` = pore coverage >= 0.5.
    """
    config = CrackSliceConfig() if config is None else config
    rng = np.random.default_rng(seed)
    n, s = config.size, config.supersampling
    fine = (n * s, n * s)
    pores_fine = _rasterize_pores(config, rng, fine, s)
    cracks_fine = _rasterize_polylines(_grow_cracks(config, rng), fine, s)
    pore_cov = _block_mean(pores_fine, s)
    crack_cov = _block_mean(cracks_fine, s)
    void = _block_mean(pores_fine | cracks_fine, s)
    texture = np.zeros((n, n))
    if config.texture_amplitude > 0:
        texture = gaussian_filter(rng.standard_normal((n, n)), config.texture_sigma_px, mode="wrap")
        texture *= config.texture_amplitude / max(float(texture.std()), 1e-12)
    image = config.material_level * (1 - void) + config.void_level * void + texture * (1 - void)
    pore_mask = pore_cov >= 0.5
    crack_mask = (crack_cov >= 0.5) & ~pore_mask
    return CrackSlice(
        image=np.clip(image, 0.0, 1.0).astype(np.float32),
        crack_mask=crack_mask,
        pore_mask=pore_mask,
    )


# --------------------------------------------------------------------------------------------
# Degradation and baseline
# --------------------------------------------------------------------------------------------


def check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    return check_array(image, name, 2, dtype=None)


def _check_scale(scale: int) -> int:
    if isinstance(scale, bool) or not isinstance(scale, int | np.integer) or int(scale) not in _VALID_SCALES:
        raise ValueError(f"scale must be one of {_VALID_SCALES}, got {scale!r}")
    return int(scale)


def _check_nonneg(value: float, name: str) -> float:
    return check_real(value, name, 0.0)


def degrade_slice(
    image: np.ndarray,
    scale: int,
    blur_sigma_px: float = DEFAULT_BLUR_SIGMA_PX,
    noise_std: float = DEFAULT_NOISE_STD,
    seed: Seed = 0,
) -> np.ndarray:
    """Low-resolution, noisy version of a reference slice.

    Steps: Gaussian blur of σ = ``blur_sigma_px`` reference pixels (mirror borders, so the total
    grey value of an interior object is preserved), area down-sampling by ``scale`` (mean of each
    ``scale × scale`` block), then additive white Gaussian noise of std ``noise_std`` at the low
    resolution (a Gaussian approximation of photon noise at a fixed dose; the output is not
    clipped, so the noise stays unbiased and may leave [0, 1] slightly).

    Parameters
    ----------
    image : ndarray (H, W)
        H and W must be divisible by ``scale``.
    scale : {1, 2, 4}
    blur_sigma_px, noise_std : float >= 0
        0 disables the step.
    seed : int, sequence of ints or SeedSequence
        Seed of the noise.

    Returns
    -------
    ndarray, float32 (H / scale, W / scale)
    """
    arr = check_image(image).astype(np.float64)
    scale = _check_scale(scale)
    sigma = _check_nonneg(blur_sigma_px, "blur_sigma_px")
    noise_std = _check_nonneg(noise_std, "noise_std")
    h, w = arr.shape
    if h % scale or w % scale:
        raise ValueError(f"image shape {arr.shape} is not divisible by scale {scale}")
    if sigma > 0:
        arr = gaussian_filter(arr, sigma, mode="mirror")
    low = _block_mean(arr, scale) if scale > 1 else arr
    if noise_std > 0:
        low = low + np.random.default_rng(seed).normal(0.0, noise_std, low.shape)
    return low.astype(np.float32)


def bicubic_upsample(low: np.ndarray, scale: int) -> np.ndarray:
    """Cubic-spline (order 3) up-sampling by ``scale``, the baseline of study B.

    Uses ``scipy.ndimage.zoom(order=3, grid_mode=True, mode="reflect")``: pixels are treated as
    areas, so low-resolution pixel ``i`` sits at the centre of the reference block it averages
    (the geometry of :func:`degrade_slice`), and a linear ramp is reproduced in the interior.

    Returns
    -------
    ndarray, float32 (h·scale, w·scale)
    """
    arr = check_image(low, "low").astype(np.float64)
    scale = _check_scale(scale)
    if scale == 1:
        return arr.astype(np.float32)
    out = zoom(arr, scale, order=3, mode="reflect", grid_mode=True)
    return out.astype(np.float32)


# --------------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------------


def split_image_seeds(split_seed: int, index: int) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Return (simulation seed, noise seed) of image ``index`` of the split with base seed ``split_seed``."""
    return (int(split_seed), int(index), 0), (int(split_seed), int(index), 1)


def make_split(
    config: CrackSliceConfig | None,
    n_images: int,
    seed: int,
    scale: int,
    blur_sigma_px: float = DEFAULT_BLUR_SIGMA_PX,
    noise_std: float = DEFAULT_NOISE_STD,
) -> dict[str, np.ndarray]:
    """Make a stack of reference slices, their degraded versions and masks.

    Parameters
    ----------
    config : CrackSliceConfig or None (defaults)
    n_images : int >= 1
    seed : int >= 0
        Base seed of the split, normally ``SPLIT_SEEDS[name]``; seeds per image from
        :func:`split_image_seeds`.
    scale, blur_sigma_px, noise_std
        As in :func:`degrade_slice`.

    Returns
    -------
    dict
        ``hr`` float32 (N, H, W), ``lr`` float32 (N, H/scale, W/scale), ``crack_mask`` and
        ``pore_mask`` bool (N, H, W).
    """
    config = CrackSliceConfig() if config is None else config
    if isinstance(n_images, bool) or not isinstance(n_images, int | np.integer) or n_images < 1:
        raise ValueError(f"n_images must be a positive integer, got {n_images!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    scale = _check_scale(scale)
    if config.size % scale:
        raise ValueError(f"image size {config.size} is not divisible by scale {scale}")
    n, m = int(n_images), config.size
    out = {
        "hr": np.empty((n, m, m), np.float32),
        "lr": np.empty((n, m // scale, m // scale), np.float32),
        "crack_mask": np.empty((n, m, m), bool),
        "pore_mask": np.empty((n, m, m), bool),
    }
    for i in range(n):
        sim_seed, noise_seed = split_image_seeds(seed, i)
        sl = simulate_crack_slice(config, sim_seed)
        out["hr"][i] = sl.image
        out["crack_mask"][i] = sl.crack_mask
        out["pore_mask"][i] = sl.pore_mask
        out["lr"][i] = degrade_slice(sl.image, scale, blur_sigma_px, noise_std, noise_seed)
    return out
