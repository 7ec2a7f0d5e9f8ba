"""Trust maps on cases whose answer is known: an exact model gets near-zero maps, a model that
invents a pore gets it flagged, conformal intervals cover at their nominal rate on exchangeable
data, a scan unlike the calibration is flagged out of domain, and the scores match their peers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from scipy.stats import mannwhitneyu

from xrsr_lib.evaluate.pores import segment_pores
from xrsr_lib.evaluate.trust import (
    DIHEDRAL_YX,
    InputDomain,
    auroc,
    block_features,
    calibrate,
    data_consistency,
    empirical_coverage,
    ensemble_spread,
    hallucinated_pores,
    invert_yx,
    pore_flags,
    precision_recall,
    transform_yx,
    tta_spread,
)


def _foam(shape=(24, 40, 40), seed=0, pores=((12, 20, 20, 6),)) -> np.ndarray:
    """Matrix 1, spherical pores 0 (z, y, x, radius in voxels)."""
    z, y, x = np.indices(shape)
    vol = np.ones(shape, np.float32)
    for cz, cy, cx, r in pores:
        vol[(z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 <= r * r] = 0.0
    return vol


def test_the_eight_slice_symmetries_are_distinct_and_invert():
    rng = np.random.default_rng(0)
    v = rng.random((3, 5, 5))
    seen = {transform_yx(v, k, f).tobytes() for k, f in DIHEDRAL_YX}
    assert len(seen) == 8
    for k, f in DIHEDRAL_YX:
        np.testing.assert_array_equal(invert_yx(transform_yx(v, k, f), k, f), v)


def test_an_exact_model_gets_zero_maps():
    """A model that commutes with the slice symmetries and recovers the truth: no spread, no inconsistency."""
    truth = gaussian_filter(_foam(), 1.0)
    sigma = 2.0
    observed = gaussian_filter(truth, sigma, mode="nearest")

    def predict(x):
        for k, f in DIHEDRAL_YX:
            if np.array_equal(invert_yx(x, k, f), observed):
                return np.ascontiguousarray(transform_yx(truth, k, f))
        raise AssertionError("unexpected input")

    mean, spread = tta_spread(predict, observed)
    np.testing.assert_allclose(mean, truth, atol=1e-6)
    assert spread.max() < 1e-6
    _, ens = ensemble_spread([truth, truth.copy(), truth.copy()])
    assert ens.max() == 0
    assert data_consistency(truth, observed, sigma).max() < 1e-5


def test_a_fake_pore_is_inconsistent_with_the_data_and_flagged_doubtful():
    """A model that paints a pore the sample does not have: the data-consistency map rises there, and
    with intervals calibrated on that score, the pore is doubtful while the real one is not."""
    truth = _foam(pores=((12, 20, 12, 5),))
    sigma, rng = 1.5, np.random.default_rng(1)
    noise = rng.normal(0, 0.02, truth.shape).astype(np.float32)
    observed = gaussian_filter(truth, sigma, mode="nearest") + noise
    faked = _foam(pores=((12, 20, 12, 5), (12, 20, 30, 5)))
    score = data_consistency(faked, observed, sigma, smooth_voxels=2.0)
    fake_region = _foam(pores=((12, 20, 30, 5),)) == 0
    real_region = _foam(pores=((12, 20, 12, 5),)) == 0
    assert score[fake_region].mean() > 5 * score[real_region].mean()
    # calibrate on an honest prediction of another sample (error = noise-level differences)
    other = _foam(pores=((8, 12, 20, 4),))
    honest = other + rng.normal(0, 0.03, other.shape).astype(np.float32)
    obs_other = gaussian_filter(other, sigma, mode="nearest") + rng.normal(0, 0.02, other.shape).astype(
        np.float32
    )
    rule = calibrate(data_consistency(honest, obs_other, sigma), np.abs(honest - other), coverage=0.9)
    seg = segment_pores(faked, np.ones(faked.shape, bool))
    flags = pore_flags(seg.labels, faked, rule.halfwidth(score), threshold=0.5)  # matrix 1, pore 0
    assert len(flags) == 2
    at_fake = flags.set_index("label").loc[int(seg.labels[12, 20, 30])]
    at_real = flags.set_index("label").loc[int(seg.labels[12, 20, 12])]
    assert at_fake["doubtful"] and not at_real["doubtful"]
    # and the pore matching names the fake one hallucinated
    halluc = hallucinated_pores(seg.labels, truth == 0)
    assert halluc[int(seg.labels[12, 20, 30]) - 1] and not halluc[int(seg.labels[12, 20, 12]) - 1]


@pytest.mark.parametrize("coverage", [0.8, 0.9, 0.95])
def test_conformal_coverage_on_exchangeable_data_is_nominal(coverage):
    """Heteroscedastic errors whose scale the score knows only roughly: over 200 independent
    calibration/test splits the mean coverage is within sampling error of nominal, and never below
    ``coverage - 4 sd`` of a binomial in one split."""
    rng = np.random.default_rng(2)
    n_cal, n_test, results = 500, 2000, []
    for _ in range(200):
        scale = rng.gamma(2.0, 1.0, n_cal + n_test)
        err = np.abs(rng.normal(0, scale))
        score = scale * rng.lognormal(0, 0.3, scale.size)  # an imperfect score
        rule = calibrate(score[:n_cal], err[:n_cal], coverage=coverage)
        results.append(empirical_coverage(rule.halfwidth(score[n_cal:]), err[n_cal:]))
    results = np.asarray(results)
    # the split-conformal guarantee: coverage <= E[cov] <= coverage + 1/(n_cal + 1)
    sd_mean = np.sqrt(coverage * (1 - coverage) * (1 / n_test + 1 / n_cal)) / np.sqrt(len(results))
    assert coverage - 4 * sd_mean <= results.mean() <= coverage + 1 / (n_cal + 1) + 4 * sd_mean
    assert results.min() > coverage - 4 * np.sqrt(coverage * (1 - coverage) * (1 / n_test + 1 / n_cal))


def test_a_good_score_narrows_intervals_where_the_model_is_right():
    rng = np.random.default_rng(3)
    scale = rng.gamma(2.0, 1.0, 20_000)
    err = np.abs(rng.normal(0, scale))
    informed = calibrate(scale[:10_000], err[:10_000], 0.9)
    blind = calibrate(np.ones(10_000), err[:10_000], 0.9)
    w_informed = informed.halfwidth(scale[10_000:])
    w_blind = blind.halfwidth(np.ones(10_000))
    assert empirical_coverage(w_informed, err[10_000:]) == pytest.approx(0.9, abs=0.015)
    assert empirical_coverage(w_blind, err[10_000:]) == pytest.approx(0.9, abs=0.015)
    assert w_informed.mean() < w_blind.mean()
    assert calibrate(np.zeros(10), np.zeros(10)).halfwidth(np.zeros(3)).max() == 0  # exact model
    assert calibrate(np.ones(5), np.ones(5), 0.9).quantile == np.inf  # too few voxels for 90 %
    with pytest.raises(ValueError, match="coverage must lie"):
        calibrate(np.ones(5), np.ones(5), 1.0)
    with pytest.raises(ValueError, match="NaN"):
        calibrate(np.array([1.0, np.nan]), np.ones(2))


def test_auroc_matches_mann_whitney_and_known_cases():
    rng = np.random.default_rng(4)
    s = rng.normal(size=3000)
    y = rng.random(3000) < 1 / (1 + np.exp(-2 * s))
    u = mannwhitneyu(s[y], s[~y]).statistic
    assert auroc(s, y) == pytest.approx(u / (y.sum() * (~y).sum()), rel=1e-12)
    assert auroc([1, 2, 3, 4], [False, False, True, True]) == 1.0
    assert auroc([4, 3, 2, 1], [False, False, True, True]) == 0.0
    assert auroc([1, 1, 1, 1], [False, True, False, True]) == 0.5
    assert precision_recall(np.array([1, 1, 0, 0], bool), np.array([1, 0, 1, 0], bool)) == (0.5, 0.5)
    with pytest.raises(ValueError, match="both positives and negatives"):
        auroc([1, 2], [True, True])


def test_a_scan_unlike_the_calibration_is_out_of_domain():
    rng = np.random.default_rng(5)

    def scan(seed, gain=1.0, noise=0.05):
        r = np.random.default_rng(seed)
        v = gaussian_filter(r.random((64, 64, 64)), 2) * 4
        return gain * v + r.normal(0, noise, v.shape)

    domain = InputDomain.fit(block_features(scan(0), 8)[0], level=0.99)
    alike = domain.out_of_domain(block_features(scan(1), 8)[0])
    assert alike.mean() < 0.05  # ~1 % expected by construction
    assert domain.out_of_domain(block_features(scan(2, gain=1.6), 8)[0]).mean() > 0.9
    assert domain.out_of_domain(block_features(scan(3, noise=0.2), 8)[0]).mean() > 0.9
    assert InputDomain.from_dict(domain.to_dict()) == domain
    feats, origins = block_features(rng.random((20, 20, 20)), 8, mask=np.zeros((20, 20, 20), bool))
    assert feats.shape == (0, 3) and origins.shape == (0, 3)


def test_tta_spread_sees_a_model_that_misbehaves_under_rotation_where_it_does():
    """A model exact everywhere except that it adds ``a`` to the 4 x 4 corner (y, x < 4) of whatever
    slice it is shown: under the eight symmetries that corner lands on each corner of the original
    slice twice (p = 1/4), so the TTA spread there is ``a·sqrt(p(1 - p)) = a·sqrt(3)/4`` exactly and 0
    elsewhere; the smoothed score ranks the corner voxels first (AUROC 1) and the calibrated half-width
    is larger there by a stated factor."""
    a = 0.8
    truth = gaussian_filter(_foam(shape=(6, 24, 24), pores=((3, 12, 12, 5),)), 1.0)

    def predict(x):
        out = np.array(x, np.float32, copy=True)
        out[:, :4, :4] += a
        return out

    mean, spread = tta_spread(predict, truth)
    corners = np.zeros(truth.shape, bool)
    for ys in (slice(0, 4), slice(-4, None)):
        for xs in (slice(0, 4), slice(-4, None)):
            corners[:, ys, xs] = True
    np.testing.assert_allclose(spread[corners], a * np.sqrt(3) / 4, rtol=1e-5)
    assert spread[~corners].max() < 1e-6
    np.testing.assert_allclose(mean[corners], truth[corners] + a / 4, rtol=0, atol=1e-5)
    from xrsr_lib.evaluate.trust.signals import local_mean

    smoothed = local_mean(spread, 1.0)
    assert auroc(smoothed, corners) == 1.0
    rule = calibrate(smoothed, np.abs(mean - truth), coverage=0.9)
    width = rule.halfwidth(smoothed)
    assert width[corners].mean() > 20 * width[~corners].mean()
