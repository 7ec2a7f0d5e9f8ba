"""The data of the 2-D SR training: checked image pairs, random aligned patches, natural-image pairs.

:func:`sample_patch_pairs` draws what :func:`~xrsr_lib.train.slices.train_sr` trains on: a
``patch × patch`` low-resolution patch and the ``scale·patch`` high-resolution patch covering the
same area, flipped / rotated together. :func:`natural_pairs` degrades natural images exactly like
the nano-CT data, the pre-training set of study B.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from xrsr_lib.simulate.nanoct import DEFAULT_BLUR_SIGMA_PX, DEFAULT_NOISE_STD, degrade_slice
from xrsr_lib.simulate.natural import natural_images, random_crops

__all__ = ["check_sr_pair", "natural_pairs", "sample_patch_pairs"]


def check_sr_pair(lr_images: np.ndarray, hr_images: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate a stack of training pairs; return them as contiguous float32.

    Raises
    ------
    ValueError
        If either is not 3-D (N, H, W), is empty, the image counts differ, the high-resolution
        shape is not exactly ``scale`` × the low-resolution shape, or values are not finite.
    """
    lr = np.asarray(lr_images)
    hr = np.asarray(hr_images)
    for name, arr in (("lr_images", lr), ("hr_images", hr)):
        if arr.ndim != 3 or arr.size == 0:
            raise ValueError(f"{name} must be a non-empty 3-D stack (N, H, W), got shape {arr.shape}")
    if lr.shape[0] != hr.shape[0]:
        raise ValueError(f"lr_images has {lr.shape[0]} images but hr_images has {hr.shape[0]}")
    want = (lr.shape[1] * scale, lr.shape[2] * scale)
    if hr.shape[1:] != want:
        raise ValueError(
            f"hr_images must be exactly scale ({scale}) × the low-resolution size: expected (N, {want[0]}, "
            f"{want[1]}) for lr_images {lr.shape}, got {hr.shape}"
        )
    for name, arr in (("lr_images", lr), ("hr_images", hr)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or infinite values")
    return np.ascontiguousarray(lr, np.float32), np.ascontiguousarray(hr, np.float32)


def sample_patch_pairs(
    lr: np.ndarray,
    hr: np.ndarray,
    scale: int,
    patch: int,
    batch: int,
    rng: np.random.Generator,
    flips: bool = True,
    rot90: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw a batch of aligned random patch pairs, ``(B, 1, p, p)`` and ``(B, 1, s·p, s·p)``.

    Each pair picks an image and a low-resolution corner ``(y0, x0)`` uniformly; the
    high-resolution patch starts at ``(s·y0, s·x0)``, so it covers exactly the same area. The same
    rotation by ``k·90°`` (k uniform in 0..3, if ``rot90``) and left-right flip (probability 1/2,
    if ``flips``) is applied to both, which keeps them aligned. Draws from ``rng`` in a fixed order.
    """
    n, h, w = lr.shape
    if patch > min(h, w):
        raise ValueError(f"patch {patch} exceeds the low-resolution image size {(h, w)}")
    p, q = patch, patch * scale
    xs = np.empty((batch, 1, p, p), np.float32)
    ys = np.empty((batch, 1, q, q), np.float32)
    for b in range(batch):
        i = int(rng.integers(n))
        y0, x0 = int(rng.integers(h - p + 1)), int(rng.integers(w - p + 1))
        a = lr[i, y0 : y0 + p, x0 : x0 + p]
        t = hr[i, scale * y0 : scale * y0 + q, scale * x0 : scale * x0 + q]
        k = int(rng.integers(4)) if rot90 else 0
        flip = bool(rng.integers(2)) if flips else False
        a, t = np.rot90(a, k), np.rot90(t, k)
        if flip:
            a, t = a[:, ::-1], t[:, ::-1]
        xs[b, 0], ys[b, 0] = a, t
    return torch.from_numpy(xs), torch.from_numpy(ys)


def natural_pairs(
    n: int,
    hr_size: int,
    scale: int,
    blur_sigma_px: float = DEFAULT_BLUR_SIGMA_PX,
    noise_std: float = DEFAULT_NOISE_STD,
    seed: int = 0,
    images: Mapping[str, np.ndarray] | Sequence[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Low/high-resolution pre-training pairs from natural images, degraded like the nano-CT data.

    High-resolution images are ``random_crops(images, n, hr_size, seed)`` (flipped / rotated);
    each is degraded with :func:`~xrsr_lib.simulate.nanoct.degrade_slice` (Gaussian blur, area
    down-sampling by ``scale``, white noise) with noise seed ``(seed, i)``.

    Parameters
    ----------
    n : int
        Number of pairs.
    hr_size : int
        Side of the high-resolution crops; must be divisible by ``scale``.
    scale, blur_sigma_px, noise_std
        As in :func:`~xrsr_lib.simulate.nanoct.degrade_slice`; use the values of the nano-CT split.
    seed : int
        Seed of the crops and of the noise.
    images : mapping or sequence of 2-D arrays, optional
        Source images; default :func:`~xrsr_lib.simulate.natural.natural_images`.

    Returns
    -------
    lr : ndarray float32 (n, hr_size / scale, hr_size / scale)
    hr : ndarray float32 (n, hr_size, hr_size)
    """
    if isinstance(hr_size, bool) or not isinstance(hr_size, int | np.integer) or hr_size < 1:
        raise ValueError(f"hr_size must be a positive integer, got {hr_size!r}")
    if isinstance(scale, bool) or not isinstance(scale, int | np.integer) or scale < 1 or hr_size % scale:
        raise ValueError(f"hr_size {hr_size} must be divisible by the scale, got scale {scale!r}")
    hr = random_crops(natural_images() if images is None else images, n, hr_size, seed=seed)
    lr = np.empty((hr.shape[0], hr_size // scale, hr_size // scale), np.float32)
    for i in range(hr.shape[0]):
        lr[i] = degrade_slice(hr[i], int(scale), blur_sigma_px, noise_std, seed=(int(seed), i))
    return lr, hr
