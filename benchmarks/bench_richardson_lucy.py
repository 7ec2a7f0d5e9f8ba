"""Benchmark Richardson-Lucy (ours, PyTorch FFT) against scikit-image, and time non-local means.

Example::

    python benchmarks/bench_richardson_lucy.py --size 128 --sigma 3 --iterations 30 --nlm-sizes 128 256

A phantom of random spheres (``--size``³ voxels) is blurred with :func:`gaussian_psf` (σ = ``--sigma``
voxels) by a zero-boundary linear convolution and deconvolved with ``--iterations`` RL iterations by
:func:`xrsr_lib.restore.deconv.richardson_lucy` and by :func:`skimage.restoration.richardson_lucy`
(``clip=False``) on the same float64 input in the same run. Printed: best wall time of ``--repeat``
runs of ours (one run of scikit-image, which is slow), the speed-up ratio, the max absolute difference
and the max difference relative to the image maximum. Then :func:`nlm_denoise` (fast mode, default
patch size 5 / distance 6) is timed once on a noisy volume of each ``--nlm-sizes`` edge length.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from scipy.signal import fftconvolve

from xrsr_lib.restore.deconv import gaussian_psf, nlm_denoise, richardson_lucy
from xrsr_lib.simulate.ct.torch_projector import resolve_device


def _spheres(n: int, count: int, rng: np.random.Generator) -> np.ndarray:
    z, y, x = np.ogrid[:n, :n, :n]
    vol = np.zeros((n, n, n))
    for _ in range(count):
        c = rng.uniform(0.15 * n, 0.85 * n, 3)
        r = rng.uniform(0.02 * n, 0.08 * n)
        vol[(z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 <= r**2] = rng.uniform(0.3, 1.0)
    return vol


def _timed(fn: Callable[[], Any], repeat: int, cuda: bool) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = fn()
        if cuda:
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=128, help="RL volume edge length (voxels)")
    parser.add_argument("--sigma", type=float, default=3.0, help="Gaussian blur sigma (voxels)")
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3, help="runs of our RL (best time is reported)")
    parser.add_argument("--device", default=None, help="torch device (default: CUDA if available else CPU)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--skip-skimage", action="store_true", help="do not run scikit-image's RL")
    parser.add_argument("--nlm-sizes", type=int, nargs="*", default=[128, 256], help="NLM volume edges")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    rng = np.random.default_rng(args.seed)
    print(
        f"device={device} torch_threads={torch.get_num_threads()} size={args.size}^3 sigma={args.sigma} "
        f"iterations={args.iterations}"
    )

    psf = gaussian_psf(args.sigma)
    truth = _spheres(args.size, 40, rng)
    blurred = np.clip(fftconvolve(truth, psf, mode="same"), 0.0, None)
    blurred += rng.uniform(0.0, 0.01, blurred.shape)  # a little non-negative noise

    richardson_lucy(blurred[:16, :16, :16], psf, 1, device=device)  # warm-up (FFT plans, CUDA init)
    t_ours, ours = _timed(
        lambda: richardson_lucy(blurred, psf, args.iterations, device=device), args.repeat, cuda
    )
    print(f"ours (torch, float32):        {t_ours:8.2f} s  (best of {args.repeat})")
    if not args.skip_skimage:
        from skimage.restoration import richardson_lucy as sk_richardson_lucy

        t_sk, ref = _timed(
            lambda: sk_richardson_lucy(blurred, psf, num_iter=args.iterations, clip=False), 1, False
        )
        diff = np.abs(ours.astype(np.float64) - ref)
        print(f"scikit-image (float64):       {t_sk:8.2f} s")
        print(f"speed-up:                     {t_sk / t_ours:8.1f} x")
        print(
            f"max |ours - skimage|:         {diff.max():.3e}  (relative to max {diff.max() / ref.max():.3e})"
        )
    mse_b = np.mean((blurred - truth) ** 2)
    mse_rl = np.mean((ours - truth) ** 2)
    print(f"MSE to truth: blurred {mse_b:.4e}, RL {mse_rl:.4e}")

    for n in args.nlm_sizes:
        noisy = (_spheres(n, 40, rng) + rng.normal(0.0, 0.05, (n, n, n))).astype(np.float32)
        t0 = time.perf_counter()
        out = nlm_denoise(noisy)
        t = time.perf_counter() - t0
        print(f"nlm_denoise {n}^3 (fast_mode, patch 5, distance 6): {t:8.1f} s  (out std {out.std():.3f})")


if __name__ == "__main__":
    main()
