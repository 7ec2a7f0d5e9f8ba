"""Benchmark of the foam phantom generator and voxelizer (xrsr_lib.simulate.phantom).

Times :func:`generate_foam` for the small reference parameters (1,500 voids) and for the package
defaults (150,000 voids; foam_ct_phantom's C code took 3,194 s for them on the 2-core reference
machine), compares radius statistics with the reference phantoms, and times :func:`voxelize` at
256³ and 512³ (supersampling 4) on a phantom of about 3,000 voids.

Usage::

    python benchmarks/bench_phantom.py               # everything
    python benchmarks/bench_phantom.py --skip-defaults --sizes 128 256
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from xrsr_lib.simulate.phantom import generate_foam, spheres_from_flat, voxelize

REF_DIR = Path(__file__).resolve().parents[2] / "shared" / "reference"
REF_DEFAULT_SECONDS = 3194.0
QUANTILES = (0.0, 0.01, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0)
# statistics of pelt_default_phantom.h5 (used when the file is absent)
REF_DEFAULT_STATS = {
    0.0: 0.00599,
    0.01: 0.00602,
    0.25: 0.00688,
    0.5: 0.00825,
    0.75: 0.01111,
    0.9: 0.01641,
    0.99: 0.04492,
    1.0: 0.2,
}


def _reference_radii(name: str) -> np.ndarray | None:
    path = REF_DIR / name
    if not path.exists():
        return None
    import h5py

    with h5py.File(path, "r") as f:
        return spheres_from_flat(f["spheres"][()])[:, 3]


def _stats_table(ours: np.ndarray, ref: np.ndarray | None, maxsize: float, fallback: dict | None) -> None:
    ref_q = np.quantile(ref, QUANTILES) if ref is not None else [fallback.get(q, np.nan) for q in QUANTILES]
    print(f"    {'quantile':>8} {'ours':>9} {'reference':>9} {'ratio':>6}")
    for q, a, b in zip(QUANTILES, np.quantile(ours, QUANTILES), ref_q, strict=True):
        print(f"    {q * 100:7.0f}% {a:9.5f} {b:9.5f} {a / b:6.3f}")
    n_ref = int(np.sum(ref == np.float32(maxsize))) if ref is not None else 93
    print(f"    voids at r = maxsize: ours {int(np.sum(ours == np.float32(maxsize)))}, reference {n_ref}")


def _matrix_fraction(spheres: np.ndarray, n: int = 128) -> float:
    """Matrix volume fraction inside the cylinder for |z| <= 1 (voxelized, n³, supersampling 2)."""
    vs = 2.0 / n
    material = voxelize(spheres, (n, n, n), vs, supersampling=2).sum(dtype=np.float64)
    cylinder = voxelize(np.zeros((0, 5), np.float32), (n, n, n), vs, supersampling=2).sum(dtype=np.float64)
    return float(material / cylinder)


def _time(fn, *args, **kwargs) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def main() -> None:
    """Time the generator and the voxelizer; print timings and radius statistics (see the module doc)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--skip-defaults", action="store_true", help="skip the 150,000-void run")
    parser.add_argument("--sizes", type=int, nargs="*", default=[256, 512], help="voxelize grid sizes")
    parser.add_argument("--supersampling", type=int, default=4)
    parser.add_argument("--progress", action="store_true", help="show the generator's progress bar")
    args = parser.parse_args()

    # JIT warm-up (numba compiles on first use, then caches to disk)
    t_jit, tiny = _time(generate_foam, 0, 100, 20000, progress=False)
    t_jit2, _ = _time(voxelize, tiny, (8, 8, 8), 0.3)
    print(f"warm-up (JIT compile or cache load): generate {t_jit:.1f} s, voxelize {t_jit2:.1f} s")

    t, small = _time(generate_foam, args.seed, 1000, 1_000_000, 0.2, 1.5, progress=args.progress)
    print(f"\ngenerate_foam, small reference parameters (1,500 voids, 1.5M candidates): {t:.2f} s")
    _stats_table(small[:, 3], _reference_radii("pelt_small_phantom.h5"), 0.2, None)

    if not args.skip_defaults:
        t, big = _time(generate_foam, args.seed, progress=args.progress)
        print(
            f"\ngenerate_foam, package defaults (150,000 voids, 1.5M candidates): {t:.2f} s "
            f"(foam_ct_phantom: {REF_DEFAULT_SECONDS:.0f} s recorded on the reference machine, not timed "
            f"in this run -> ratio {REF_DEFAULT_SECONDS / t:.0f}x against that record)"
        )
        _stats_table(big[:, 3], _reference_radii("pelt_default_phantom.h5"), 0.2, REF_DEFAULT_STATS)
        line = f"    matrix fraction in the cylinder (|z| <= 1): ours {_matrix_fraction(big):.4f}"
        ref_path = REF_DIR / "pelt_default_phantom.h5"
        if ref_path.exists():
            import h5py

            with h5py.File(ref_path, "r") as f:
                line += f", reference {_matrix_fraction(spheres_from_flat(f['spheres'][()])):.4f}"
        print(line)

    t, foam = _time(generate_foam, args.seed, 2000, 1_000_000, 0.2, 1.5, progress=False)
    print(
        f"\nvoxelize: phantom of {len(foam)} voids (generated in {t:.2f} s), "
        f"supersampling {args.supersampling}, field of view 2.2 (cylinder radius 1)"
    )
    for n in args.sizes:
        t, vol = _time(voxelize, foam, (n, n, n), 2.2 / n, supersampling=args.supersampling)
        print(f"    {n}^3: {t:.2f} s   (mean material fraction {float(vol.mean()):.4f})")
        del vol


if __name__ == "__main__":
    main()
