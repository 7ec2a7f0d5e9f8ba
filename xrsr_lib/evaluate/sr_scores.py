"""Scores of one 2-D super-resolved image (study B): PSNR, SSIM, LPIPS, DISTS and NIQE."""

from __future__ import annotations

import numpy as np

from xrsr_lib.evaluate.quality import psnr, ssim

__all__ = ["SR_SCORES", "sr_image_scores"]

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
