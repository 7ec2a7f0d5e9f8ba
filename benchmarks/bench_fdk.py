"""Benchmark the PyTorch cone-beam forward projector and FDK reconstruction, and FDK against mbirjax.

Example::

    python benchmarks/bench_fdk.py --sizes 64 128 256 --threads 2

For every size ``n`` an ``n³`` volume (a uniform sphere of attenuation 1) is projected onto ``n``
views (unless ``--views`` is given) with :func:`forward_project` and reconstructed with
:func:`fdk_reconstruct`. Printed: best wall time of ``--repeat`` runs, throughput in voxel·views
per second, and the reconstructed value in the sphere's centre (ideal 1.0).

Peer comparison (``--peer mbirjax``, the default when ``mbirjax`` is importable; install it with
``pip install -e .[bench]``): for every size the same exact (analytic) projections of a phantom of
four spheres (a sphere of radius ``0.35 n`` voxels with three smaller ones inside it; values add,
so the phantom is 0, 1 or 2) are reconstructed by our FDK and by ``mbirjax.ConeBeamModel.fdk_recon``
(its only filter, ``ramp``, is our ``ram-lak``; pass ``--filter`` to change ours) in the same
geometry. Printed: best of ``--repeat`` timed runs of each after one untimed full-size warm-up run
each (jax compilation for mbirjax, FFT plans and allocator for ours; mbirjax's first-call time is
printed too), the ratio mbirjax time / ours, and the errors against the exact phantom (voxel
averages over 4³ sub-voxels):

* ``interior``: RMSE and mean absolute error over voxels inside 0.8 of the large sphere's radius and
  more than 3 voxels from every sphere surface (flat regions);
* ``FOV``: RMSE over the cylinder of radius ``n/2`` voxels about the rotation axis (the region that
  mbirjax reconstructs: with its default region-of-reconstruction mask it sets voxels outside it to 0);
* ``cube``: RMSE over the whole cube (mbirjax is exactly right in the corners there, because its
  mask zeroes them and the phantom is 0 there).

Threads: ``--threads N`` sets ``torch.set_num_threads(N)``, pins the process to ``N`` CPUs when it
may use more (``os.sched_setaffinity``, like ``taskset``; jax sizes its thread pool from the
affinity) and sets ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads=N``
before jax is imported.

Geometry mapping to mbirjax (checked by the accuracy numbers; any other axis order or flip gives
errors of order 0.1): the sinogram ``(views, rows, channels)`` and the angles are passed as they
are, ``source_detector_dist = sod + odd``, ``source_iso_dist = sod``, ``delta_det_row =
delta_det_channel = det_pixel`` and ``delta_voxel = voxel_size`` (1 ALU = 1 µm), and mbirjax's
``recon[i_row, j_col, k_slice]`` is our ``volume[k, n - 1 - i, j]``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import time
import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import torch
from _timing import best_time  # benchmarks/ is on sys.path when a benchmark runs

from xrsr_lib.simulate.ct.analytic import project_spheres
from xrsr_lib.simulate.ct.geometry import ConeGeometry
from xrsr_lib.simulate.ct.torch_projector import fdk_reconstruct, forward_project

PEERS = ("mbirjax", "none")


def _sphere(n: int, voxel_size: float, radius: float) -> np.ndarray:
    c = (np.arange(n) - (n - 1) / 2.0) * voxel_size
    z, y, x = np.meshgrid(c, c, c, indexing="ij", sparse=True)
    return ((x**2 + y**2 + z**2) <= radius**2).astype(np.float32)


def _best_time(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    return best_time(fn, repeat, cuda=torch.cuda.is_available())


# ---------------------------------------------------------------------------------------------- peer
def peer_spheres(n: int, voxel_size: float) -> np.ndarray:
    """Return the comparison phantom: rows ``(x, y, z, r, 1)`` in µm (values of overlapping spheres add)."""
    s = n * voxel_size
    return np.array(
        [
            [0.0, 0.0, 0.0, 0.35 * s, 1.0],
            [0.15 * s, -0.05 * s, 0.08 * s, 0.08 * s, 1.0],
            [-0.12 * s, 0.10 * s, -0.10 * s, 0.06 * s, 1.0],
            [0.02 * s, 0.20 * s, 0.15 * s, 0.05 * s, 1.0],
        ]
    )


def voxelize_spheres(spheres: np.ndarray, n: int, voxel_size: float, ss: int = 4) -> np.ndarray:
    """Exact phantom: the mean of ``ss³`` sub-voxel samples per voxel (only near surfaces), float32."""
    c = (np.arange(n) - (n - 1) / 2.0) * voxel_size
    z, y, x = np.meshgrid(c, c, c, indexing="ij", sparse=True)
    out = np.zeros((n, n, n), np.float32)
    off = ((np.arange(ss) + 0.5) / ss - 0.5) * voxel_size
    oz, oy, ox = (o.ravel() for o in np.meshgrid(off, off, off, indexing="ij"))
    for sx, sy, sz, r, _ in spheres:
        d = np.sqrt((x - sx) ** 2 + (y - sy) ** 2 + (z - sz) ** 2)
        out += d <= r
        shell = np.nonzero(np.abs(d - r) < 0.9 * voxel_size)  # voxels the surface may cut
        px, py, pz = x[0, 0, shell[2]], y[0, shell[1], 0], z[shell[0], 0, 0]
        d2 = (px[:, None] + ox - sx) ** 2 + (py[:, None] + oy - sy) ** 2 + (pz[:, None] + oz - sz) ** 2
        inside = d2 <= r * r
        out[shell] += inside.mean(axis=1) - (d[shell] <= r)
    return out


def error_masks(spheres: np.ndarray, n: int, voxel_size: float) -> dict[str, np.ndarray]:
    """Boolean masks of the regions the errors are reported over (see the module docstring)."""
    c = (np.arange(n) - (n - 1) / 2.0) * voxel_size
    z, y, x = np.meshgrid(c, c, c, indexing="ij", sparse=True)
    edge = np.full((n, n, n), np.inf)
    for sx, sy, sz, r, _ in spheres:
        edge = np.minimum(edge, np.abs(np.sqrt((x - sx) ** 2 + (y - sy) ** 2 + (z - sz) ** 2) - r))
    big = spheres[0]
    r0 = np.sqrt((x - big[0]) ** 2 + (y - big[1]) ** 2 + (z - big[2]) ** 2)
    interior = (r0 < 0.8 * big[3]) & (edge > 3 * voxel_size)
    fov = np.broadcast_to(np.hypot(x, y) <= n * voxel_size / 2.0, (n, n, n))
    return {"interior": interior, "fov": fov}


def errors(rec: np.ndarray, phantom: np.ndarray, masks: dict[str, np.ndarray]) -> dict[str, float]:
    """Return the reconstruction errors of ``rec`` against ``phantom`` (in its attenuation units).

    RMSE and mean absolute error over ``masks["interior"]``, RMSE over ``masks["fov"]`` and over
    the whole cube.
    """
    e = rec.astype(np.float64) - phantom
    ei = e[masks["interior"]]
    return {
        "int_rmse": float(np.sqrt(np.mean(ei**2))),
        "int_mae": float(np.mean(np.abs(ei))),
        "fov_rmse": float(np.sqrt(np.mean(e[masks["fov"]] ** 2))),
        "cube_rmse": float(np.sqrt(np.mean(e**2))),
    }


def mbirjax_fdk(
    projections: np.ndarray, geom: ConeGeometry, n: int, voxel_size: float
) -> Callable[[], np.ndarray]:
    """Return a callable running ``mbirjax.ConeBeamModel.fdk_recon`` on ``projections``.

    The callable returns our ``[z, y, x]`` layout; the model is built here, outside the timing.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mbirjax

    model = mbirjax.ConeBeamModel(
        projections.shape,
        geom.angles,
        source_detector_dist=geom.source_detector,
        source_iso_dist=geom.source_origin,
    )
    model.set_params(
        delta_det_channel=geom.det_pixel,
        delta_det_row=geom.det_pixel,
        delta_voxel=voxel_size,
        recon_shape=(n, n, n),
        verbose=0,
    )

    def run() -> np.ndarray:
        rec = np.asarray(model.fdk_recon(projections))  # (rows, cols, slices), blocks until done
        return np.ascontiguousarray(np.transpose(rec, (2, 0, 1))[:, ::-1, :])

    return run


