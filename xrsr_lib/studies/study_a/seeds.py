"""Seed spread of study A's learned methods: the same training with other seeds.

Only the networks' seed changes (``methods.<method>.training.seed``: initialization and batch sampling); the
data, the phantom and every non-learned image stay the same, so the spread over seeds is the part
of a score that is training noise. Seed 0 is the profile's own model (figures 3-9); other seeds
are trained only when asked (``./run_all.sh --seeds N``), each keyed in the cache by its settings.

::

    seeded profile(seed) -> StudyA -> StudyAEvaluation -> scores(method, σ, seed)
    scores over seeds    -> spread (mean ± sd)          -> method differences (Welch t)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from xrsr_lib.config import Profile
from xrsr_lib.evaluate.pores import pore_recovery, relative_error_pct
from xrsr_lib.io.cache import Cache
from xrsr_lib.studies.study_a.evaluation import StudyAEvaluation
from xrsr_lib.studies.study_a.methods import TRAINED_METHODS, StudyA

__all__ = ["SEED_METRICS", "method_difference", "seed_scores", "seed_spread", "seeded_profile"]

log = logging.getLogger(__name__)

#: Scores compared over seeds: pore recovery (%), porosity error (%), PSNR (dB), SSIM.
SEED_METRICS = ("recovery_pct", "porosity_error_pct", "psnr", "ssim")


def seeded_profile(profile: Profile, seed: int) -> Profile:
    """``profile`` with every learned method's training seed set to ``seed`` (>= 0)."""
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    methods = profile.methods.model_copy(
        update={m: getattr(profile.methods, m).replace(seed=int(seed)) for m in TRAINED_METHODS}
    )
    return profile.model_copy(update={"methods": methods})


def seed_scores(
    profile: Profile,
    seeds: Sequence[int],
    cache: Cache | None = None,
    methods: Sequence[str] = TRAINED_METHODS,
    sigmas_um: Sequence[float] | None = None,
    device: str | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Scores of every (method, σ, seed), training what the cache lacks.

    Returns
    -------
    DataFrame
        ``method``, ``sigma_um``, ``seed`` and :data:`SEED_METRICS` (recovery and porosity error
        against the ground truth's segmentation, %; PSNR in dB and SSIM against the ground truth)
        on the evaluation realization.
    """
    sigmas = tuple(profile.evaluation.seed_sigmas_um if sigmas_um is None else sigmas_um)
    if not seeds:
        raise ValueError("seeds must list at least one seed")
    unknown = [m for m in methods if m not in TRAINED_METHODS]
    if unknown:
        raise ValueError(f"seeds apply to learned methods {TRAINED_METHODS}, got {unknown[0]!r}")
    # the ground truth does not depend on the networks' seed: segmented once
    base = StudyAEvaluation(StudyA(profile, cache, device=device, progress=progress), progress=progress)
    truth = base.pores("gt").summary()
    rows = []
    for seed in seeds:
        study = StudyA(seeded_profile(profile, seed), cache, device=device, progress=progress)
        ev = StudyAEvaluation(study, progress=progress)
        ev.prefetch_pores([(m, s) for s in sigmas for m in methods])
        for sigma in sigmas:
            for method in methods:
                log.info("seed %d: %s at σ = %g µm", seed, method, sigma)
                summary = ev.pores(method, sigma).summary()
                rows.append(
                    {
                        "method": method,
                        "sigma_um": float(sigma),
                        "seed": int(seed),
                        "recovery_pct": 100.0 * pore_recovery(summary["n_pores"], truth["n_pores"]),
                        "porosity_error_pct": relative_error_pct(summary["porosity"], truth["porosity"]),
                        **{k: v for k, v in ev.quality(method, sigma).items() if k in ("psnr", "ssim")},
                    }
                )
    return pd.DataFrame(rows)


def seed_spread(scores: pd.DataFrame, metrics: Sequence[str] = SEED_METRICS) -> pd.DataFrame:
    """Return the mean, sample standard deviation and count of each metric per (method, σ).

    The standard deviation has ddof = 1 (NaN for one seed). Columns ``method``, ``sigma_um``,
    ``metric``, ``mean``, ``sd``, ``n``.
    """
    rows = []
    for (method, sigma), g in scores.groupby(["method", "sigma_um"], sort=False):
        for metric in metrics:
            v = g[metric].to_numpy(dtype=np.float64)
            rows.append(
                {
                    "method": method,
                    "sigma_um": sigma,
                    "metric": metric,
                    "mean": float(v.mean()),
                    "sd": float(v.std(ddof=1)) if v.size > 1 else math.nan,
                    "n": int(v.size),
                }
            )
    return pd.DataFrame(rows)


def method_difference(
    scores: pd.DataFrame, first: str = "deepnet", second: str = "srcnn", metrics: Sequence[str] = SEED_METRICS
) -> pd.DataFrame:
    """Compare ``first`` with ``second`` per (σ, metric) over seeds.

    The table holds the difference of the means (``first`` minus ``second``), Welch's t and its
    two-sided p-value (:func:`scipy.stats.ttest_ind`, ``equal_var=False``; NaN with fewer than two
    seeds each), and whether the difference exceeds the seed noise (p < 0.05).
    """
    rows = []
    for sigma, g in scores.groupby("sigma_um", sort=False):
        a, b = g[g["method"] == first], g[g["method"] == second]
        for metric in metrics:
            x, y = a[metric].to_numpy(dtype=np.float64), b[metric].to_numpy(dtype=np.float64)
            if x.size == 0 or y.size == 0:
                continue
            enough = min(x.size, y.size) > 1
            t, p = stats.ttest_ind(x, y, equal_var=False) if enough else (math.nan, math.nan)
            rows.append(
                {
                    "sigma_um": sigma,
                    "metric": metric,
                    "difference": float(x.mean() - y.mean()),
                    "welch_t": float(t),
                    "p_value": float(p),
                    "exceeds_seed_noise": bool(p < 0.05),
                }
            )
    return pd.DataFrame(rows)
