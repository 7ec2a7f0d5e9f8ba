"""Benchmark Richardson-Lucy (ours, PyTorch) against scikit-image, and time non-local means.

Example (the issue's measurement: 128³, 30 iterations, 2 threads)::

    python benchmarks/bench_richardson_lucy.py --size 128 --sigma 3 --iterations 30 --threads 2 --nlm-sizes

A phantom of random spheres (``--size``³ voxels) is blurred with :func:`gaussian_psf` (σ = ``--sigma``
voxels) by a zero-boundary linear convolution and deconvolved with ``--iterations`` RL iterations by
:func:`xrsr_lib.restore.deconv.richardson_lucy` and by :func:`skimage.restoration.richardson_lucy`
(``clip=False``) on the same float64 input in the same run. Ours is timed with each convolution
method (``auto``, the default, and ``fft``; ``separable`` when ``auto`` does not pick it), best of
``--repeat`` runs; scikit-image best of ``--skimage-repeat``. Printed: the times, the speed-up of
``auto`` over scikit-image, and for every method the max absolute difference to scikit-image's result,
also relative to the maximum of that result and of the input image. The 1-minute load average is
printed before and after (other jobs on the machine slow both sides, not always equally). Then
:func:`nlm_denoise` (fast mode, default patch size 5 / distance 6) is timed once on a noisy volume of
each ``--nlm-sizes`` edge length (none: skipped).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from _timing import best_time  # benchmarks/ is on sys.path when a benchmark runs
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


def _chosen_method(image: np.ndarray, psf: np.ndarray) -> str:
    """Return the convolution method ``richardson_lucy(method='auto')`` takes for this image and PSF."""
    from xrsr_lib.restore.convolution import choose_method as _choose_method
    from xrsr_lib.restore.convolution import separable_factors as _separable_factors

    return _choose_method("auto", _separable_factors(psf), image.shape, psf.shape)


def main() -> None:
    """Time our Richardson-Lucy against scikit-image's (and non-local means) and print the results."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=128, help="RL volume edge length (voxels)")
    parser.add_argument("--sigma", type=float, default=3.0, help="Gaussian blur sigma (voxels)")
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3, help="runs of our RL (best time is reported)")
    parser.add_argument("--device", default=None, help="torch device (default: CUDA if available else CPU)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--skimage-repeat", type=int, default=2, help="runs of scikit-image (best counts)")
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

    print(f"load average (1 min) before: {os.getloadavg()[0]:.2f}")
    methods = ["auto", "fft"]
    chosen = _chosen_method(blurred, psf)
    if chosen != "separable":
        methods.append("separable")
    results: dict[str, tuple[float, np.ndarray]] = {}
    for method in methods:
        try:
            richardson_lucy(blurred[:16, :16, :16], psf, 1, device=device, method=method)  # warm-up
        except ValueError as exc:  # a non-separable PSF
            print(f"ours ({method}): {exc}")
            continue
        results[method] = best_time(
            lambda m=method: richardson_lucy(blurred, psf, args.iterations, device=device, method=m),
            args.repeat,
            cuda,
        )
        label = f"ours ({method}{' = ' + chosen if method == 'auto' else ''}, float32):"
        print(f"{label:34s}{results[method][0]:8.2f} s  (best of {args.repeat})")
    t_ours, ours = results["auto"]
    if not args.skip_skimage:
        from skimage.restoration import richardson_lucy as sk_richardson_lucy

        t_sk, ref = best_time(
            lambda: sk_richardson_lucy(blurred, psf, num_iter=args.iterations, clip=False),
            args.skimage_repeat,
            False,
        )
        print(f"{'scikit-image (float64):':34s}{t_sk:8.2f} s  (best of {args.skimage_repeat})")
        print(f"{'speed-up (auto):':34s}{t_sk / t_ours:8.1f} x")
        for method, (_, out) in results.items():
            diff = float(np.abs(out.astype(np.float64) - ref).max())
            print(
                f"max |ours ({method}) - skimage|: {diff:.3e}  (relative to the result's max "
                f"{diff / np.abs(ref).max():.3e}, to the input's max {diff / blurred.max():.3e})"
            )
    print(f"load average (1 min) after: {os.getloadavg()[0]:.2f}")
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
