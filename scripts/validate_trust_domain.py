"""Does the trust map notice a scan unlike its calibration? Cases built for it, with their truth.

A DeepNet is trained on a foam scanned at 3 µm blur (on a 1 µm grid: the input) against its 1 µm
scan (the reference), and its trust map calibrated on held-out slices of that pair
(``Recovery.calibrate``). Then another piece of the same foam, and other scans, are recovered
with ``Recovery.predict(volume, trust=True)``:

- ``like``: the same scan settings (3 µm), another realization: the verdict should be "like";
- ``blur 5 / 7 / 9 µm``: a coarser objective;
- ``noise 2x / 4x``: shorter exposure;
- ``gain 0.6 / 1.6``: another grey scale (voltage, filter, reconstruction scaling);
- ``small pores``: another void-size law (radii 1.5-4 µm instead of 3-8 µm), scanned the same way;
- ``blobs``: another structure (a thresholded Gaussian random field, like porespy's blobs).

Per case: the fraction of domain blocks flagged, the verdict and the features that moved, and the
empirical coverage of the 90 % intervals against that case's own 1 µm scan (the flag should rise
where the coverage falls). The scans are made in the image domain: ``gain × (G_σ * truth + noise)``
(truth: matrix 1, pores 0), the reference ``G_1µm * truth + noise/2.5``.

Usage::

    PYTHONPATH=. python scripts/validate_trust_domain.py --size cpu --out out/trust_domain

writes ``trust_domain.csv`` and ``trust_domain.md`` (the table) and prints the table. ``--size
smoke`` is what ``tests/test_trust_validation.py`` runs (48³, a model trained for seconds).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter


@dataclass(frozen=True)
class Size:
    """Volume edge (voxels of 1 µm), training iterations, and the calibration's share of the slices."""

    n: int
    iterations: int
    calibration_slices: int
    gap: int = 8


SIZES = {"smoke": Size(48, 6, 16), "cpu": Size(96, 300, 24)}
BASE_NOISE = 0.05  # grey units, of a matrix-pore contrast of 1
BASE_SIGMA_UM = 3.0
REFERENCE_SIGMA_UM = 1.0
CASES: dict[str, dict[str, Any]] = {
    "like (3 µm)": {},
    "blur 5 µm": {"sigma": 5.0},
    "blur 7 µm": {"sigma": 7.0},
    "blur 9 µm": {"sigma": 9.0},
    "noise 2x": {"noise": 2.0},
    "noise 4x": {"noise": 4.0},
    "gain 0.6": {"gain": 0.6},
    "gain 1.6": {"gain": 1.6},
    "small pores": {"material": "small"},
    "blobs": {"material": "blobs"},
}


