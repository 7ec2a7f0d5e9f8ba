"""Classical resolution recovery baselines: Richardson-Lucy deconvolution and non-local means.

Richardson-Lucy (RL) is implemented in PyTorch (CPU or CUDA) and reproduces
:func:`skimage.restoration.richardson_lucy` step for step:

* the estimate starts as a constant 0.5 everywhere (not the data);
* every convolution is scipy's ``convolve(..., mode='same')``: a *linear* convolution with zero
  boundary (the image is taken as 0 outside its support), cropped to the input shape with the
  central part of the ``'full'`` result, i.e. starting at index ``(k - 1) // 2`` along an axis where
  the PSF has ``k`` samples;
* the correction step convolves with the mirrored PSF ``psf[::-1, ::-1, ...]``;
* ``1e-12`` is added to the re-blurred estimate before dividing;
* with a truthy ``filter_epsilon`` the ratio is set to 0 where the re-blurred estimate (plus
  ``1e-12``) is below it;
* with ``clip`` the final estimate is clipped to [-1, 1] (after the last iteration only).

The convolutions are computed in one of two ways, both exactly the linear convolution above (no
truncation or boundary change; they differ only by float32 rounding):

* ``'separable'``, for a PSF that is an outer product of 1D kernels (every :func:`gaussian_psf`):
  along each axis the 'same' convolution is a product with a banded Toeplitz matrix, computed by
  float32 matrix products (blocks of 64 output rows). With the kernel truncated at 4σ (as
  :func:`gaussian_psf` samples it) this costs ~``2 · 3 · min(n, 64 + 8σ)`` flops per voxel, at
  matrix-product speed: at 128³, σ = 3-5, 30 iterations it measured 15-20x scikit-image's time
  with one torch thread (``benchmarks/bench_richardson_lucy.py``);
* ``'fft'``, for any PSF: real FFTs of ``n + max(c, k - 1 - c)`` samples per axis, ``c = (k - 1) // 2``,
  rounded up to a 5-smooth length (the circular wrap-around then only reaches the zero padding, see
  :class:`FFTConvolver`), with the PSF's transform computed once and reused for the mirrored PSF
  when the PSF is symmetric.

``method='auto'`` picks the cheaper by an operation count (see :func:`choose_method`).

Differences from scikit-image, all tested in ``tests/test_deconv.py``: the arithmetic is float32
(scikit-image follows the input dtype, float64 for float64 input), giving differences of ~1e-6 of
the image maximum after 30 iterations (the tests allow 1e-5, and 1e-4 elementwise relative); the
default ``clip`` is ``False`` here (scikit-image: ``True``); negative image values, non-finite
values and negative PSF entries are rejected instead of being processed silently. Like
scikit-image, the PSF is used as given (not re-normalised).

Non-local means (:func:`nlm_denoise`) wraps :func:`skimage.restoration.denoise_nl_means` with the
noise level from :func:`skimage.restoration.estimate_sigma` (which needs PyWavelets).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import numpy as np
import torch

from xrsr_lib.device import resolve_device
from xrsr_lib.io.validate import check_array, check_int, check_real
from xrsr_lib.restore.convolution import (
    CONVOLUTION_METHODS,
    FFTConvolver,
    SeparableConvolver,
    choose_method,
    separable_factors,
)

__all__ = ["deconvolve_gaussian", "gaussian_psf", "nlm_denoise", "richardson_lucy"]

# Added to the re-blurred estimate before division, as in scikit-image.
_RL_EPS = 1e-12


# ---------------------------------------------------------------------------------------------- checks
def _is_real_number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def _check_sigma(value: object, name: str) -> float:
    return check_real(value, name, 0.0, unit=" voxels")


def _check_positive_int(value: object, name: str) -> int:
    return check_int(value, name, 1)


def _check_array(arr: object, name: str) -> np.ndarray:
    return check_array(arr, name, (1, 2, 3, 4), dtype=None)


# ---------------------------------------------------------------------------------------------- PSF
def gaussian_psf(sigma: float | Sequence[float], truncate: float = 4.0) -> np.ndarray:
    """Return a sampled, truncated 3D Gaussian point spread function.

    The kernel is the outer product of 1D Gaussians ``exp(-x² / 2σ²)`` sampled at integer offsets
    ``x = -r..r`` with ``r = int(truncate * σ + 0.5)`` (the same radius as
    :func:`scipy.ndimage.gaussian_filter`, which is used to degrade the data), each normalised to
    sum 1, so the product sums to 1. A zero sigma gives a length-1 axis (no blur along it).

    Parameters
    ----------
    sigma : float or sequence of 3 floats
        Standard deviation in voxels, isotropic or per axis (z, y, x); each >= 0.
    truncate : float
        Kernel half-width in standard deviations, > 0.

    Returns
    -------
    numpy.ndarray
        float64 array of odd size along every axis, centred, symmetric, summing to 1.
    """
    if _is_real_number(sigma):
        sigmas = (_check_sigma(sigma, "sigma"),) * 3
    else:
        try:
            seq = list(sigma)  # type: ignore[arg-type]
        except TypeError:
            raise ValueError(f"sigma must be a number or a sequence of 3 numbers, got {sigma!r}") from None
        if len(seq) != 3:
            raise ValueError(f"sigma must have 3 entries (z, y, x), got {len(seq)}")
        checked = tuple(_check_sigma(s, f"sigma[{i}]") for i, s in enumerate(seq))
        sigmas = cast(tuple[float, float, float], checked)
    if not _is_real_number(truncate) or not math.isfinite(truncate) or truncate <= 0:
        raise ValueError(f"truncate must be a finite number > 0, got {truncate!r}")
    kernels = []
    for s in sigmas:
        if s == 0:
            kernels.append(np.ones(1))
            continue
        radius = int(truncate * s + 0.5)
        x = np.arange(-radius, radius + 1, dtype=np.float64)
        k = np.exp(-0.5 * (x / s) ** 2)
        kernels.append(k / k.sum())
    return kernels[0][:, None, None] * kernels[1][None, :, None] * kernels[2][None, None, :]


# ---------------------------------------------------------------------------------------------- RL
def richardson_lucy(
    image: np.ndarray,
    psf: np.ndarray,
    iterations: int = 30,
    clip: bool = False,
    filter_epsilon: float | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
    method: str = "auto",
) -> np.ndarray:
    """Richardson-Lucy deconvolution, equivalent to scikit-image's, on CPU or CUDA.

    The update is ``u <- u * (conv(d / (conv(u, psf) + 1e-12), flip(psf)))`` starting from
    ``u = 0.5``, with zero-boundary 'same' convolutions (see the module docstring for the exact
    correspondence with :func:`skimage.restoration.richardson_lucy`).

    Parameters
    ----------
    image : numpy.ndarray
        Degraded N-D image (2D, 3D, ...), finite and non-negative. Volumes are (z, y, x). For data
        with negative values (reconstructed CT) use :func:`deconvolve_gaussian`.
    psf : numpy.ndarray
        Point spread function with the same number of dimensions as ``image``; finite, non-negative,
        non-zero sum. Used as given (normalise it to sum 1 to preserve intensities).
    iterations : int
        Number of RL iterations (>= 1); acts as the regularisation.
    clip : bool
        Clip the result to [-1, 1] as scikit-image does by default (default ``False`` here).
    filter_epsilon : float, optional
        If given and non-zero, the data/re-blur ratio is set to 0 where the re-blurred estimate is
        below this value (as in scikit-image; ``None`` or 0 disables it).
    device : str or torch.device, optional
        Compute device; default CUDA when available, else CPU.
    progress : bool
        Show a tqdm progress bar over iterations.
    method : {'auto', 'fft', 'separable'}
        How the convolutions are computed; both give scipy's zero-boundary 'same' convolution and
        differ only by float32 rounding. ``'separable'`` (separable PSFs such as
        :func:`gaussian_psf`): one banded matrix product per axis, ``~2 (b + k - 1)`` flops per
        voxel and axis for a ``k``-tap kernel (``b = 24`` up to 41 taps, else 64); ``'fft'``: real
        FFTs of the smallest alias-free size. ``'auto'`` takes the separable products when the PSF is
        separable, they are estimated to be faster, and float32 matrix products run at full precision
        (``torch.get_float32_matmul_precision() == 'highest'``, the default: TF32 would cost ~1e-3).

    Returns
    -------
    numpy.ndarray
        float32 array of the image's shape.

    Raises
    ------
    ValueError
        On an empty or non-finite image, negative image values, a PSF of different dimensionality,
        non-finite, negative or zero-sum PSF, ``iterations < 1``, a bad ``filter_epsilon``, an
        unknown ``method`` or ``method='separable'`` with a non-separable PSF.
    """
    img = _check_array(image, "image")
    kern = _check_array(psf, "psf")
    if kern.ndim != img.ndim:
        raise ValueError(
            f"psf must have the same number of dimensions as image ({img.ndim}), got {kern.ndim}"
        )
    if (kern < 0).any():
        raise ValueError("psf must be non-negative")
    if not float(kern.sum()) > 0:
        raise ValueError("psf must have a non-zero (positive) sum")
    if (img < 0).any():
        raise ValueError(
            f"image must be non-negative for Richardson-Lucy (min {float(img.min()):.4g}); "
            "for data with negative values such as FDK volumes use deconvolve_gaussian, which shifts them"
        )
    n_iter = _check_positive_int(iterations, "iterations")
    if filter_epsilon is not None and (
        not _is_real_number(filter_epsilon) or not math.isfinite(filter_epsilon) or filter_epsilon < 0
    ):
        raise ValueError(f"filter_epsilon must be None or a finite number >= 0, got {filter_epsilon!r}")

    if method not in CONVOLUTION_METHODS:
        choices = ", ".join(map(repr, CONVOLUTION_METHODS))
        raise ValueError(f"method must be one of {choices}, got {method!r}")
    factors = separable_factors(kern)
    method = choose_method(method, factors, img.shape, kern.shape)

    dev = resolve_device(device)
    with torch.no_grad():
        data = torch.as_tensor(np.ascontiguousarray(img, dtype=np.float32), device=dev)
        blur: SeparableConvolver | FFTConvolver
        blur_adjoint: SeparableConvolver | FFTConvolver
        if method == "separable":
            assert factors is not None
            blur = SeparableConvolver(factors, img.shape, dev)
            blur_adjoint = SeparableConvolver([f[::-1] for f in factors], img.shape, dev)
        else:
            k = torch.as_tensor(np.ascontiguousarray(kern, dtype=np.float32), device=dev)
            blur = FFTConvolver(k, img.shape)
            k_flip = torch.flip(k, dims=tuple(range(k.ndim)))
            # an odd-sized symmetric PSF (e.g. a Gaussian) is its own mirror image: same transform
            symmetric = all(s % 2 == 1 for s in k.shape) and torch.equal(k, k_flip)
            blur_adjoint = blur if symmetric else FFTConvolver(k_flip, img.shape)
        estimate = torch.full(img.shape, 0.5, dtype=torch.float32, device=dev)
        steps = range(n_iter)
        if progress:
            from tqdm.auto import tqdm

            steps = tqdm(steps, desc="Richardson-Lucy", unit="it")
        for _ in steps:
            reblurred = blur(estimate)
            reblurred += _RL_EPS
            if filter_epsilon:
                ratio = data / reblurred
                ratio.masked_fill_(reblurred < filter_epsilon, 0.0)
            else:
                ratio = torch.div(data, reblurred, out=reblurred)
            estimate *= blur_adjoint(ratio)
        if clip:
            estimate.clamp_(-1.0, 1.0)
        return estimate.cpu().numpy()


# ---------------------------------------------------------------------------------------------- CT helper
def deconvolve_gaussian(
    volume: np.ndarray,
    sigma_voxels: float,
    iterations: int = 30,
    offset: str | float = "auto",
    device: str | torch.device | None = None,
    progress: bool = False,
    boundary: str = "reflect",
) -> np.ndarray:
    """Richardson-Lucy deconvolution of a volume blurred by a known isotropic Gaussian.

    Intended for reconstructed CT volumes, which contain negative values (noise and streaks around
    zero in air) that RL cannot take. What happens, exactly:

    1. ``sigma_voxels == 0``: a float32 copy of ``volume`` is returned (no deconvolution).
    2. An offset ``c`` is chosen: ``offset='auto'`` gives ``c = max(0, -volume.min())``, i.e. the
       volume is shifted up just enough that its minimum becomes 0 (no shift for non-negative data);
       a number is used as ``c`` directly and ``volume + c`` must then be non-negative.
    3. ``boundary='reflect'``: ``volume + c`` is padded on every face by the PSF radius
       ``ceil(4σ)`` with its mirror image (``numpy.pad(mode='symmetric')``); ``'zero'`` pads nothing.
    4. ``u = richardson_lucy(padded, gaussian_psf(sigma_voxels), iterations, clip=False)``, cropped
       back to the volume.
    5. ``u - c`` is returned (float32).

    Why a shift rather than clamping at a small positive floor: clamping rectifies the noise
    (negative values become the floor while positive ones stay), which biases the mean and the
    grey values of low-attenuation material upward and destroys the zero-mean character of the
    noise; a shift is linear, keeps all information, and RL with a normalised PSF approximately
    conserves the total intensity, so subtracting ``c`` afterwards restores the grey-value scale
    (the mean is preserved up to boundary effects). The price: RL is not shift-invariant, and a
    constant background slows the sharpening of small contrasts somewhat.

    Boundary: ``richardson_lucy`` (like scikit-image's) treats everything beyond the volume as 0.
    With the shift ``c`` the background is not 0, so the re-blurred estimate sags at the faces and
    RL brightens the outermost ``~2σ`` voxels into a frame (and a rim in every slice near the top
    and bottom). ``boundary='reflect'`` continues the volume by its mirror image instead, the usual
    practice, so the faces are deconvolved like the interior; ``'zero'`` keeps the scikit-image
    result exactly (its equality is tested).

    Parameters
    ----------
    volume : numpy.ndarray
        (z, y, x) volume, finite; any sign.
    sigma_voxels : float
        Standard deviation of the Gaussian blur in voxels (>= 0), as used to degrade the data.
    iterations : int
        RL iterations (>= 1).
    offset : 'auto' or float
        Additive shift applied before and removed after RL (see above).
    device : str or torch.device, optional
        Compute device; default CUDA when available, else CPU.
    progress : bool
        Show a progress bar over iterations.
    boundary : {'reflect', 'zero'}
        Values beyond the faces during RL (see above).

    Returns
    -------
    numpy.ndarray
        float32 volume of the input's shape.
    """
    if boundary not in ("reflect", "zero"):
        raise ValueError(f"boundary must be 'reflect' or 'zero', got {boundary!r}")
    vol = _check_array(volume, "volume")
    if vol.ndim != 3:
        raise ValueError(f"volume must be 3D (z, y, x), got shape {vol.shape}")
    sigma = _check_sigma(sigma_voxels, "sigma_voxels")
    n_iter = _check_positive_int(iterations, "iterations")
    vol = vol.astype(np.float32, copy=False)
    if isinstance(offset, str):
        if offset != "auto":
            raise ValueError(f"offset must be 'auto' or a number, got {offset!r}")
        shift = max(0.0, -float(vol.min()))
    elif _is_real_number(offset) and math.isfinite(offset):
        shift = float(offset)
        if float(vol.min()) + shift < 0:
            low = float(vol.min()) + shift
            raise ValueError(
                f"offset {shift} leaves negative values (min of volume + offset is {low:.4g}); "
                "use offset='auto' or a larger offset"
            )
    else:
        raise ValueError(f"offset must be 'auto' or a finite number, got {offset!r}")
    if sigma == 0:
        return vol.copy()
    shifted = vol + np.float32(shift)
    # float32 rounding of vol + shift can give -tiny values at the minimum
    np.maximum(shifted, 0, out=shifted)
    psf = gaussian_psf(sigma)
    pad = max(psf.shape) // 2 if boundary == "reflect" else 0
    if pad:
        shifted = np.pad(shifted, pad, mode="symmetric")
    out = richardson_lucy(shifted, psf, n_iter, clip=False, device=device, progress=progress)
    if pad:
        out = np.ascontiguousarray(out[pad:-pad, pad:-pad, pad:-pad])
    out -= np.float32(shift)
    return out


# ---------------------------------------------------------------------------------------------- NLM
def nlm_denoise(
    volume: np.ndarray,
    patch_size: int = 5,
    patch_distance: int = 6,
    h_factor: float = 0.8,
    fast_mode: bool = True,
    sigma: float | None = None,
    workers: int | None = None,
) -> np.ndarray:
    """Non-local means denoising of a volume (applied to RL results before segmentation).

    ``sigma`` fixes the noise level (in image units) instead of estimating it. RL results need
    this: RL turns white noise into spatially correlated speckle that the finest wavelet band, on
    which ``estimate_sigma`` relies, barely sees (it reports ~1e-4 where the speckle is ~0.1).

    The noise standard deviation ``σ`` is estimated with :func:`skimage.restoration.estimate_sigma`
    (wavelet median absolute deviation; needs PyWavelets), then
    ``skimage.restoration.denoise_nl_means(volume, h=h_factor * σ, sigma=σ, patch_size=...,
    patch_distance=..., fast_mode=..., channel_axis=None)`` is applied. Passing ``sigma`` lets
    scikit-image subtract the expected noise contribution from patch distances. If the estimated
    ``σ`` is 0 (noise-free data) a float32 copy is returned unchanged.

    CPU only. scikit-image's filter is single-threaded but releases the GIL, so the first axis is cut
    into ``workers`` slabs, each filtered in its own thread with a margin of
    ``patch_size // 2 + patch_distance + 1`` neighbouring slices (all a voxel's patches can reach),
    and the slabs' interiors are joined: equal to one whole-volume call to float32 round-off.

    Parameters
    ----------
    volume : numpy.ndarray
        2D image or (z, y, x) volume, finite.
    patch_size : int
        Patch side length in voxels (>= 1).
    patch_distance : int
        Maximal search distance in voxels (>= 1).
    h_factor : float
        Filter strength relative to the estimated noise sigma (> 0).
    fast_mode : bool
        scikit-image's fast (uniform patch weight) algorithm.
    sigma : float, optional
        Noise standard deviation to use; estimated when omitted.
    workers : int, optional
        Threads (slabs along the first axis); default ``torch.get_num_threads()``. Fewer are used when
        the slabs would be thinner than their margin.

    Returns
    -------
    numpy.ndarray
        float32 array of the input's shape.
    """
    from concurrent.futures import ThreadPoolExecutor

    from skimage.restoration import denoise_nl_means, estimate_sigma

    vol = _check_array(volume, "volume")
    if vol.ndim not in (2, 3):
        raise ValueError(f"volume must be 2D or 3D, got shape {vol.shape}")
    p = _check_positive_int(patch_size, "patch_size")
    d = _check_positive_int(patch_distance, "patch_distance")
    if not _is_real_number(h_factor) or not math.isfinite(h_factor) or h_factor <= 0:
        raise ValueError(f"h_factor must be a finite number > 0, got {h_factor!r}")
    vol = vol.astype(np.float32, copy=False)
    if sigma is not None:
        if not _is_real_number(sigma) or not math.isfinite(sigma) or sigma < 0:
            raise ValueError(f"sigma must be a finite number >= 0, got {sigma!r}")
        sigma = float(sigma)
    else:
        try:
            sigma = float(estimate_sigma(vol, channel_axis=None))
        except ImportError as exc:  # estimate_sigma needs PyWavelets
            msg = "nlm_denoise needs PyWavelets (pip install PyWavelets) for estimate_sigma"
            raise ImportError(msg) from exc
    if workers is None:
        workers = torch.get_num_threads()
    n_workers = _check_positive_int(workers, "workers")
    if not sigma > 0:
        return vol.copy()

    def denoise(block: np.ndarray) -> np.ndarray:
        out = denoise_nl_means(
            block,
            h=h_factor * sigma,
            sigma=sigma,
            patch_size=p,
            patch_distance=d,
            fast_mode=bool(fast_mode),
            channel_axis=None,
            preserve_range=True,
        )
        return np.asarray(out, dtype=np.float32)

    margin = p // 2 + d + 1
    n = vol.shape[0]
    n_workers = max(1, min(n_workers, n // max(1, margin)))
    if n_workers == 1:
        return denoise(vol)
    bounds = np.linspace(0, n, n_workers + 1).round().astype(int)
    slabs = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    result = np.empty(vol.shape, dtype=np.float32)

    def run(slab: tuple[int, int]) -> None:
        a, b = slab
        lo, hi = max(0, a - margin), min(n, b + margin)
        result[a:b] = denoise(vol[lo:hi])[a - lo : a - lo + (b - a)]

    with ThreadPoolExecutor(n_workers) as pool:
        list(pool.map(run, slabs))
    return result
