from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from xrsr_lib.evaluate.msssim import MS_SSIM_WEIGHTS, MultiscaleSSIM, ms_ssim_3d
from xrsr_lib.evaluate.quality import mse, psnr, ssim, ssim_map
from xrsr_lib.evaluate.resolution import _parabola_vertex, default_fit_sigmas, gaussian_fit
from xrsr_lib.prepare.masks import cylinder_mask


def test_identical_volumes():
    v = np.random.default_rng(0).random((8, 9, 10))
    assert mse(v, v) == 0.0
    assert psnr(v, v) == np.inf


def test_known_error_gives_known_psnr():
    truth = np.zeros((4, 8, 8))
    result = truth + 0.1  # MSE = 0.01 → PSNR = 10 log10(1 / 0.01) = 20 dB
    assert mse(result, truth) == pytest.approx(0.01)
    assert psnr(result, truth, data_range=1.0) == pytest.approx(20.0)


def test_matches_scikit_image_and_masks():
    rng = np.random.default_rng(1)
    truth = rng.random((6, 16, 16))
    result = truth + rng.normal(0, 0.05, truth.shape)
    assert psnr(result, truth) == pytest.approx(peak_signal_noise_ratio(truth, result, data_range=1.0))
    m = cylinder_mask(truth.shape, 5.0)
    result2 = result.copy()
    result2[~m] = 100.0  # outside the mask: ignored
    assert psnr(result2, truth, mask=m) == pytest.approx(
        peak_signal_noise_ratio(truth[m], result[m], data_range=1.0)
    )


def test_errors():
    with pytest.raises(ValueError, match="shapes differ"):
        mse(np.zeros((2, 2, 2)), np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        psnr(np.full((2, 2, 2), np.nan), np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="no voxel"):
        mse(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)), mask=np.zeros((2, 2, 2), bool))
    with pytest.raises(ValueError, match="data_range"):
        psnr(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)), data_range=0)


# ----------------------------------------------------------------------------------------------------
# SSIM
# ----------------------------------------------------------------------------------------------------


def _smooth_volume(shape, seed=0, sigma=1.5):
    """Random smooth volume in [0, 1] (foam-like texture at the SSIM window's scale)."""
    v = gaussian_filter(np.random.default_rng(seed).random(shape), sigma)
    return (v - v.min()) / (v.max() - v.min())


def _luminance(mu_x, mu_y, data_range=1.0):
    c1 = (0.01 * data_range) ** 2
    return (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)


def test_ssim_identical_is_one():
    v = _smooth_volume((12, 14, 16))
    assert ssim(v, v) == pytest.approx(1.0, abs=1e-12)
    assert np.allclose(ssim_map(v, v), 1.0, atol=1e-12)


def test_ssim_matches_scikit_image():
    rng = np.random.default_rng(3)
    truth = rng.random((14, 16, 18))
    result = np.clip(truth + rng.normal(0, 0.1, truth.shape), 0, 1)
    ref, ref_map = structural_similarity(
        truth, result, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1, full=True
    )
    smap = ssim_map(result, truth)
    assert smap.shape == truth.shape
    np.testing.assert_allclose(smap, ref_map, rtol=0, atol=1e-12)
    # The score is the full-map mean; scikit-image's own scalar crops 5 voxels per border.
    assert ssim(result, truth) == pytest.approx(ref_map.mean(), abs=1e-12)
    assert smap[5:-5, 5:-5, 5:-5].mean() == pytest.approx(ref, abs=1e-12)
    # other window and data range (2-D too)
    for shape, sigma, data_range in (((14, 16, 18), 1.0, 2.0), ((20, 23), 2.0, 1.0)):
        tr = rng.random(shape) * data_range
        res = tr + rng.normal(0, 0.1, shape)
        _, ref_map = structural_similarity(
            tr,
            res,
            gaussian_weights=True,
            sigma=sigma,
            use_sample_covariance=False,
            data_range=data_range,
            full=True,
        )
        np.testing.assert_allclose(ssim_map(res, tr, data_range, sigma), ref_map, rtol=0, atol=1e-12)
    # float32 inputs are computed in float64 too
    assert ssim(result.astype(np.float32), truth.astype(np.float32)) == pytest.approx(
        ssim(result.astype(np.float32).astype(np.float64), truth.astype(np.float32).astype(np.float64)),
        abs=1e-12,
    )


