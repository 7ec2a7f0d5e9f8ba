"""Benchmark our pore analysis against porespy (SNOW partitioning + ``regionprops_3D``) on one volume.

Example (the issue's measurement: 256³, 2 threads, best of 2)::

    python benchmarks/bench_pores.py --size 256 --threads 2 --repeat 2

The volume is foam-like, with a known answer: a cylinder of matrix (grey value 1, 0 outside, radius
15/16 of the half width, as in the study's profiles) holding non-overlapping spherical pores
(grey value 0) of radii drawn log-uniformly in ``--radii`` voxels, placed by random sequential
addition at least ``--gap`` voxels apart (walls of 2 voxels or less are closed by the pore mask's
closing and must be split by the watershed), clear of the cylinder's surface shell and of the first
and last slices; then blurred (Gaussian, σ = ``--blur`` voxels) and given Gaussian noise
(σ = ``--noise``). The voxel is 1 µm.

* ours: :func:`xrsr_lib.evaluate.pores.analyse_pores` on the whole cylinder with the study's
  settings (``PoreAnalysisConfig(surface_margin_um=6)``, the evaluation's default margin; Otsu
  threshold, closing, speck removal, h-maxima watershed, marching-cubes sphericity), as
  ``StudyAEvaluation.pores`` calls it;
* porespy: the pore phase (grey value below Otsu's threshold of the same inner cylinder, inside
  it) partitioned by ``porespy.filters.snow_partitioning`` (defaults ``r_max=4``, ``sigma=0.4``),
  then ``porespy.metrics.regionprops_3D`` with, per region, the quantities ours reports: volume,
  equivalent diameter, sphericity (marching cubes) and centroid. The thresholding is timed with it.

Both get ``--threads`` threads (porespy's ``settings.ncores`` for its distance transform; ours is
single-threaded) and are warmed up on a small phantom first. Printed: the best of ``--repeat`` wall
times of each, the ratio, and against the known spheres: the pore count, the porosity (pore voxels /
voxels of the inner cylinder, the sharp phantom's for the truth), the mean equivalent diameter
``(6V/π)^(1/3)`` (of the voxelized spheres for the truth), the mean sphericity (1 for the
truth's spheres; each tool meshes its own way) and a matching: a pore *matches* the sphere
containing its centroid; spheres matched once, spheres split into several pores, pores whose centroid
lies in no sphere. porespy has no speck removal; its count is also given for regions at least as
large as ours keeps (``min_pore_diameter_um``).
"""

from __future__ import annotations

import argparse
import math
import os

import numpy as np
from _timing import best_time  # benchmarks/ is on sys.path when a benchmark runs
from scipy.ndimage import gaussian_filter

from xrsr_lib.evaluate.pores import PoreAnalysisConfig, analyse_pores
from xrsr_lib.prepare.masks import cylinder_mask

MARGIN_UM = 6.0  # EvaluationConfig.foam_mask_margin_um, the study's surface shell


