"""Linear 'same'-mode convolutions with a fixed kernel, as Richardson-Lucy repeats them.

Both equal :func:`scipy.ndimage.convolve`-style zero-boundary linear convolution cropped to the
input (scipy.signal ``convolve(..., mode='same')``), up to float32 rounding: a separable kernel by
banded matrix products per axis (:class:`SeparableConvolver`), any kernel by real FFTs of a
5-smooth, alias-free size (:class:`FFTConvolver`); :func:`choose_method` picks by an operation count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from scipy.fft import next_fast_len

__all__ = ["CONVOLUTION_METHODS", "FFTConvolver", "SeparableConvolver", "choose_method", "separable_factors"]

# Speed of float32 matrix products over float32 real FFTs per floating-point operation, used to choose
# between the two ways of convolving (see choose_method); measured 7-10 on CPU (MKL, 1 and 2 threads,
# 128³ and 256³).
_GEMM_FFT_SPEED = 8.0
# Output rows per matrix product along an axis of the separable convolution (see SeparableConvolver):
# _SEPARABLE_BLOCK for kernels longer than _SHORT_KERNEL taps, _SHORT_BLOCK for shorter ones. A block of
# b rows costs 2 (b + k - 1) flops per voxel; smaller blocks waste less on the band's edges but run
# less efficient products. Measured (RL, 128³, 30 iterations, 2 threads, best of 3; blocks 16/24/32/
# 48/64): σ = 3 (25 taps) 0.90/0.85/0.90/1.07/1.08 s, σ = 5 (41) 1.31/1.31/1.47/1.44/1.38 s, σ = 9
# (73) 1.61/1.62/1.48/1.57/1.38 s.
_SEPARABLE_BLOCK = 64
_SHORT_BLOCK = 24
_SHORT_KERNEL = 41
# A PSF is treated as separable when the outer product of its marginals equals it to this fraction of
# its maximum (a Gaussian from gaussian_psf: < 1e-14).
_SEPARABLE_RTOL = 1e-7
CONVOLUTION_METHODS = ("auto", "fft", "separable")


def separable_factors(psf: np.ndarray) -> list[np.ndarray] | None:
    """1D factors ``f_0, ..., f_{d-1}`` with ``psf = f_0 ⊗ ... ⊗ f_{d-1}``, or None if not separable."""
    total = float(psf.sum())
    axes = range(psf.ndim)
    factors = [psf.sum(axis=tuple(b for b in axes if b != a)) for a in axes]
    factors[1:] = [f / total for f in factors[1:]]
    outer = factors[0]
    for f in factors[1:]:
        outer = np.multiply.outer(outer, f)
    if np.abs(outer - psf).max() <= _SEPARABLE_RTOL * float(psf.max()):
        return factors
    return None


def _block_rows(k: int) -> int:
    """Output rows per matrix product for a ``k``-tap kernel (see :data:`_SEPARABLE_BLOCK`)."""
    return _SHORT_BLOCK if k <= _SHORT_KERNEL else _SEPARABLE_BLOCK


class SeparableConvolver:
    """Linear 'same'-mode convolution with a separable kernel: one banded matrix product per axis.

    Along an axis of ``n`` samples, scipy's ``convolve(x, f, mode='same')`` with a kernel of ``k``
    taps is ``y = T x`` with the ``n × n`` banded Toeplitz matrix ``T[i, j] = f[i + c - j]`` (0 outside
    ``0 <= i + c - j < k``), ``c = (k - 1) // 2``: the zero boundary is the truncation of the band.
    A volume viewed as ``(rows, n)`` is convolved along its last axis by ``T @ x.T``, which leaves
    the result with that axis first; after one product per axis (last to first) the axes are back in
    their order without any transposing copy. The output rows are computed in blocks of
    :data:`_SEPARABLE_BLOCK`, each from the input columns its band reaches. Cost: about
    ``2 N (b + k - 1)`` flops per axis for ``N`` voxels, in float32 matrix products.
    """

    def __init__(self, factors: Sequence[np.ndarray], image_shape: tuple[int, ...], device: torch.device):
        self.shape = tuple(image_shape)
        # per axis: (s, e, ws, we, T[s:e, ws:we]) for blocks of output rows [s, e), which read the
        # input columns [ws, we) = [s - (k - 1 - c), e + c) clipped to the axis
        self.blocks: list[list[tuple[int, int, int, int, torch.Tensor]]] = []
        for f, n in zip(factors, self.shape, strict=True):
            taps = np.asarray(f, dtype=np.float64)
            k = len(taps)
            c = (k - 1) // 2
            blocks = []
            block = _block_rows(k)
            for s in range(0, n, block):
                e = min(n, s + block)
                ws, we = max(0, s - (k - 1 - c)), min(n, e + c)
                q = np.arange(s, e)[:, None] + c - np.arange(ws, we)[None, :]
                t = np.where((q >= 0) & (q < k), taps[np.clip(q, 0, k - 1)], 0.0).astype(np.float32)
                blocks.append((s, e, ws, we, torch.as_tensor(t, device=device)))
            self.blocks.append(blocks)
        self.buffers: list[torch.Tensor] = []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve ``x`` (of the image shape, not one of this convolver's buffers).

        The result is one of its two buffers, overwritten by its next call.
        """
        if not self.buffers:
            self.buffers = [x.new_empty(math.prod(self.shape)) for _ in range(2)]
        for step, axis in enumerate(reversed(range(len(self.shape)))):
            n = x.shape[-1]
            cols = x.reshape(-1, n)
            out = self.buffers[step % 2].view(n, *x.shape[:-1])
            rows = out.view(n, -1)
            for s, e, ws, we, t in self.blocks[axis]:
                torch.matmul(t, cols[:, ws:we].T, out=rows[s:e])
            x = out
        return x


