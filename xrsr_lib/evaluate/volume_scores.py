"""The scores of one recovered volume against a reference on the same grid, in one call.

:func:`volume_scores` is what :meth:`xrsr_lib.recovery.Recovery.evaluate` and ``xrsr evaluate``
report: MSE, PSNR, SSIM, MS-SSIM, the effective blur (Gaussian fit) and, on request, pore statistics
of both volumes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ms_ssim_all_scales", "pore_summary", "volume_scores"]


def ms_ssim_all_scales(result: np.ndarray, reference: np.ndarray, data_range: float) -> float | None:
    """MS-SSIM with as many of the 5 standard scales as the volume allows (None below 2 scales)."""
    from xrsr_lib.evaluate.msssim import MS_SSIM_MIN_SIDE, ms_ssim_3d

    scales = 1
    while scales < 5 and -(-min(result.shape) // 2**scales) >= MS_SSIM_MIN_SIDE:
        scales += 1
    if scales < 2:
        return None
    return float(ms_ssim_3d(result, reference, data_range=data_range, scales=scales).score)


def pore_summary(volume: np.ndarray, voxel_size_um: float) -> dict[str, float | None]:
    """Pores of a material image (pores dark): count, porosity, mean equivalent diameter (µm)."""
    from xrsr_lib.evaluate.pores import analyse_pores

    a = analyse_pores(volume, np.ones(volume.shape, bool), voxel_size_um)
    d = a.table["diameter_um"].to_numpy() if a.n_pores else np.zeros(0)
    return {
        "n_pores": int(a.n_pores),
        "porosity": float(a.porosity),
        "mean_diameter_um": float(d.mean()) if d.size else None,
    }


def volume_scores(
    result: np.ndarray,
    reference: np.ndarray,
    data_range: float,
    mask: np.ndarray | None = None,
    voxel_size_um: float | None = None,
    pores: bool = False,
) -> dict[str, Any]:
    """Scores of ``result`` against ``reference`` (same shape, float).

    Parameters
    ----------
    result, reference : ndarray (z, y, x)
    data_range : float
        Grey-value range of PSNR, SSIM and MS-SSIM (> 0).
    mask : ndarray of bool, optional
        Voxels scored by MSE, PSNR, SSIM and the Gaussian fit. MS-SSIM needs whole volumes: it is
        None when a mask leaves voxels out, as it is for volumes too small for two scales.
    voxel_size_um : float, optional
        Adds ``effective_blur_um``; needed for ``pores``.
    pores : bool
        Adds ``pores``: count, porosity and mean equivalent diameter (µm) of both volumes.

    Returns
    -------
    dict
        ``mse``, ``psnr`` (dB), ``ssim`` (Gaussian window σ = 1.5 voxels), ``ms_ssim``,
        ``effective_blur_voxels`` (σ of the Gaussian blur of the reference that best matches the
        result; 0 = as sharp), and the optional entries above.
    """
    from xrsr_lib.evaluate.quality import mse, psnr, ssim
    from xrsr_lib.evaluate.resolution import gaussian_fit

    fit = gaussian_fit({"result": result}, reference, mask=mask, progress=False)
    scores: dict[str, Any] = {
        "mse": mse(result, reference, mask=mask),
        "psnr": psnr(result, reference, data_range=data_range, mask=mask),
        "ssim": ssim(result, reference, data_range=data_range, mask=mask),
        "ms_ssim": (
            ms_ssim_all_scales(result, reference, data_range) if mask is None or bool(np.all(mask)) else None
        ),
        "effective_blur_voxels": float(fit.refined_sigma["result"]),
    }
    if voxel_size_um is not None:
        scores["effective_blur_um"] = scores["effective_blur_voxels"] * float(voxel_size_um)
    if pores:
        if voxel_size_um is None:
            raise ValueError("pore statistics need voxel_size_um")
        scores["pores"] = {
            "result": pore_summary(result, voxel_size_um),
            "reference": pore_summary(reference, voxel_size_um),
        }
    return scores
