"""Scores of a result against a reference, and the analyses the studies report.

- :mod:`~xrsr_lib.evaluate.quality`: MSE, PSNR, SSIM (scikit-image conventions, optional mask);
- :mod:`~xrsr_lib.evaluate.msssim`: 3D multiscale SSIM and its local maps (after MATLAB's multissim3);
- :mod:`~xrsr_lib.evaluate.resolution`: effective resolution by a Gaussian fit;
- :mod:`~xrsr_lib.evaluate.pores`: pore segmentation and morphometry (porosity, sizes, sphericity);
- :mod:`~xrsr_lib.evaluate.cracks`: crack segmentation of 2-D slices and its scores;
- :mod:`~xrsr_lib.evaluate.sr_scores`: the 2-D image scores of study B, with :mod:`~xrsr_lib.evaluate.iqa`
  (LPIPS, DISTS, NIQE, offline).
"""

from xrsr_lib.evaluate.cracks import segment_cracks, segmentation_scores
from xrsr_lib.evaluate.msssim import MultiscaleSSIM, ms_ssim_3d
from xrsr_lib.evaluate.quality import mse, psnr, ssim, ssim_map
from xrsr_lib.evaluate.resolution import GaussianFit, gaussian_fit

__all__ = [
    "GaussianFit",
    "MultiscaleSSIM",
    "gaussian_fit",
    "ms_ssim_3d",
    "mse",
    "psnr",
    "segment_cracks",
    "segmentation_scores",
    "ssim",
    "ssim_map",
]