def test_ssim_constant_offset_known_answer():
    # Constant volumes: zero variances, so contrast·structure = C2 / C2 = 1 and SSIM = luminance.
    truth = np.full((12, 12, 12), 0.5)
    for delta, prev in ((0.1, 1.0), (0.3, None)):
        expected = _luminance(0.5, 0.5 + delta)
        assert ssim(truth + delta, truth) == pytest.approx(expected, rel=1e-12)
        if prev is not None:
            assert expected < prev
    assert ssim(truth + 0.3, truth) < ssim(truth + 0.1, truth) < 1.0
    # data_range scales C1: same answer for a volume and its 10× scaled copy with data_range=10
    assert ssim(10 * (truth + 0.1), 10 * truth, data_range=10.0) == pytest.approx(
        ssim(truth + 0.1, truth), rel=1e-12
    )
    # an offset on a textured volume lowers SSIM too
    v = _smooth_volume((14, 14, 14))
    assert ssim(v + 0.2, v) < ssim(v + 0.05, v) < 1.0


def test_ssim_mask_excludes_corrupted_region():
    truth = _smooth_volume((24, 24, 24), seed=1)
    result = truth.copy()
    result[:6, :6, :6] = np.random.default_rng(2).random((6, 6, 6))
    mask = np.ones(truth.shape, bool)
    mask[:12, :12, :12] = False  # corrupted block plus a margin > window radius (5 voxels)
    assert ssim(result, truth) < 0.99
    assert ssim(result, truth, mask=mask) == pytest.approx(1.0, abs=1e-12)
    assert ssim(result, truth, mask=np.ones(truth.shape, bool)) == ssim(result, truth)


def test_ssim_errors():
    z = np.zeros((12, 12, 12))
    with pytest.raises(ValueError, match="shapes differ"):
        ssim(z, np.zeros((12, 12, 13)))
    bad = z.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ssim(bad, z)
    with pytest.raises(ValueError, match="no voxel"):
        ssim(z, z, mask=np.zeros(z.shape, bool))
    with pytest.raises(ValueError, match="data_range"):
        ssim(z, z, data_range=0)
    with pytest.raises(ValueError, match="data_range"):
        ssim_map(z, z, data_range=-1.0)
    with pytest.raises(ValueError, match="sigma"):
        ssim(z, z, sigma=0)
    with pytest.raises(ValueError, match=r"side >= 11"):
        ssim(np.zeros((8, 12, 12)), np.zeros((8, 12, 12)))


# ----------------------------------------------------------------------------------------------------
# Multiscale SSIM
# ----------------------------------------------------------------------------------------------------


def test_ms_ssim_identical():
    v = _smooth_volume((64, 64, 64))  # 5 scales: 64 → 4 at the coarsest
    ms = ms_ssim_3d(v, v)
    assert ms.score == pytest.approx(1.0, abs=1e-12)
    assert ms.weights == MS_SSIM_WEIGHTS and ms.sigma == 1.5
    assert len(ms.maps) == 5
    for m in ms.maps:
        np.testing.assert_allclose(m, 1.0, atol=1e-12)
    np.testing.assert_allclose(ms.combined_map(), 1.0, atol=1e-12)


def test_ms_ssim_one_scale_equals_ssim():
    truth = _smooth_volume((16, 18, 20), seed=4)
    result = truth + np.random.default_rng(5).normal(0, 0.05, truth.shape)
    ms = ms_ssim_3d(result, truth, scales=1)
    assert ms.weights == (1.0,)
    assert ms.score == pytest.approx(ssim(result, truth), abs=1e-12)
    np.testing.assert_allclose(ms.maps[0], ssim_map(result, truth), atol=1e-12)
    m = cylinder_mask(truth.shape, 6.0)
    assert ms_ssim_3d(result, truth, scales=1, mask=m).score == pytest.approx(
        ssim(result, truth, mask=m), abs=1e-12
    )
    assert ms_ssim_3d(result, truth, scales=1, sigma=1.0).score == pytest.approx(
        ssim(result, truth, sigma=1.0), abs=1e-12
    )


def test_ms_ssim_constant_volumes_known_answer():
    # Zero variances: contrast·structure maps are exactly 1, the coarsest map is the luminance term.
    truth = np.full((16, 16, 16), 0.5)
    ms = ms_ssim_3d(truth + 0.2, truth, scales=2)
    w = np.array(MS_SSIM_WEIGHTS[:2]) / sum(MS_SSIM_WEIGHTS[:2])
    lum = _luminance(0.5, 0.7)
    np.testing.assert_allclose(ms.maps[0], 1.0, atol=1e-12)
    np.testing.assert_allclose(ms.maps[1], lum, rtol=1e-12)
    assert ms.score == pytest.approx(lum ** w[1], rel=1e-12)
    np.testing.assert_allclose(ms.combined_map(), lum ** w[1], rtol=1e-12)