def compare_with_peer(
    n: int, views: int, repeat: int, filter: str, device: str, voxel_size: float = 1.0
) -> dict[str, Any]:
    """Time and score our FDK and mbirjax's on the same exact projections (see module docstring)."""
    geom = ConeGeometry.for_volume(n, voxel_size, views, source_origin=4.0 * n, origin_detector=2.0 * n)
    spheres = peer_spheres(n, voxel_size)
    proj = project_spheres(spheres, geom)
    phantom = voxelize_spheres(spheres, n, voxel_size)
    masks = error_masks(spheres, n, voxel_size)

    ours = partial(fdk_reconstruct, proj, geom, (n, n, n), voxel_size, filter=filter, device=device)
    ours()  # warm-up: FFT plans, allocator
    t_ours, rec_ours = _best_time(ours, repeat)

    peer = mbirjax_fdk(proj, geom, n, voxel_size)
    t0 = time.perf_counter()
    peer()  # warm-up: jax tracing and compilation
    t_first = time.perf_counter() - t0
    t_peer, rec_peer = _best_time(peer, repeat)
    return {
        "n": n,
        "views": views,
        "ours_s": t_ours,
        "peer_s": t_peer,
        "peer_first_s": t_first,
        "ours": errors(rec_ours, phantom, masks),
        "peer": errors(rec_peer, phantom, masks),
    }


