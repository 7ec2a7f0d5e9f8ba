"""Benchmark tiled inference against one whole-volume pass of the same network.

Example (the issue's measurement: the ``cpu`` profile's networks on 256³, 2 threads)::

    python benchmarks/bench_tiling.py --size 256 --threads 2

Each volume network of study A is built with the profile's architecture (random initialisation,
eval mode) and applied to a random smooth ``--size``³ volume (Gaussian-filtered noise) in two ways:

(a) one whole-volume pass: DeepNet (2.5D) maps every stack of ``n_slices`` adjacent z-slices at full
    (y, x) size, ``--batch-size`` stacks per call, and each slice is the mean over the stacks holding
    it (as :func:`xrsr_lib.infer.tiling.predict_2p5d` averages in z); SRCNN3D maps the whole volume in
    one forward call (if that runs out of memory, this is printed and the row is skipped);
(b) the library's tiled inference, :meth:`xrsr_lib.infer.loaded.LoadedModel.predict` with the
    profile's inference tiling (``inference.tile`` / ``inference.overlap``; DeepNet: (y, x) tiles,
    SRCNN3D: 3D blocks;
    the outer half of each overlap gets zero weight, the inner half is blended), ``--batch-size``
    tiles per call;
(c) the same with the *balanced* tile: the smallest tile giving the same number of tiles per axis
    as (b) (tiles of (b) are ``tile`` long and the last one is flush with the end, so it overlaps its
    neighbour by more than ``2 * overlap``). It shows what a smaller ``inference.tile`` setting buys;
    it is not what the profile runs (skipped when it equals (b)'s tile).

Printed per network: the wall times (best of ``--repeat``), the overhead of (b) and (c) over (a) in
%, the voxels the network processes in (b) and (c) relative to (a) (the cost of the overlaps,
which no implementation of the blending can avoid), the time beyond that share (cutting, blending
and per-call costs: ``t / (t_a · share) - 1``), and the max absolute difference between the
outputs of (b) and (a), also relative to the max of |(a)| (where the network's receptive-field
radius exceeds the zero-weight margin, the padding at tile edges reaches the result).
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _timing import best_time  # benchmarks/ is on sys.path when a benchmark runs
from scipy.ndimage import gaussian_filter

from xrsr_lib.config import load_profile
from xrsr_lib.infer.loaded import LoadedModel
from xrsr_lib.infer.tiling import tile_starts
from xrsr_lib.models import build_model
from xrsr_lib.prepare.normalization import Normalization


def whole_2p5d(model: torch.nn.Module, volume: np.ndarray, n_slices: int, batch_size: int) -> np.ndarray:
    """Every stack of ``n_slices`` slices at full size through the network; z-mean over stacks."""
    nz = volume.shape[0]
    acc = np.zeros(volume.shape, np.float32)
    count = np.zeros(nz, np.float32)
    starts = list(range(nz - n_slices + 1))
    with torch.inference_mode():
        for i in range(0, len(starts), batch_size):
            chunk = starts[i : i + batch_size]
            batch = torch.from_numpy(np.stack([volume[z : z + n_slices] for z in chunk]))
            out = model(batch).numpy()
            for z, pred in zip(chunk, out, strict=True):
                acc[z : z + n_slices] += pred
                count[z : z + n_slices] += 1
    return acc / count[:, None, None]


def whole_3d(model: torch.nn.Module, volume: np.ndarray) -> np.ndarray:
    """Apply ``model`` to the whole volume in one forward call."""
    with torch.inference_mode():
        return model(torch.from_numpy(volume)[None, None])[0, 0].numpy()


def balanced_tile(size: int, tile: int, overlap: int) -> int:
    """Smallest tile with as many tiles along ``size`` as ``tile`` (see :func:`tile_starts`)."""
    n_tiles = len(tile_starts(size, tile, overlap))
    if n_tiles == 1:
        return min(tile, size)
    return math.ceil((size + 2 * overlap * (n_tiles - 1)) / n_tiles)


def processed_voxels(shape: tuple[int, ...], tile: int, overlap: int, axes: tuple[int, ...]) -> int:
    """Voxels the network sees when ``axes`` are tiled (the others whole)."""
    total = 1
    for ax, n in enumerate(shape):
        total *= len(tile_starts(n, tile, overlap)) * min(tile, n) if ax in axes else n
    return total


def bench_network(name: str, settings: Any, volume: np.ndarray, args: argparse.Namespace) -> None:
    """Time and compare (a), (b) and (c) for one network; print the rows."""
    model = build_model(name, settings.architecture).eval()
    tile, overlap = settings.inference.tile, settings.inference.overlap
    config = {"method": name, "model": settings.architecture.model_dump(), "settings": settings.model_dump()}
    kind = "volume_2p5d" if name == "deepnet" else "volume_3d"
    loaded = LoadedModel(kind, name, model, config, Path("."), Normalization(0.0, 1.0, 0.0, 1.0))
    tiled_axes = (1, 2) if name == "deepnet" else (0, 1, 2)
    small = (1, settings.architecture.n_slices, 32, 32) if name == "deepnet" else (1, 1, 16, 16, 16)
    with torch.inference_mode():  # warm-up (allocator, oneDNN primitives), not timed
        model(torch.zeros(small))
    radius = model.receptive_field() // 2
    print(
        f"\n{name}: {settings.architecture.model_dump()}, inference tile {tile}, overlap {overlap} "
        f"(zero-weight margin {loaded.tile_margin()}; receptive-field radius {radius})"
    )
    try:
        if name == "deepnet":
            n_slices = settings.architecture.n_slices
            t_whole, whole = best_time(
                lambda: whole_2p5d(model, volume, n_slices, args.batch_size), args.repeat
            )
        else:
            t_whole, whole = best_time(lambda: whole_3d(model, volume), args.repeat)
    except (RuntimeError, MemoryError) as exc:  # out of memory
        print(f"  (a) whole-volume pass: did not run ({type(exc).__name__}: {str(exc)[:120]})")
        t_whole, whole = None, None
    t_tiled, tiled = best_time(lambda: loaded.predict(volume, batch_size=args.batch_size), args.repeat)
    share = processed_voxels(volume.shape, tile, overlap, tiled_axes) / volume.size
    rows = [("(a) whole volume", t_whole, 1.0), ("(b) tiled (profile)", t_tiled, share)]
    bt = balanced_tile(volume.shape[-1], tile, overlap)
    if not args.no_balanced and bt < min(tile, volume.shape[-1]):
        t_bal, _ = best_time(lambda: loaded.predict(volume, batch_size=args.batch_size, tile=bt), args.repeat)
        share = processed_voxels(volume.shape, bt, overlap, tiled_axes) / volume.size
        rows.append((f"(c) tiled, tile {bt}", t_bal, share))
    for label, t, share in rows:
        if t is None:
            continue
        over = rest = ""
        if t_whole and t is not t_whole:
            over = f"{100 * (t / t_whole - 1):+7.1f} %"
            rest = f", time beyond the voxel share {100 * (t / (t_whole * share) - 1):+6.1f} %"
        print(f"  {label:24s}{t:8.2f} s  {over:>9s}  network voxels x{share:.2f}{rest}")
    if whole is not None:
        diff = float(np.abs(tiled - whole).max())
        rel = diff / float(np.abs(whole).max())
        print(f"  max |(b) - (a)|: {diff:.3e}  (relative to max |(a)| {rel:.3e})")


def main() -> None:
    """Time tiled inference against the whole-volume pass for each ``--networks`` and print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=256, help="volume edge length (voxels)")
    parser.add_argument("--profile", default="cpu", help="profile whose architectures and tiling are used")
    parser.add_argument("--networks", nargs="+", default=["deepnet", "srcnn"], choices=["deepnet", "srcnn"])
    parser.add_argument("--batch-size", type=int, default=1, help="stacks / tiles per forward call")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each (best time counts)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--no-balanced", action="store_true", help="skip (c), the balanced tile")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    n = args.size
    volume = gaussian_filter(rng.normal(0.0, 1.0, (n, n, n)), 2.0).astype(np.float32)
    volume /= volume.std()
    profile = load_profile(args.profile)
    print(
        f"profile {args.profile}, volume {n}^3, torch threads {torch.get_num_threads()}, "
        f"batch size {args.batch_size}, best of {args.repeat}"
    )
    print(f"load average (1 min) before: {os.getloadavg()[0]:.2f}")

    for name in args.networks:
        bench_network(name, getattr(profile.methods, name), volume, args)
    print(f"\nload average (1 min) after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
