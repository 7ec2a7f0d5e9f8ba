import numpy as np
import pytest
from scipy import stats

from xrsr_lib.simulate.ct.degrade import blur_projections, degrade_projections


def _disk_stack(n=3, size=64, radius=10.0):
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    p = np.clip(radius**2 - xx**2 - yy**2, 0, None) ** 0.5 * 2
    return np.repeat(p[None].astype(np.float32), n, axis=0)


def test_blur_keeps_total_intensity():
    intensity = np.exp(-0.05 * _disk_stack())
    for sigma in (1.0, 3.0, 5.0):
        out = blur_projections(intensity, sigma)
        np.testing.assert_allclose(out.sum(axis=(1, 2)), intensity.sum(axis=(1, 2)), rtol=1e-5)
        # and actually blurs: the deepest absorption gets shallower
        assert out.min() > intensity.min()


def test_blur_matches_known_gaussian_width():
    img = np.zeros((1, 101, 101), np.float32)
    img[0, 50, 50] = 1.0
    out = blur_projections(img, 4.0)[0]
    yy, xx = np.mgrid[:101, :101] - 50
    var_x = (out * xx**2).sum() / out.sum()
    assert var_x == pytest.approx(16.0, rel=1e-3)


def test_noise_variance_matches_poisson():
    mu, i0, p0 = 0.01, 5000.0, 50.0  # expected counts λ = I0·exp(-µ p0)
    lam = i0 * np.exp(-mu * p0)
    p = np.full((4, 128, 128), p0, np.float32)
    noisy = degrade_projections(p, 0.0, attenuation=mu, photons=i0, seed=3)
    counts = i0 * np.exp(-mu * noisy.astype(np.float64))
    assert np.allclose(counts, np.round(counts), atol=1e-2 * lam)  # integer photon counts
    assert counts.mean() == pytest.approx(lam, rel=0.005)
    assert counts.var() == pytest.approx(lam, rel=0.03)
    # dispersion test: var/mean of a Poisson sample is ~1 within sampling error
    n = counts.size
    chi2 = (counts.var(ddof=1) / counts.mean()) * (n - 1)
    assert stats.chi2.cdf(chi2, n - 1) == pytest.approx(0.5, abs=0.499)


def test_noise_is_seeded_and_independent():
    p = _disk_stack()
    a = degrade_projections(p, 2.0, attenuation=0.02, photons=1000.0, seed=1)
    b = degrade_projections(p, 2.0, attenuation=0.02, photons=1000.0, seed=1)
    c = degrade_projections(p, 2.0, attenuation=0.02, photons=1000.0, seed=2)
    np.testing.assert_array_equal(a, b)
    assert np.corrcoef((a - c).ravel(), (b - c).ravel())[0, 1] > 0.99
    clean = degrade_projections(p, 2.0, attenuation=0.02, photons=None, seed=None)
    assert np.corrcoef((a - clean).ravel(), (c - clean).ravel())[0, 1] < 0.05


def test_no_blur_no_noise_is_identity():
    p = _disk_stack()
    out = degrade_projections(p, 0.0, attenuation=0.02, photons=None, seed=None)
    np.testing.assert_allclose(out, p, atol=1e-4)


@pytest.mark.parametrize(
    "kwargs, msg",
    [
        ({"sigma_px": -1.0}, "sigma must be >= 0"),
        ({"sigma_px": float("nan")}, "finite"),
        ({"attenuation": 0.0}, "attenuation must be > 0"),
        ({"photons": -5.0}, "photons"),
    ],
)
def test_bad_parameters(kwargs, msg):
    args = {"sigma_px": 1.0, "attenuation": 0.01, "photons": 100.0, "seed": 0} | kwargs
    with pytest.raises(ValueError, match=msg):
        degrade_projections(_disk_stack(), **args)


def test_bad_projection_stacks():
    with pytest.raises(ValueError, match="n_angles, rows, cols"):
        blur_projections(np.zeros((4, 4)), 1.0)
    bad = _disk_stack()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        degrade_projections(bad, 1.0, attenuation=0.01, photons=100.0, seed=0)
