"""The input-domain check on cases whose answer is known: the block features that see resolution and
noise measure a known blur and a known noise, the leave-one-out threshold flags exchangeable blocks
at its stated rate, and a whole volume is judged "not like the calibration" for a blur, a noise and
a gain it was not calibrated on, with the feature that moved named."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from xrsr_lib.config import DOMAIN_FEATURES, DomainConfig
from xrsr_lib.evaluate.trust import InputDomain, block_features
from xrsr_lib.evaluate.trust.features import edge_width, hf_fraction, noise_sigma


def _blocks(v: np.ndarray, b: int = 16) -> np.ndarray:
    n = [s // b for s in v.shape]
    return (
        v[: n[0] * b, : n[1] * b, : n[2] * b]
        .reshape(n[0], b, n[1], b, n[2], b)
        .transpose(0, 2, 4, 1, 3, 5)
        .reshape(-1, b, b, b)
    )


def _foam(
    seed: int,
    n: int = 96,
    blur: float = 1.0,
    noise: float = 0.05,
    gain: float = 1.0,
    radii: tuple[float, float] = (3, 8),
    count: int = 60,
) -> np.ndarray:
    """Matrix 1 with spherical pores 0 (radii uniform in voxels), blurred (σ voxels), white noise
    added, the whole scan times ``gain``."""
    rng = np.random.default_rng(seed)
    z, y, x = np.indices((n, n, n))
    v = np.ones((n, n, n))
    for _ in range(count):
        c, r = rng.uniform(0, n, 3), rng.uniform(*radii)
        v[(z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 < r * r] = 0
    return gain * (gaussian_filter(v, blur) + rng.normal(0, noise, v.shape))


def _edge(sigma: float, b: int = 16) -> np.ndarray:
    """A plane step (0 -> 1 along x) blurred with a Gaussian of σ voxels, one block."""
    return gaussian_filter((np.indices((b, b, b))[2] >= b // 2).astype(float), (0, 0, sigma), mode="nearest")


@pytest.mark.parametrize("sigma", [0.02, 0.05, 0.1])
def test_noise_sigma_recovers_known_white_noise(sigma):
    """On smooth structure and on a sharp-edged foam, the noise σ is found within 3 %."""
    rng = np.random.default_rng(0)
    smooth = gaussian_filter(rng.random((64, 64, 64)), 3) * 20
    found = noise_sigma(_blocks(smooth + rng.normal(0, sigma, smooth.shape)))
    assert np.median(found) == pytest.approx(sigma, rel=0.03)
    foam = _foam(1, n=64, noise=sigma)
    assert np.median(noise_sigma(_blocks(foam))) == pytest.approx(sigma, rel=0.03)
    assert noise_sigma(_blocks(smooth)).max() < 0.05 * sigma  # structure alone hardly registers


def test_hf_fraction_of_white_noise_follows_the_blur():
    """White noise blurred by σ (exactly, in Fourier space): power at k scales by exp(-4π²σ²k²);
    the measured fraction above 0.25 cycles/voxel is the grid's within 2 % (σ = 0, 0.5) and falls
    with the blur."""
    rng = np.random.default_rng(2)
    w = rng.normal(size=(200, 16, 16, 16))
    k1 = np.fft.fftfreq(16)
    k = np.sqrt(k1[:, None, None] ** 2 + k1[None, :, None] ** 2 + k1[None, None, :] ** 2)
    measured = []
    for s in (0.0, 0.5, 1.0, 1.5):
        gain = np.exp(-4 * math.pi**2 * s**2 * k**2)
        blurred = np.real(np.fft.ifftn(np.fft.fftn(w, axes=(1, 2, 3)) * np.sqrt(gain), axes=(1, 2, 3)))
        measured.append(hf_fraction(blurred).mean())
        if s <= 0.5:
            assert measured[-1] == pytest.approx((gain * (k > 0.25)).sum() / gain[k > 0].sum(), rel=0.02)
    assert all(a > b for a, b in zip(measured, measured[1:], strict=False))
    assert hf_fraction(np.ones((1, 8, 8, 8)))[0] == 0


def test_edge_width_measures_a_known_blur():
    """A step blurred with σ: the width is σ with ~0.72 voxels of central differences in quadrature
    (within 3 % from σ = 1.5); a further blur σ_b adds σ_b² to its square; gain does not change it
    and noise (5 % of the step) hardly does."""
    for s in (1.5, 2.0, 3.0):
        w = edge_width(_edge(s)[None])[0]
        assert math.sqrt(w * w - 0.52) == pytest.approx(s, rel=0.03)
        assert edge_width(1.6 * _edge(s)[None])[0] == pytest.approx(w, rel=1e-9)
        noisy = _edge(s)[None] + np.random.default_rng(3).normal(0, 0.05, (20, 16, 16, 16))
        assert np.median(edge_width(noisy)) == pytest.approx(w, rel=0.05)
    before, after = edge_width(_edge(1.5)[None])[0], edge_width(_edge(2.5)[None])[0]  # 2.5² = 1.5² + 2²
    assert after**2 - before**2 == pytest.approx(4.0, rel=0.05)
    flat = np.random.default_rng(4).normal(0, 0.05, (3, 16, 16, 16))
    assert np.isnan(edge_width(flat, min_snr=10)).all()  # noise only: no edge to measure


def test_the_leave_one_out_threshold_flags_exchangeable_blocks_at_its_rate():
    """30 calibration blocks of 6 Gaussian features, 200 draws: new exchangeable blocks are flagged
    at the stated 1/31 on average with the leave-one-out threshold; the in-sample one flags several
    times more (its distances are smaller than a new block's)."""
    rng = np.random.default_rng(5)
    loo, in_sample = [], []
    for _ in range(200):
        cal, new = rng.normal(size=(30, 6)), rng.normal(size=(500, 6))
        dom = InputDomain.fit(cal, 0.99, leave_one_out=True, names=DOMAIN_FEATURES)
        loo.append(dom.out_of_domain(new).mean())
        in_sample.append(InputDomain.fit(cal, 0.99, names=DOMAIN_FEATURES).out_of_domain(new).mean())
    assert dom.expected_fraction == pytest.approx(1 / 31)
    # the rate given the calibration averages 1/31 (the conformal guarantee); its sd over draws ~0.03
    assert np.mean(loo) == pytest.approx(1 / 31, abs=4 * 0.03 / math.sqrt(200))
    assert np.mean(in_sample) > 3 * np.mean(loo)


@pytest.fixture(scope="module")
def calibration() -> InputDomain:
    feats = block_features(_foam(0), 16, features=DOMAIN_FEATURES)[0]
    return InputDomain.fit(feats, 0.99, leave_one_out=True, names=DOMAIN_FEATURES, log_scale=True)


@pytest.mark.parametrize(
    ("case", "kwargs", "moved"),
    [
        ("like", {}, None),
        ("blur 3x", {"blur": 3.0}, "edge_width"),
        ("noise 2x", {"noise": 0.1}, "noise"),
        ("gain 1.6", {"gain": 1.6}, "mean"),
        ("gain 0.6", {"gain": 0.6}, "mean"),
    ],
)
def test_a_volume_unlike_the_calibration_is_judged_so(calibration, case, kwargs, moved):
    verdict = calibration.verdict(block_features(_foam(1, **kwargs), 16, features=DOMAIN_FEATURES)[0])
    if moved is None:
        assert verdict.like and verdict.flagged_fraction <= 0.02 and not verdict.moved, str(verdict)
        assert str(verdict).startswith("like the calibration")
    else:
        assert not verdict.like and moved in verdict.moved, str(verdict)
        assert str(verdict).startswith("not like the calibration") and moved in str(verdict)
    assert verdict.to_dict()["verdict"] == str(verdict)


def test_a_moderate_blur_is_judged_by_the_feature_that_moved(calibration):
    """Blur 2.5x the calibration's: too few blocks are out of domain alone to tell (under 5 %), but the
    typical block's edge width moved by more than 2 calibration standard deviations."""
    verdict = calibration.verdict(block_features(_foam(1, blur=2.5), 16, features=DOMAIN_FEATURES)[0])
    assert verdict.flagged_fraction < 0.05
    assert not verdict.like and verdict.moved == ["edge_width"], str(verdict)


def test_noise_and_gain_are_flagged_block_by_block(calibration):
    """Not only the verdict: nearly every block of a 2x noise or 1.6 gain scan is out of domain."""
    for kwargs in ({"noise": 0.1}, {"gain": 1.6}, {"gain": 0.6}):
        feats = block_features(_foam(1, **kwargs), 16, features=DOMAIN_FEATURES)[0]
        assert calibration.out_of_domain(feats).mean() > 0.9, kwargs


def test_domain_records_round_trip_and_old_records_read():
    dom = InputDomain.fit(
        block_features(_foam(0, n=64), 16, features=DOMAIN_FEATURES)[0],
        0.99,
        leave_one_out=True,
        names=DOMAIN_FEATURES,
        log_scale=True,
    )
    assert InputDomain.from_dict(dom.to_dict()) == dom
    assert dom.statistic == "chi2"  # edge_width is NaN in blocks without an edge
    old = {
        "mean": [0.0, 1.0, 1.0],
        "covariance": [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
        "threshold": 3.0,
        "level": 0.99,
        "n_blocks": 50,
    }
    legacy = InputDomain.from_dict(old)
    assert legacy.features == ("mean", "std", "gradient") and legacy.statistic == "distance"
    assert legacy.out_of_domain(np.array([[0.0, 1, 1], [4.0, 1, 1]])).tolist() == [False, True]
    with pytest.raises(ValueError, match="unknown block features"):
        block_features(np.zeros((8, 8, 8)), 4, features=("mean", "sharpness"))
    with pytest.raises(ValueError, match="need at least 8 calibration blocks"):
        InputDomain.fit(np.ones((5, 6)), names=DOMAIN_FEATURES)
    assert DomainConfig().features == DOMAIN_FEATURES
