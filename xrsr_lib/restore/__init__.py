"""Classical restoration: Richardson-Lucy deconvolution (FFT, torch) and non-local means."""

from xrsr_lib.restore.deconv import deconvolve_gaussian, gaussian_psf, nlm_denoise, richardson_lucy

__all__ = ["deconvolve_gaussian", "gaussian_psf", "nlm_denoise", "richardson_lucy"]