class FFTConvolver:
    """Linear 'same'-mode convolution with a fixed kernel via real FFTs of the smallest safe size.

    scipy's ``convolve(x, kernel, mode='same')`` is ``y[i] = Σ_j x[j] kernel[i + c - j]`` with
    ``c = (k - 1) // 2`` per axis. The kernel is stored circularly centred (tap ``q`` at index
    ``(q - c) mod L``) in an FFT grid of ``L >= n + max(c, k - 1 - c)`` samples per axis (rounded up
    to a 5-smooth length), into whose first ``n`` samples the input is written: a circular convolution
    on that grid wraps only the zero padding onto the first ``n`` outputs, so they equal the linear
    convolution with zero boundary (``n + k - 1`` samples, as :func:`scipy.signal.fftconvolve` pads,
    are not needed). The kernel's transform is computed once.
    """

    def __init__(self, kernel: torch.Tensor, image_shape: tuple[int, ...]) -> None:
        self.dims = tuple(range(-kernel.ndim, 0))
        offsets = [(k - 1) // 2 for k in kernel.shape]
        self.fft_shape = tuple(
            next_fast_len(n + max(c, k - 1 - c), real=True)
            for n, k, c in zip(image_shape, kernel.shape, offsets, strict=True)
        )
        self.crop = tuple(slice(0, n) for n in image_shape)
        # taps further than n - 1 from the centre never reach the output (and might not fit the grid)
        keep = tuple(
            slice(max(0, c - n + 1), min(k, c + n))
            for n, k, c in zip(image_shape, kernel.shape, offsets, strict=True)
        )
        index = [
            (torch.arange(s.start, s.stop, device=kernel.device) - c) % size
            for s, c, size in zip(keep, offsets, self.fft_shape, strict=True)
        ]
        grid = kernel.new_zeros(self.fft_shape)
        grid[torch.meshgrid(*index, indexing="ij")] = kernel[keep]
        self.kernel_ft = torch.fft.rfftn(grid, dim=self.dims)
        self.buffer = kernel.new_zeros(self.fft_shape)  # zero outside [0, n) on every axis
        self.input = self.buffer[self.crop]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve ``x`` (of the image shape) with the kernel, 'same' mode, zero boundary.

        The result is a view into a fresh FFT output of the padded grid, cropped to the image shape.
        """
        self.input.copy_(x)
        spec = torch.fft.rfftn(self.buffer, dim=self.dims)
        spec *= self.kernel_ft
        return torch.fft.irfftn(spec, s=self.fft_shape, dim=self.dims)[self.crop]


def _exact_matmul() -> bool:
    """Whether float32 matrix products run in full float32 (no TF32 / bfloat16 shortcuts)."""
    return torch.get_float32_matmul_precision() == "highest"


def choose_method(
    method: str, factors: list[np.ndarray] | None, shape: tuple[int, ...], kernel_shape: tuple[int, ...]
) -> str:
    """Resolve ``method`` to the convolution method it stands for, ``'fft'`` or ``'separable'``.

    ``'auto'`` takes ``'fft'`` for a non-separable PSF (``factors is None``) or reduced-precision
    float32 matrix products, else compares one convolution's operation counts: ``2 N Σ_a
    min(n_a, b + k_a - 1)`` for the matrix products (``N`` voxels, ``b`` rows per product)
    against ``5 M log2 M`` for a real FFT pair of ``M`` samples, weighted by :data:`_GEMM_FFT_SPEED`.
    """
    if method == "separable":
        if factors is None:
            raise ValueError("method='separable' needs a separable psf (an outer product of 1D kernels)")
        return "separable"
    if method == "fft" or factors is None or not _exact_matmul():
        return "fft"
    pairs = list(zip(shape, kernel_shape, strict=True))
    gemm_flops = 2.0 * math.prod(shape) * sum(min(n, _block_rows(k) + k - 1) for n, k in pairs)
    fft_size = math.prod(next_fast_len(n + k // 2, real=True) for n, k in pairs)
    fft_flops = 5.0 * fft_size * math.log2(max(fft_size, 2))
    return "separable" if gemm_flops <= _GEMM_FFT_SPEED * fft_flops else "fft"