def test_ms_ssim_score_formula_and_shapes():
    truth = _smooth_volume((33, 20, 18), seed=6)
    result = gaussian_filter(truth, 1.0) + np.random.default_rng(7).normal(0, 0.02, truth.shape)
    ms = ms_ssim_3d(result, truth, scales=3)
    assert [m.shape for m in ms.maps] == [(33, 20, 18), (17, 10, 9), (9, 5, 5)]
    means = [m.mean() for m in ms.maps]
    assert ms.scale_means == pytest.approx(means, abs=1e-12)
    expected = np.prod([max(mu, 0) ** w for mu, w in zip(means, ms.weights, strict=True)])
    assert ms.score == pytest.approx(expected, rel=1e-12)
    cm = ms.combined_map()
    assert cm.shape == truth.shape
    assert cm.min() >= 0 and cm.max() <= 1 + 1e-12
    # negative means are clipped at 0 before the power
    anti = ms_ssim_3d(1 - truth, truth, scales=3)
    assert anti.scale_means[0] < 0 and anti.score == 0.0


def test_ms_ssim_monotone_in_blur():
    truth = _smooth_volume((32, 32, 32), seed=8, sigma=1.0)
    scores = [ms_ssim_3d(gaussian_filter(truth, s), truth, scales=3).score for s in (0.5, 1.0, 2.0, 3.0)]
    assert all(a > b for a, b in zip(scores[:-1], scores[1:], strict=True)), scores
    assert scores[0] < 1.0


def test_ms_ssim_weights():
    v = _smooth_volume((32, 32, 32))
    for scales in (1, 2, 3, 4):
        w = ms_ssim_3d(v, v, scales=scales).weights
        expected = np.array(MS_SSIM_WEIGHTS[:scales]) / sum(MS_SSIM_WEIGHTS[:scales])
        assert len(w) == scales and sum(w) == pytest.approx(1.0)
        np.testing.assert_allclose(w, expected, rtol=1e-15)
    truth = np.full((16, 16, 16), 0.5)
    ms = ms_ssim_3d(truth + 0.2, truth, scales=2, weights=[0.3, 2.0])  # user weights: used as given
    assert ms.weights == (0.3, 2.0)
    assert ms.score == pytest.approx(_luminance(0.5, 0.7) ** 2.0, rel=1e-12)
    with pytest.raises(ValueError, match="weights"):
        ms_ssim_3d(v, v, scales=2, weights=[1.0])
    with pytest.raises(ValueError, match="weights"):
        ms_ssim_3d(v, v, scales=2, weights=[1.0, -1.0])
    with pytest.raises(ValueError, match="at most 5"):
        ms_ssim_3d(np.zeros((128, 128, 128)), np.zeros((128, 128, 128)), scales=6)
    with pytest.raises(ValueError, match="scales"):
        ms_ssim_3d(v, v, scales=0)


def test_ms_ssim_too_small():
    v = np.zeros((16, 40, 40))
    assert len(ms_ssim_3d(v, v, scales=3).maps) == 3  # 16 → 8 → 4: allowed
    with pytest.raises(ValueError, match=r"\(16, 40, 40\) is too small for 4 scales"):
        ms_ssim_3d(v, v, scales=4)