def phantom(seed: int, n: int, material: str = "foam") -> np.ndarray:
    """Truth on a 1 µm grid: matrix 1, pores 0.

    ``"foam"``: spheres, radii uniform in 3-8 µm, ~25 % porosity; ``"small"``: radii 1.5-4 µm at the
    same porosity; ``"blobs"``: a Gaussian random field (σ 3 µm) thresholded at 25 % porosity.
    """
    rng = np.random.default_rng(seed)
    shape = (n, n, n)
    if material == "blobs":
        field = gaussian_filter(rng.standard_normal(shape), 3.0, mode="wrap")
        return (field > np.quantile(field, 0.25)).astype(np.float32)
    if material not in ("foam", "small"):
        raise ValueError(f"unknown material {material!r}")
    lo, hi = (3.0, 8.0) if material == "foam" else (1.5, 4.0)
    mean_volume = 4 / 3 * np.pi * np.mean(rng.uniform(lo, hi, 10_000) ** 3)
    count = int(-np.log(0.75) * n**3 / mean_volume)  # overlapping spheres: porosity 1 - exp(-density)
    vol = np.ones(shape, np.float32)
    for c, r in zip(rng.uniform(0, n, (count, 3)), rng.uniform(lo, hi, count), strict=True):
        a = [slice(max(int(c[i] - r), 0), min(int(c[i] + r) + 2, n)) for i in range(3)]
        z, y, x = np.ogrid[a[0], a[1], a[2]]
        vol[a[0], a[1], a[2]][(z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 <= r * r] = 0
    return vol


def scan(truth: np.ndarray, sigma_um: float, noise: float, gain: float, seed: int) -> np.ndarray:
    """``gain × (G_σ * truth + white noise)`` on the truth's 1 µm grid, float32."""
    rng = np.random.default_rng(seed)
    return (
        gain * (gaussian_filter(truth, sigma_um, mode="nearest") + rng.normal(0, noise, truth.shape))
    ).astype(np.float32)


def reference(truth: np.ndarray, seed: int) -> np.ndarray:
    """Scan a region finely (1 µm): what the intervals are calibrated and checked against."""
    return scan(truth, REFERENCE_SIGMA_UM, BASE_NOISE / 2.5, 1.0, seed)


def case_input(truth_seed: int, n: int, case: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Make the input of one case and its own reference (the same region's 1 µm scan)."""
    truth = phantom(truth_seed, n, case.get("material", "foam"))
    sigma, noise = case.get("sigma", BASE_SIGMA_UM), BASE_NOISE * case.get("noise", 1.0)
    x = scan(truth, sigma, noise, case.get("gain", 1.0), truth_seed + 100)
    return x, reference(truth, truth_seed + 200)


def train_and_calibrate(size: Size, folder: Path | None = None, seed: int = 0) -> Any:
    """Train a DeepNet (the smoke preset's network) and calibrate its trust map.

    Trained on the first slices of a 3 µm / 1 µm pair and calibrated on its last
    ``calibration_slices`` (after a gap); returns a :class:`xrsr_lib.Recovery`.
    """
    from xrsr_lib import Recovery

    truth = phantom(seed, size.n)
    x, y = scan(truth, BASE_SIGMA_UM, BASE_NOISE, 1.0, seed + 100), reference(truth, seed + 200)
    z0 = size.n - size.calibration_slices
    rec = Recovery.from_preset("deepnet", "smoke", loss_mask="none", iterations=size.iterations)
    rec.fit(x[: z0 - size.gap], y[: z0 - size.gap], folder=folder, progress=False)
    rec.calibrate(x, y, slab=(z0, size.n))
    return rec


def evaluate_case(rec: Any, name: str, case: dict[str, Any], n: int, seed: int = 1) -> dict[str, Any]:
    """One row of the table: flagged fraction, verdict, moved features, coverage against the truth."""
    x, ref = case_input(seed, n, case)
    t0 = time.perf_counter()
    tp = rec.predict(x, trust=True)
    err = np.abs(tp.prediction - ref)
    v = tp.verdict
    return {
        "case": name,
        "flagged_fraction": float(tp.out_of_domain.mean()),
        "blocks": len(tp.out_of_domain),
        "verdict": "like" if v.like else "not like",
        "moved": ", ".join(f"{f['name']} {f['shift_sd']:+.1f}" for f in v.features if f["moved"]),
        "coverage": float(np.mean(err <= tp.halfwidth)),
        "mean_halfwidth": float(tp.halfwidth.mean()),
        "mean_abs_error": float(err.mean()),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def table(rows: list[dict[str, Any]]) -> str:
    """Return the Markdown table of the rows."""
    lines = [
        "| case | blocks flagged | verdict | moved (shift in calibration sd) | coverage (90 % "
        "nominal) | mean half-width | mean \\|error\\| |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | {100 * r['flagged_fraction']:.1f} % of {r['blocks']} | "
            f"{r['verdict']} | {r['moved'] or '-'} | {100 * r['coverage']:.1f} % | "
            f"{r['mean_halfwidth']:.3f} | {r['mean_abs_error']:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    """Run every case and write ``trust_domain.csv``, ``trust_domain.md`` and timings to ``--out``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=sorted(SIZES), default="cpu")
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = ap.parse_args()
    import pandas as pd
    import torch

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    size = SIZES[args.size]
    t0 = time.perf_counter()
    rec = train_and_calibrate(size, out / "model")
    trained = time.perf_counter() - t0
    rows = [evaluate_case(rec, name, case, size.n) for name, case in CASES.items()]
    pd.DataFrame(rows).to_csv(out / "trust_domain.csv", index=False)
    md = table(rows)
    (out / "trust_domain.md").write_text(md + "\n")
    (out / "timings.json").write_text(
        json.dumps(
            {"train_and_calibrate_seconds": trained, "total_seconds": time.perf_counter() - t0}, indent=1
        )
    )
    print(md)
    print(f"train + calibrate {trained:.0f} s, total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
