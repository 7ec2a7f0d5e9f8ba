"""Seed spread of study A's learned methods: settings, statistics on known numbers."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from xrsr_lib.config import load_profile
from xrsr_lib.io.cache import Cache
from xrsr_lib.studies.study_a.methods import StudyA
from xrsr_lib.studies.study_a.seeds import method_difference, seed_scores, seed_spread, seeded_profile


def test_seeded_profile_changes_only_the_networks_seed(tmp_path):
    base = load_profile("smoke")
    other = seeded_profile(base, 2)
    assert other.methods.deepnet.training.seed == other.methods.srcnn.training.seed == 2
    assert other.methods.deepnet.replace(seed=0) == base.methods.deepnet
    assert other.methods.rl == base.methods.rl and other.phantom == base.phantom
    a, b = StudyA(base, progress=False), StudyA(other, progress=False)
    # another model (cache key) per seed, the same data and the same non-learned images
    assert a.model_params("deepnet", 3.0) != b.model_params("deepnet", 3.0)
    assert a.prediction_params("rl", 3.0, "alternate") == b.prediction_params("rl", 3.0, "alternate")
    assert seeded_profile(base, 0) == base
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        seeded_profile(base, -1)


def _scores():
    rows = []
    values = {
        ("deepnet", 3.0): [95.0, 96.0, 97.0],
        ("srcnn", 3.0): [90.0, 90.5, 91.5],
        ("deepnet", 9.0): [80.0, 84.0, 82.0],
        ("srcnn", 9.0): [81.0, 79.0, 83.0],
    }
    for (method, sigma), vals in values.items():
        for seed, v in enumerate(vals):
            rows.append(
                {
                    "method": method,
                    "sigma_um": sigma,
                    "seed": seed,
                    "recovery_pct": v,
                    "porosity_error_pct": -v / 10,
                    "psnr": v / 4,
                    "ssim": v / 100,
                }
            )
    return pd.DataFrame(rows), values


def test_seed_spread_is_mean_and_sample_sd():
    scores, values = _scores()
    spread = seed_spread(scores)
    row = spread[(spread.method == "deepnet") & (spread.sigma_um == 9.0) & (spread.metric == "recovery_pct")]
    assert row["mean"].item() == pytest.approx(82.0)
    assert row["sd"].item() == pytest.approx(2.0)  # sqrt(((-2)² + 2² + 0²) / 2)
    assert row["n"].item() == 3
    one = seed_spread(scores[scores.seed == 0])
    assert one["sd"].isna().all() and (one["n"] == 1).all()


def test_method_difference_is_welch_t():
    scores, values = _scores()
    diff = method_difference(scores)
    at3 = diff[(diff.sigma_um == 3.0) & (diff.metric == "recovery_pct")]
    t, p = stats.ttest_ind(values[("deepnet", 3.0)], values[("srcnn", 3.0)], equal_var=False)
    assert at3["difference"].item() == pytest.approx(96.0 - np.mean(values[("srcnn", 3.0)]))
    assert at3["welch_t"].item() == pytest.approx(t) and at3["p_value"].item() == pytest.approx(p)
    assert p < 0.05 and bool(at3["exceeds_seed_noise"].item())
    at9 = diff[(diff.sigma_um == 9.0) & (diff.metric == "recovery_pct")]
    assert not at9["exceeds_seed_noise"].item()  # 82 ± 2 vs 81 ± 2: within seed noise
    single = method_difference(scores[scores.seed == 0])
    assert single["p_value"].apply(math.isnan).all() and not single["exceeds_seed_noise"].any()


def test_seed_scores_rejects_bad_requests_before_any_work(tmp_path):
    profile = load_profile("smoke")
    cache = Cache(tmp_path / "cache")
    with pytest.raises(ValueError, match="learned methods .* 'rl'"):
        seed_scores(profile, [0, 1], cache, methods=("deepnet", "rl"), progress=False)
    with pytest.raises(ValueError, match="at least one seed"):
        seed_scores(profile, [], cache, progress=False)
    assert not any((tmp_path / "cache").rglob("*.h5"))  # nothing was built