def foam_phantom(
    n: int, radii: tuple[float, float], gap: float, porosity: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, float]:
    """Sharp foam volume, its sphere labels (0: no sphere) and the cylinder radius (voxels).

    Spheres (radii log-uniform in ``radii``, largest first) are added at random positions until
    their volume reaches ``porosity`` of the inner cylinder or 20,000 positions were tried; each
    keeps ``gap`` voxels to the others, ``MARGIN_UM + 2`` to the cylinder's surface and 2 to the
    first and last slices.
    """
    radius = n / 2 * 15 / 16
    inner_radius = radius - MARGIN_UM
    target = porosity * math.pi * inner_radius**2 * n
    r_all = np.sort(np.exp(rng.uniform(math.log(radii[0]), math.log(radii[1]), 20_000)))[::-1]
    centres: list[np.ndarray] = []
    sizes: list[float] = []
    volume = 0.0
    axis = (n - 1) / 2
    for r in r_all:
        if volume >= target:
            break
        rho = math.sqrt(rng.uniform(0.0, 1.0)) * (inner_radius - 2 - r)
        if rho < 0:
            continue
        phi = rng.uniform(0.0, 2 * math.pi)
        c = np.array([rng.uniform(r + 2, n - 3 - r), axis + rho * math.sin(phi), axis + rho * math.cos(phi)])
        if centres:
            d = np.linalg.norm(np.asarray(centres) - c, axis=1)
            if np.any(d < np.asarray(sizes) + r + gap):
                continue
        centres.append(c)
        sizes.append(float(r))
        volume += 4 / 3 * math.pi * r**3
    labels = np.zeros((n, n, n), np.int32)
    for i, (c, r) in enumerate(zip(centres, sizes, strict=True)):
        lo = np.maximum(np.floor(c - r).astype(int), 0)
        hi = np.minimum(np.ceil(c + r).astype(int) + 1, n)
        z, y, x = np.ogrid[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
        inside = (z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 <= r**2
        labels[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]][inside] = i + 1
    image = cylinder_mask((n, n, n), radius).astype(np.float32)
    image[labels > 0] = 0.0
    return image, labels, radius


def run_porespy(image: np.ndarray, inner: np.ndarray) -> dict[str, np.ndarray]:
    """Run porespy's SNOW partitioning of the pore phase and its per-region properties."""
    import porespy as ps
    from skimage.filters import threshold_otsu

    pores = (image < threshold_otsu(image[inner])) & inner
    snow = ps.filters.snow_partitioning(pores)
    props = ps.metrics.regionprops_3D(snow.regions)
    rows = np.array(
        [(p.volume, p.equivalent_diameter_area, p.sphericity, *p.centroid) for p in props], dtype=np.float64
    ).reshape(-1, 6)
    return {
        "pores": pores,
        "volume": rows[:, 0],
        "diameter": rows[:, 1],
        "sphericity": rows[:, 2],
        "centroid": rows[:, 3:],
    }


def match(centroids: np.ndarray, labels: np.ndarray) -> tuple[int, int, int]:
    """Spheres matched once, spheres matched by several pores, pores matching no sphere."""
    idx = np.clip(np.rint(centroids).astype(int), 0, np.array(labels.shape) - 1)
    hit = labels[idx[:, 0], idx[:, 1], idx[:, 2]] if len(idx) else np.zeros(0, np.int32)
    counts = np.bincount(hit[hit > 0], minlength=int(labels.max()) + 1)[1:]
    once, split, false = counts == 1, counts > 1, hit == 0
    return int(np.count_nonzero(once)), int(np.count_nonzero(split)), int(np.count_nonzero(false))


def main() -> None:
    """Make the test volume, time both pore analyses and print times and errors against the truth."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=256, help="volume edge length (voxels = µm)")
    parser.add_argument("--radii", type=float, nargs=2, default=(3.0, 16.0), help="sphere radii (voxels)")
    parser.add_argument("--gap", type=float, default=2.0, help="least distance between spheres (voxels)")
    parser.add_argument("--porosity", type=float, default=0.3, help="target pore fraction of the cylinder")
    parser.add_argument("--blur", type=float, default=1.0, help="Gaussian blur σ (voxels)")
    parser.add_argument("--noise", type=float, default=0.05, help="Gaussian noise σ (grey values)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each (best time counts)")
    parser.add_argument("--threads", type=int, default=2, help="threads for porespy's distance transform")
    parser.add_argument("--skip-porespy", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    sharp, labels, radius = foam_phantom(args.size, tuple(args.radii), args.gap, args.porosity, rng)
    image = gaussian_filter(sharp, args.blur) + rng.normal(0.0, args.noise, sharp.shape).astype(np.float32)
    shape = image.shape
    inner = np.ascontiguousarray(cylinder_mask(shape, radius - MARGIN_UM))
    truth_vox = np.bincount(labels.ravel())[1:]
    truth_d = (6 * truth_vox / math.pi) ** (1 / 3)
    truth_porosity = np.count_nonzero((labels > 0) & inner) / np.count_nonzero(inner)
    print(
        f"volume {shape[0]}^3, cylinder radius {radius:.1f} voxels, {len(truth_vox)} spheres, "
        f"blur σ {args.blur}, noise σ {args.noise}, threads {args.threads}"
    )
    print(f"load average (1 min) before: {os.getloadavg()[0]:.2f}")

    config = PoreAnalysisConfig(surface_margin_um=MARGIN_UM)
    foam = cylinder_mask(shape, radius)
    # warm-up on a small phantom (imports, numba compilation in porespy), not timed
    small, _, r_small = foam_phantom(48, (3.0, 6.0), args.gap, args.porosity, np.random.default_rng(1))
    analyse_pores(small, cylinder_mask(small.shape, r_small), 1.0, config)
    t_ours, ours = best_time(lambda: analyse_pores(image, foam, 1.0, config), args.repeat)
    cen = ours.table[["centroid_z", "centroid_y", "centroid_x"]].to_numpy()
    n_true = len(truth_vox)
    rows = [
        ("truth", n_true, truth_porosity, float(truth_d.mean()), 1.0, (n_true, 0, 0), None),
        (
            "ours",
            ours.n_pores,
            ours.porosity,
            float(ours.table["diameter_um"].mean()),
            ours.mean_sphericity,
            match(cen, labels),
            t_ours,
        ),
    ]
    if not args.skip_porespy:
        import porespy as ps

        ps.settings.ncores = args.threads
        ps.settings.tqdm["disable"] = True
        run_porespy(small, np.ascontiguousarray(cylinder_mask(small.shape, r_small - MARGIN_UM)))
        t_ps, res = best_time(lambda: run_porespy(image, inner), args.repeat)
        porosity = np.count_nonzero(res["pores"]) / np.count_nonzero(inner)
        rows.append(
            (
                "porespy",
                len(res["volume"]),
                porosity,
                float(res["diameter"].mean()),
                float(res["sphericity"].mean()),
                match(res["centroid"], labels),
                t_ps,
            )
        )
        min_vox = math.pi / 6 * config.min_pore_diameter_um**3
        big = res["volume"] >= min_vox
        rows.append(
            (
                f"porespy >= {config.min_pore_diameter_um:g} µm",
                int(big.sum()),
                porosity,
                float(res["diameter"][big].mean()),
                float(res["sphericity"][big].mean()),
                match(res["centroid"][big], labels),
                None,
            )
        )
    print(
        f"{'':22s}{'time s':>8s}{'pores':>7s}{'porosity':>10s}{'mean d µm':>11s}{'mean ψ':>8s}"
        f"{'matched':>9s}{'split':>7s}{'false':>7s}"
    )
    for name, count, por, d, psi, (m1, split, false), t in rows:
        ts = f"{t:8.2f}" if t is not None else f"{'':8s}"
        print(f"{name:22s}{ts}{count:7d}{por:10.4f}{d:11.2f}{psi:8.3f}{m1:9d}{split:7d}{false:7d}")
    if not args.skip_porespy:
        print(f"porespy / ours time: {t_ps / t_ours:.2f} x  (best of {args.repeat} each)")
    print(f"load average (1 min) after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
