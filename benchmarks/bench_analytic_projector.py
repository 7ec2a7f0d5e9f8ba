"""Time the exact cone-beam foam projector (:func:`xrsr_lib.simulate.ct.analytic.project_foam`).

Cases (cylinder radius R, geometry ``ConeGeometry.for_volume(n, 1.0, n, 5n, 5n)``, supersampling 2):

* ``256``: R = 120 µm, 256 angles
* ``512``: R = 240 µm, 512 angles

The void list (unit cylinder radius, scaled by R; ``--generator xrsr`` uses
:func:`xrsr_lib.simulate.phantom.generate_foam` instead) is made here by greedy random sequential
placement: many trial points in the cylinder, each knowing the radius of the largest void that
fits there; the point with the largest room becomes a void (radius capped at ``maxsize``).

Usage::

    .venv/bin/python benchmarks/bench_analytic_projector.py --cases 256 512
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from xrsr_lib.simulate.ct.analytic import project_foam
from xrsr_lib.simulate.ct.geometry import ConeGeometry

CASES = {"256": (256, 120.0), "512": (512, 240.0)}


def _sample_points(rng: np.random.Generator, n: int, zrange: float) -> np.ndarray:
    """``n`` uniform points in the unit-radius cylinder with ``|z| <= zrange``."""
    pts = np.empty((0, 3))
    while pts.shape[0] < n:
        xy = rng.uniform(-1.0, 1.0, (2 * n, 2))
        xy = xy[np.sum(xy * xy, axis=1) <= 1.0]
        z = rng.uniform(-zrange, zrange, (xy.shape[0], 1))
        pts = np.concatenate([pts, np.hstack([xy, z])])
    return pts[:n]


def _room(points: np.ndarray, voids: np.ndarray) -> np.ndarray:
    """Radius of the largest void centred at each point that stays in the cylinder and off other voids."""
    room = 1.0 - np.hypot(points[:, 0], points[:, 1])
    if voids.shape[0]:
        d = np.linalg.norm(points[:, None, :] - voids[None, :, :3], axis=-1) - voids[None, :, 3]
        room = np.minimum(room, d.min(axis=1))
    return room


def make_voids(
    n_voids: int, seed: int = 0, zrange: float = 1.5, maxsize: float = 0.2, n_trials: int = 50_000
) -> np.ndarray:
    """Non-overlapping voids ``(n_voids, 5)`` = (x, y, z, r, 0) in a unit-radius cylinder."""
    rng = np.random.default_rng(seed)
    points = _sample_points(rng, n_trials, zrange)
    room = _room(points, np.zeros((0, 4)))
    voids = np.zeros((n_voids, 4))
    for k in range(n_voids):
        i = int(np.argmax(room))
        voids[k, :3] = points[i]
        voids[k, 3] = min(room[i], maxsize)
        room = np.minimum(room, np.linalg.norm(points - points[i], axis=1) - voids[k, 3])
        bad = np.flatnonzero(room <= 0.0)
        while bad.size:  # trial points swallowed by a void move to free space
            points[bad] = _sample_points(rng, bad.size, zrange)
            room[bad] = _room(points[bad], voids[: k + 1])
            bad = bad[room[bad] <= 0.0]
    return np.hstack([voids, np.zeros((n_voids, 1))])


def main() -> None:
    """Time :func:`project_foam` for each ``--cases`` size and print the times (see the module docstring)."""
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=fmt)
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=["256", "512"])
    parser.add_argument("--n-voids", type=int, default=3000)
    parser.add_argument("--supersampling", type=int, default=2)
    parser.add_argument("--n-angles", type=int, default=None, help="number of angles (default n)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--progress", action="store_true")
    parser.add_argument(
        "--generator",
        choices=["builtin", "xrsr"],
        default="builtin",
        help="void list from this script, or from xrsr_lib.simulate.phantom.generate_foam (zrange 1.5)",
    )
    args = parser.parse_args()

    t0 = time.perf_counter()
    if args.generator == "xrsr":
        from xrsr_lib.simulate.phantom import generate_foam

        per_unit = int(np.ceil(args.n_voids / 1.5))
        unit_voids = np.asarray(generate_foam(args.seed, per_unit, 100 * per_unit, 0.2, 1.5, progress=False))
        unit_voids = unit_voids.astype(np.float64)
        args.n_voids = unit_voids.shape[0]
    else:
        unit_voids = make_voids(args.n_voids, seed=args.seed)
    print(
        f"voids: {args.n_voids} in {time.perf_counter() - t0:.1f} s; radius min/median/max "
        f"{unit_voids[:, 3].min():.4f}/{np.median(unit_voids[:, 3]):.4f}/{unit_voids[:, 3].max():.4f} (R = 1)"
    )

    # compile (or load the numba cache) outside the timings
    t0 = time.perf_counter()
    project_foam(unit_voids[:2] * 10, ConeGeometry.for_volume(8, 1.0, 2, 50.0, 50.0), 10.0, 2)
    print(f"numba compile / cache load: {time.perf_counter() - t0:.1f} s")

    for name in args.cases:
        n, radius = CASES[name]
        n_angles = args.n_angles or n
        geo = ConeGeometry.for_volume(n, 1.0, n_angles, 5.0 * n, 5.0 * n)
        voids = unit_voids.copy()
        voids[:, :4] *= radius
        t0 = time.perf_counter()
        projs = project_foam(voids, geo, radius, args.supersampling, progress=args.progress)
        dt = time.perf_counter() - t0
        print(
            f"case {name}: {n_angles} x {geo.det_rows} x {geo.det_cols} (ss {args.supersampling}), "
            f"R = {radius} µm: {dt:.2f} s total, {1e3 * dt / n_angles:.1f} ms / projection; "
            f"range [{projs.min():.1f}, {projs.max():.1f}] µm"
        )


if __name__ == "__main__":
    main()