def test_ms_ssim_mask_downsampling():
    truth = _smooth_volume((16, 16, 16), seed=9)
    result = truth.copy()
    result[:4] = 1 - result[:4]  # corrupted slab z < 4
    mask = np.zeros(truth.shape, bool)
    mask[8:, 2:14, 1:15] = True
    ms = ms_ssim_3d(result, truth, scales=3, mask=mask)
    # expected coarse masks: a coarse voxel is in when >= half of its 2×2×2 children (previous scale) are
    m = mask
    coarse = []
    for j in range(3):
        coarse.append(m)
        assert ms.scale_means[j] == pytest.approx(ms.maps[j][m].mean(), abs=1e-12)
        m = m.reshape(m.shape[0] // 2, 2, m.shape[1] // 2, 2, m.shape[2] // 2, 2).mean(axis=(1, 3, 5)) >= 0.5
    # scale 2: z 8..15 → 4..7; y 2..13 → 1..6; x 1..14 → 0..7 (x pairs (0,1) and (14,15) are half in)
    expected2 = np.zeros((8, 8, 8), bool)
    expected2[4:, 1:7, :] = True
    np.testing.assert_array_equal(coarse[1], expected2)
    # scale 3: y pairs (0,1) and (6,7) of scale 2 are half in → 0..3; z 2..3
    expected3 = np.zeros((4, 4, 4), bool)
    expected3[2:, :, :] = True
    np.testing.assert_array_equal(coarse[2], expected3)
    assert ms.score < 1.0
    # a single voxel disappears at the next scale
    one = np.zeros(truth.shape, bool)
    one[8, 8, 8] = True
    with pytest.raises(ValueError, match="scale 2"):
        ms_ssim_3d(result, truth, scales=2, mask=one)
    with pytest.raises(ValueError, match="no voxel"):
        ms_ssim_3d(result, truth, scales=2, mask=np.zeros(truth.shape, bool))


def test_combined_map_linear_upsampling():
    # A coarse map linear along z is reproduced linearly at the fine voxels (clamped at the ends).
    coarse = np.broadcast_to(np.arange(4.0)[:, None, None] / 4, (4, 4, 4))
    ms = MultiscaleSSIM(score=1.0, maps=[np.ones((8, 8, 8)), coarse], weights=(0.5, 1.0), sigma=1.5)
    cm = ms.combined_map()
    z = np.clip((np.arange(8) + 0.5) / 2 - 0.5, 0, 3) / 4
    np.testing.assert_allclose(cm, np.broadcast_to(z[:, None, None], (8, 8, 8)), rtol=1e-15)
    # odd full shape: exact shape, and negative values clip to 0
    ms2 = MultiscaleSSIM(
        score=0.0, maps=[np.full((7, 5, 3), 0.25), np.full((4, 3, 2), -0.5)], weights=(0.5, 1.0), sigma=1.5
    )
    cm2 = ms2.combined_map()
    assert cm2.shape == (7, 5, 3) and np.all(cm2 == 0.0)


def test_ms_ssim_errors():
    z = np.zeros((16, 16, 16))
    with pytest.raises(ValueError, match="shapes differ"):
        ms_ssim_3d(z, np.zeros((16, 16, 17)))
    with pytest.raises(ValueError, match="NaN"):
        ms_ssim_3d(np.full(z.shape, np.inf), z)
    with pytest.raises(ValueError, match="data_range"):
        ms_ssim_3d(z, z, data_range=0)
    with pytest.raises(ValueError, match="sigma"):
        ms_ssim_3d(z, z, sigma=-1)


# ----------------------------------------------------------------------------------------------------
# Gaussian-fit effective resolution
# ----------------------------------------------------------------------------------------------------

SIGMAS_0_5 = np.round(np.arange(0, 5.0001, 0.1), 10)


def _foam(n=40, seed=0):
    """Random spherical pores (0) in a matrix (1)."""
    rng = np.random.default_rng(seed)
    v = np.ones((n, n, n))
    zz, yy, xx = np.mgrid[:n, :n, :n]
    for _ in range(40):
        c = rng.uniform(0, n, 3)
        r = rng.uniform(2, 6)
        v[(zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2 < r**2] = 0.0
    return v


def _reference_blur(truth, sigma, pad):
    """Independent float64 implementation: symmetric padding, continuous Gaussian transfer function."""
    p = np.pad(truth, pad, mode="symmetric")
    f2 = sum(np.meshgrid(*[np.fft.fftfreq(n) ** 2 for n in p.shape], indexing="ij"))
    b = np.fft.ifftn(np.fft.fftn(p) * np.exp(-2 * np.pi**2 * sigma**2 * f2)).real
    return b[tuple(slice(pad, pad + n) for n in truth.shape)]


def test_gaussian_fit_recovers_blur():
    truth = _foam()
    blurred = gaussian_filter(truth, 3.0)
    fit = gaussian_fit({"blurred": blurred, "same": truth}, truth, sigmas=SIGMAS_0_5, device="cpu")
    assert set(fit.mse) == {"blurred", "same"}
    for curve in fit.mse.values():
        assert curve.shape == SIGMAS_0_5.shape
    assert abs(fit.best_sigma["blurred"] - 3.0) <= 0.15
    assert abs(fit.refined_sigma["blurred"] - 3.0) <= 0.05
    assert fit.best_sigma["same"] == 0.0 and fit.refined_sigma["same"] == 0.0
    # σ = 0 is the identity, evaluated exactly
    assert fit.mse["same"][0] == 0.0
    assert fit.mse["blurred"][0] == mse(blurred, truth)
    assert fit.fwhm("blurred") == pytest.approx(2 * np.sqrt(2 * np.log(2)) * fit.best_sigma["blurred"])
    assert fit.best_fwhm["same"] == 0.0
    # curve values against an independent float64 FFT blur (padding ceil(4·5) = 20, mirror)
    for k in (7, 30, 50):
        expected = mse(blurred, _reference_blur(truth, SIGMAS_0_5[k], 20))
        assert fit.mse["blurred"][k] == pytest.approx(expected, rel=1e-4)


def test_gaussian_fit_single_array_and_mask():
    truth = _foam(32, seed=1)
    sigmas = np.round(np.arange(0, 3.0001, 0.25), 10)
    result = gaussian_filter(truth, 1.5)
    fit = gaussian_fit(result, truth, sigmas=sigmas, progress=True)
    assert list(fit.mse) == ["result"]
    assert fit.fwhm() == fit.fwhm("result")
    assert fit.best_sigma["result"] == 1.5
    # corrupt outside the mask: the masked fit does not see it
    mask = cylinder_mask(truth.shape, 10.0)
    corrupted = result.copy()
    corrupted[:, ~mask[0]] = 5.0
    masked = gaussian_fit(corrupted, truth, sigmas=sigmas, mask=mask)
    ref = gaussian_fit(result, truth, sigmas=sigmas, mask=mask)
    np.testing.assert_allclose(masked.mse["result"], ref.mse["result"], rtol=1e-6)
    assert masked.mse["result"][0] == mse(corrupted, truth, mask=mask)
    assert masked.best_sigma["result"] == 1.5
    assert gaussian_fit(corrupted, truth, sigmas=sigmas).mse["result"][0] > 1.0


def test_parabola_refinement_stays_inside_grid():
    x = np.round(np.arange(0, 2.0001, 0.1), 10)
    y = (x - 0.737) ** 2
    assert _parabola_vertex(x, y, int(np.argmin(y))) == pytest.approx(0.737, abs=1e-12)
    assert _parabola_vertex(x, x, 0) == 0.0  # minimum at the grid's end: no extrapolation
    y2 = np.array([3.0, 1.0, 1.0, 5.0])
    v = _parabola_vertex(np.arange(4.0), y2, 1)
    assert 0.0 <= v <= 2.0


def test_default_sigmas():
    s = default_fit_sigmas()
    assert s.shape == (101,) and s[0] == 0.0 and s[-1] == 10.0
    np.testing.assert_allclose(np.diff(s), 0.1, atol=1e-9)


def test_gaussian_fit_errors():
    t = np.zeros((8, 8, 8))
    with pytest.raises(ValueError, match="shapes differ"):
        gaussian_fit(np.zeros((8, 8, 9)), t, sigmas=[0, 1])
    with pytest.raises(ValueError, match="NaN"):
        gaussian_fit({"a": np.full(t.shape, np.nan)}, t, sigmas=[0, 1])
    with pytest.raises(ValueError, match=">= 0"):
        gaussian_fit(t, t, sigmas=[-1, 0, 1])
    with pytest.raises(ValueError, match="increasing"):
        gaussian_fit(t, t, sigmas=[0, 2, 1])
    with pytest.raises(ValueError, match="non-empty"):
        gaussian_fit(t, t, sigmas=[])
    with pytest.raises(ValueError, match="no voxel"):
        gaussian_fit(t, t, sigmas=[0, 1], mask=np.zeros(t.shape, bool))
    with pytest.raises(ValueError, match="empty"):
        gaussian_fit({}, t, sigmas=[0, 1])


def test_match_grey_scale_recovers_a_known_gain_and_offset():
    from xrsr_lib.evaluate.quality import match_grey_scale

    ref = np.random.default_rng(3).random((6, 7, 8))
    image = (ref - 0.25) / 1.7  # another scan's grey scale: reference = 1.7 image + 0.25
    matched, gain, offset = match_grey_scale(image, ref)
    assert gain == pytest.approx(1.7) and offset == pytest.approx(0.25)
    np.testing.assert_allclose(matched, ref, atol=1e-5)
    mask = np.zeros(ref.shape, bool)
    mask[:3] = True
    bad = image.copy()
    bad[3:] = 99.0  # outside the mask: ignored
    assert match_grey_scale(bad, ref, mask)[1] == pytest.approx(1.7)
