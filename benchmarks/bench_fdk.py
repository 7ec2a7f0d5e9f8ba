"""Benchmark the PyTorch cone-beam forward projector and FDK reconstruction.

Example::

    python benchmarks/bench_fdk.py --sizes 64 128 256 --threads 2

For every size ``n`` an ``n³`` volume (a uniform sphere of attenuation 1) is projected onto ``n``
views (unless ``--views`` is given) with :func:`forward_project` and reconstructed with
:func:`fdk_reconstruct`. Printed: best wall time of ``--repeat`` runs, throughput in voxel·views
per second, and the reconstructed value in the sphere's centre (ideal 1.0).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import torch

from xrsr_lib.simulate.ct.geometry import ConeGeometry
from xrsr_lib.simulate.ct.torch_projector import fdk_reconstruct, forward_project


def _sphere(n: int, voxel_size: float, radius: float) -> np.ndarray:
    c = (np.arange(n) - (n - 1) / 2.0) * voxel_size
    z, y, x = np.meshgrid(c, c, c, indexing="ij", sparse=True)
    return ((x**2 + y**2 + z**2) <= radius**2).astype(np.float32)


def _best_time(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256], help="volume edge lengths")
    parser.add_argument("--views", type=int, default=None, help="number of views (default: = size)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per measurement (best is reported)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: unchanged)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--filter", default="ram-lak", help="FDK filter window")
    args = parser.parse_args(argv)

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    print(f"torch {torch.__version__}, device={device}, threads={torch.get_num_threads()}")
    print(
        f"{'size':>5} {'views':>5} {'detector':>9} {'forward s':>10} {'FP Mvv/s':>9} {'FDK s':>8} "
        f"{'FDK Mvv/s':>9} {'centre':>8}"
    )
    voxel_size = 1.0
    for n in args.sizes:
        views = args.views or n
        geom = ConeGeometry.for_volume(n, voxel_size, views, source_origin=4.0 * n, origin_detector=2.0 * n)
        radius = 0.35 * n * voxel_size
        vol = _sphere(n, voxel_size, radius)
        work = n**3 * views / 1e6  # million voxel-views
        # warm-up (allocator, FFT plans) on a tiny problem
        tiny = ConeGeometry.for_volume(8, voxel_size, 8, 32.0, 16.0)
        fdk_reconstruct(
            forward_project(np.ones((8, 8, 8)), tiny, voxel_size, device=device),
            tiny,
            (8, 8, 8),
            voxel_size,
            device=device,
        )
        t_fp, proj = _best_time(partial(forward_project, vol, geom, voxel_size, device=device), args.repeat)
        recon = partial(fdk_reconstruct, proj, geom, (n, n, n), voxel_size, filter=args.filter, device=device)
        t_fdk, rec = _best_time(recon, args.repeat)
        c = n // 2
        k = max(1, n // 8)
        centre = float(np.mean(rec[c - k : c + k, c - k : c + k, c - k : c + k]))
        print(
            f"{n:5d} {views:5d} {geom.det_rows:4d}x{geom.det_cols:<4d} {t_fp:10.2f} {work / t_fp:9.1f} "
            f"{t_fdk:8.2f} {work / t_fdk:9.1f} {centre:8.4f}"
        )


if __name__ == "__main__":
    main()