def _limit_cpus(threads: int) -> str:
    """Pin this process to ``threads`` CPUs (when it may use more) and tell XLA the thread count."""
    flags = f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={threads}"
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + flags).strip()
    note = f"XLA_FLAGS={os.environ['XLA_FLAGS']!r}"
    if hasattr(os, "sched_getaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) > threads:
            os.sched_setaffinity(0, cpus[:threads])
            note += f"; pinned to CPUs {cpus[:threads]}"
        else:
            note += f"; CPUs available: {cpus}"
    return note


def main(argv: list[str] | None = None) -> None:
    """Run the projector / FDK benchmark for every ``--sizes`` and print the results."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256], help="volume edge lengths")
    parser.add_argument("--views", type=int, default=None, help="number of views (default: = size)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per measurement (best is reported)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: unchanged)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--filter", default="ram-lak", help="FDK filter window")
    has_mbirjax = importlib.util.find_spec("mbirjax") is not None
    parser.add_argument(
        "--peer",
        choices=PEERS,
        default="mbirjax" if has_mbirjax else "none",
        help="FDK to compare with (default: mbirjax when installed)",
    )
    parser.add_argument("--no-own", action="store_true", help="skip the forward/FDK table (peer only)")
    args = parser.parse_args(argv)

    if args.threads is not None:
        print(f"threads: {args.threads} ({_limit_cpus(args.threads)})")
        torch.set_num_threads(args.threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    print(f"torch {torch.__version__}, device={device}, threads={torch.get_num_threads()}")
    voxel_size = 1.0
    if not args.no_own:
        print(
            f"{'size':>5} {'views':>5} {'detector':>9} {'forward s':>10} {'FP Mvv/s':>9} {'FDK s':>8} "
            f"{'FDK Mvv/s':>9} {'centre':>8}"
        )
    for n in args.sizes if not args.no_own else []:
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

    if args.peer == "none":
        if not has_mbirjax:
            print("peer comparison skipped: mbirjax is not installed (pip install -e .[bench])")
        return
    if not has_mbirjax:
        raise SystemExit("--peer mbirjax: mbirjax is not installed (pip install -e .[bench])")
    import jax

    print(
        f"\nFDK vs mbirjax {importlib.metadata.version('mbirjax')} (jax {jax.__version__}, "
        f"{jax.devices()[0].platform}): exact projections of 4 spheres, filter ours={args.filter} / "
        f"mbirjax=ramp, best of {args.repeat} after one warm-up run each"
    )
    print(
        f"{'size':>5} {'views':>5} {'ours s':>7} {'mbirjax s':>9} {'(1st call)':>10} {'ratio':>6} | "
        f"{'interior RMSE':>15} {'interior MAE':>15} {'FOV RMSE':>15} {'cube RMSE':>15}   (ours / mbirjax)"
    )
    for n in args.sizes:
        r = compare_with_peer(n, args.views or n, args.repeat, args.filter, device, voxel_size)
        o, p = r["ours"], r["peer"]
        cols = " ".join(f"{o[k]:7.5f}/{p[k]:7.5f}" for k in ("int_rmse", "int_mae", "fov_rmse", "cube_rmse"))
        print(
            f"{n:5d} {r['views']:5d} {r['ours_s']:7.2f} {r['peer_s']:9.2f} {r['peer_first_s']:10.2f} "
            f"{r['peer_s'] / r['ours_s']:6.2f} | {cols}"
        )


if __name__ == "__main__":
    main()
