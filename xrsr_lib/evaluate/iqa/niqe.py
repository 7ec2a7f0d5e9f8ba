"""NIQE (Mittal et al., IEEE SPL 2013), following the basicsr / pyiqa re-implementation.

Steps: grey image in [0, 255] (rounded), cropped to whole 96x96 blocks; at two scales (full and
MATLAB-style bicubic antialiased half size) the MSCN coefficients are computed with the 7x7
Gaussian window of the pristine model (``nearest`` border); per block (96x96, then 48x48) an 18-d
feature (GGD-like AGGD shape/scale of the MSCN map + AGGD shape/mean/left/right scales of the four
neighbour products) is extracted; the 36-d block features are fitted by a multivariate Gaussian
and compared with the pristine MVG: ``sqrt((mu_p - mu)^T pinv((S_p + S) / 2) (mu_p - mu))``.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.ndimage import convolve
from scipy.special import gamma

from xrsr_lib.evaluate.iqa import weights as _w

__all__ = ["imresize_half", "niqe", "niqe_features", "rgb_to_y"]

_GAM = np.arange(0.2, 10.001, 0.001)
_R_GAM = gamma(2 / _GAM) ** 2 / (gamma(1 / _GAM) * gamma(3 / _GAM))


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """Luma of an RGB image in [0, 1]: ``0.299 R + 0.587 G + 0.114 B`` (pyiqa's YIQ ``Y``)."""
    return img[..., 0] * 0.299 + img[..., 1] * 0.587 + img[..., 2] * 0.114


def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    return (1.5 * ax**3 - 2.5 * ax**2 + 1) * (ax <= 1) + (-0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2) * (
        (ax > 1) & (ax <= 2)
    )


def _resize_axis(img: np.ndarray, axis: int, scale: float) -> np.ndarray:
    n_in = img.shape[axis]
    n_out = math.ceil(n_in * scale)
    width = 4.0 / scale if scale < 1 else 4.0
    x = np.arange(1, n_out + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    p = math.ceil(width) + 2
    idx = left[:, None] + np.arange(p)[None, :]
    dist = u[:, None] - idx
    wts = scale * _cubic(dist * scale) if scale < 1 else _cubic(dist)
    wts = wts / wts.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(n_in), np.arange(n_in - 1, -1, -1)])
    idx = mirror[np.mod(idx.astype(np.int64) - 1, 2 * n_in)]
    moved = np.moveaxis(img, axis, 0)
    out = np.einsum("op,op...->o...", wts, moved[idx])
    return np.moveaxis(out, 0, axis)


def imresize_half(img: np.ndarray) -> np.ndarray:
    """MATLAB ``imresize(img, 0.5)`` (bicubic, antialiasing) of a 2-D float image, rows then columns."""
    return _resize_axis(_resize_axis(img, 0, 0.5), 1, 0.5)


def _aggd(block: np.ndarray) -> tuple[float, float, float]:
    b = block.ravel()
    left_std = np.sqrt(np.mean(b[b < 0] ** 2))
    right_std = np.sqrt(np.mean(b[b > 0] ** 2))
    gammahat = left_std / right_std
    rhat = np.mean(np.abs(b)) ** 2 / np.mean(b**2)
    rhatnorm = rhat * (gammahat**3 + 1) * (gammahat + 1) / (gammahat**2 + 1) ** 2
    alpha = _GAM[np.argmin((_R_GAM - rhatnorm) ** 2)]
    f = np.sqrt(gamma(1 / alpha) / gamma(3 / alpha))
    return float(alpha), float(left_std * f), float(right_std * f)


def _block_feature(block: np.ndarray) -> list[float]:
    alpha, bl, br = _aggd(block)
    feat = [alpha, (bl + br) / 2]
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):
        alpha, bl, br = _aggd(block * np.roll(block, shift, axis=(0, 1)))
        mean = (br - bl) * gamma(2 / alpha) / gamma(1 / alpha)
        feat.extend([alpha, mean, bl, br])
    return feat


def niqe_features(img255: np.ndarray, window: np.ndarray, block: int = 96) -> np.ndarray:
    """Per-block 36-d NIQE features of a grey image in [0, 255]; shape ``(n_blocks, 36)``."""
    nh, nw = img255.shape[0] // block, img255.shape[1] // block
    if nh == 0 or nw == 0:
        raise ValueError(f"NIQE needs an image of at least {block}x{block}, got {img255.shape}")
    img = img255[: nh * block, : nw * block].astype(np.float64)
    per_scale = []
    for scale in (1, 2):
        mu = convolve(img, window, mode="nearest")
        sigma = np.sqrt(np.abs(convolve(img**2, window, mode="nearest") - mu**2))
        mscn = (img - mu) / (sigma + 1)
        bs = block // scale
        per_scale.append(
            np.array(
                [
                    _block_feature(mscn[i * bs : (i + 1) * bs, j * bs : (j + 1) * bs])
                    for j in range(nw)
                    for i in range(nh)
                ]
            )
        )
        if scale == 1:
            img = imresize_half(img / 255.0) * 255.0
    return np.concatenate(per_scale, axis=1)


@functools.cache
def _params() -> dict[str, np.ndarray]:
    return _w.load_niqe_params()


def niqe(img: np.ndarray) -> float:
    """NIQE score (lower is more natural) of one image.

    Parameters
    ----------
    img : numpy.ndarray
        ``(H, W)`` grey or ``(H, W, 3)`` RGB, values in [0, 1], at least 96x96. RGB is converted to
        ``Y = 0.299 R + 0.587 G + 0.114 B`` (pyiqa's default); the grey image is scaled to
        [0, 255] and rounded (as basicsr / pyiqa do for MATLAB consistency).

    Returns
    -------
    float
    """
    a = np.asarray(img, dtype=np.float64)
    if a.ndim == 3 and a.shape[2] == 3:
        a = rgb_to_y(a)
    elif a.ndim != 2:
        raise ValueError(f"expected (H, W) or (H, W, 3) image, got shape {a.shape}")
    p = _params()
    feats = niqe_features(np.round(a * 255.0), p["gaussian_window"])
    mu = np.nanmean(feats, axis=0)
    cov = np.cov(feats[~np.isnan(feats).any(axis=1)], rowvar=False)
    d = p["mu_pris_param"] - mu
    q = d @ np.linalg.pinv((p["cov_pris_param"] + cov) / 2) @ d
    return float(np.sqrt(q))
