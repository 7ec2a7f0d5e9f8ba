"""How study A's figures score the results."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from xrsr_lib.config.base import Settings

__all__ = ["EvaluationConfig"]


class EvaluationConfig(Settings):
    """How study A's figures 3-9 score the results (see ``xrsr_lib.studies.study_a.evaluation``)."""

    realization: str = Field(
        default="alternate", description="the realization scored in figures 3-9 (unseen in training)"
    )
    reference: Literal["dense_fdk", "phantom"] = Field(
        default="dense_fdk",
        description="the ground truth images are scored against and whose segmentation gives the true "
        "pores: 'dense_fdk' (study A's: a noise-free reconstruction from ct.reference_n_angles views at "
        "the 1 µm grid) or 'phantom' (the exact voxelized phantom); the other is reported beside it",
    )
    data_range: float = Field(default=1.0, gt=0, description="data range for PSNR/SSIM (material units)")
    ssim_sigma: float = Field(default=1.5, gt=0, description="Gaussian window of SSIM and MS-SSIM, voxels")
    msssim_scales: int = Field(default=5, ge=1, le=5, description="MS-SSIM scales (MATLAB default 5)")
    msssim_sigmas_um: tuple[float, ...] = Field(
        default=(3.0, 9.0), description="input blurs shown as MS-SSIM maps (Figure 8)"
    )
    foam_mask_margin_um: float = Field(
        default=6.0,
        ge=0,
        description="the foam mask is the phantom cylinder shrunk by this margin: blurred and deconvolved "
        "images show the sample's outer surface as a dark rim that would segment as pores; keep it below "
        "the smallest pore radius so no pore loses its centre",
    )
    seed_sigmas_um: tuple[float, ...] = Field(
        default=(3.0, 9.0), description="input blurs at which the seed spread of the networks is reported"
    )
    pore_workers: int = Field(
        default=1,
        ge=1,
        description="processes that segment pores side by side (each peaks at ~55 bytes "
        "per voxel: 0.9 GB at 256³, measured); 1 analyses one image at a time",
    )
    gaussian_fit_max_um: float = Field(default=10.0, gt=0, description="largest σ of the Gaussian fit")
    gaussian_fit_step_um: float = Field(default=0.1, gt=0, description="σ grid step of the Gaussian fit")

    def gaussian_fit_sigmas_um(self) -> tuple[float, ...]:
        """Return the candidate blur σ of the Gaussian fit, µm: 0 to ``gaussian_fit_max_um`` in its steps."""
        n = int(round(self.gaussian_fit_max_um / self.gaussian_fit_step_um))
        return tuple(round(i * self.gaussian_fit_step_um, 10) for i in range(n + 1))
