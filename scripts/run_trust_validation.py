"""Run the trust-map validation of notebook 16 for one profile as a script.

No Jupyter needed, e.g. on a GPU machine.

Usage::

    PYTHONPATH=. python3 scripts/run_trust_validation.py --profile cpu --out $OUT/trust

The same library calls as ``notebooks/16_trust_maps.ipynb`` (simulation, trust models, signals,
calibration, scores), with the cache in ``<out>/cache`` unless ``XRSR_CACHE`` is set; writes
``fig16_trust_signals.csv``, ``fig16_trust_pores.csv``, ``fig16_trust_maps.png`` and
``timings.json`` (wall seconds of each cached stage, from the cache's metadata) to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def main() -> None:
    """Run the validation for ``--profile`` and write its CSV files, figure and timings to ``--out``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("XRSR_CACHE", str(out / "cache"))
    os.environ.setdefault("MPLBACKEND", "Agg")
    from xrsr_lib.studies.study_a.notebook import setup
    from xrsr_lib.studies.study_a.trust import StudyATrust
    from xrsr_lib.studies.study_a.trust_figures import plot_trust_maps, pore_table, signal_table

    t0 = time.perf_counter()
    nb = setup(args.profile, out, progress=False)
    trust = StudyATrust(nb.evaluation)
    results, slices = trust.all_scores()
    signal_table(results).to_csv(out / "fig16_trust_signals.csv", index=False)
    pore_table(results).to_csv(out / "fig16_trust_pores.csv", index=False)
    nb.save_figure(plot_trust_maps(slices, trust.config.coverage, trust.config.score), "fig16_trust_maps")
    stages: dict[str, float] = {}
    for meta in Path(os.environ["XRSR_CACHE"]).glob("*/*.json"):
        d = json.loads(meta.read_text())
        if "build_seconds" in d:
            stages[d["stage"]] = stages.get(d["stage"], 0.0) + d["build_seconds"]
    for cfg in Path(os.environ["XRSR_CACHE"]).glob("trust_model/*/config.json"):
        stages["trust_model_train"] = stages.get("trust_model_train", 0.0) + json.loads(cfg.read_text()).get(
            "train_seconds", 0.0
        )
    summary = {"total_seconds": time.perf_counter() - t0, "stages": stages}
    (out / "timings.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps({"total_seconds": round(time.perf_counter() - t0, 1), "stages": stages}))


if __name__ == "__main__":
    main()
