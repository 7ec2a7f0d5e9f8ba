"""Tests for xrsr_lib.restore.deconv: Richardson-Lucy (vs scikit-image), Gaussian PSF, CT helper, NLM."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from scipy.signal import fftconvolve
from skimage.restoration import richardson_lucy as sk_richardson_lucy

import xrsr_lib.restore.convolution as convolution
from xrsr_lib.restore.deconv import deconvolve_gaussian, gaussian_psf, nlm_denoise, richardson_lucy

# float32 torch vs float64 scikit-image after 30 iterations: measured max relative error ~4e-6
# (elementwise, where the reference is not tiny) and max abs error ~1e-6 of the image maximum.
REL_TOL = 1e-4
ABS_TOL = 1e-5


@pytest.fixture(autouse=True, scope="module")
def _single_torch_thread():
    """Small FFTs: one torch thread is ~5x faster here than two on a busy 2-core machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _assert_close_to_reference(ours: np.ndarray, ref: np.ndarray) -> None:
    assert ours.dtype == np.float32
    assert ours.shape == ref.shape
    scale = float(np.abs(ref).max())
    assert np.abs(ours - ref).max() <= ABS_TOL * scale
    big = np.abs(ref) > 1e-3 * scale
    rel = np.abs(ours[big] - ref[big]) / np.abs(ref[big])
    assert rel.max() < REL_TOL


def _second_moment_x(u: np.ndarray) -> float:
    x = np.arange(u.shape[-1]) - (u.shape[-1] - 1) / 2
    p = u.sum(axis=tuple(range(u.ndim - 1)))
    p = p / p.sum()
    mu = (p * x).sum()
    return float((p * (x - mu) ** 2).sum())


def _psf2d(sigma: float) -> np.ndarray:
    return gaussian_psf((0.0, sigma, sigma))[0]


# ---------------------------------------------------------------------------------------------- agreement
@pytest.mark.parametrize(
    "kwargs", [{"clip": False}, {"clip": True}, {"clip": False, "filter_epsilon": 0.05}], ids=str
)
@pytest.mark.parametrize("ndim", [2, 3])
def test_matches_skimage(ndim: int, kwargs: dict) -> None:
    rng = np.random.default_rng(ndim)
    image = rng.random((64, 64) if ndim == 2 else (32, 32, 32))
    psf = _psf2d(2.0) if ndim == 2 else gaussian_psf(2.0)
    ours = richardson_lucy(image, psf, iterations=30, device="cpu", **kwargs)
    ref = sk_richardson_lucy(image, psf, num_iter=30, **kwargs)
    _assert_close_to_reference(ours, ref)
    if kwargs["clip"]:
        assert ours.max() <= 1.0 and ours.min() >= -1.0
        assert (ref == 1.0).any()  # clipping was active


def test_filter_epsilon_changes_result_like_skimage() -> None:
    rng = np.random.default_rng(5)
    image = rng.random((48, 48)) ** 4  # many small values so the filter bites
    psf = _psf2d(1.5)
    plain = richardson_lucy(image, psf, 10, device="cpu")
    filtered = richardson_lucy(image, psf, 10, filter_epsilon=0.1, device="cpu")
    assert not np.allclose(plain, filtered)
    _assert_close_to_reference(filtered, sk_richardson_lucy(image, psf, 10, clip=False, filter_epsilon=0.1))


def test_matches_skimage_asymmetric_even_psf() -> None:
    # even sizes exercise the 'same'-mode crop offset (k - 1) // 2, asymmetry the mirrored PSF
    rng = np.random.default_rng(3)
    image = rng.random((20, 21, 22))
    psf = rng.random((4, 5, 6))
    psf /= psf.sum()
    _assert_close_to_reference(
        richardson_lucy(image, psf, 10, device="cpu"), sk_richardson_lucy(image, psf, 10, clip=False)
    )


def test_unnormalised_psf_used_as_given() -> None:
    rng = np.random.default_rng(4)
    image = rng.random((24, 24))
    psf = 3.0 * _psf2d(1.0)
    _assert_close_to_reference(
        richardson_lucy(image, psf, 5, device="cpu"), sk_richardson_lucy(image, psf, 5, clip=False)
    )


def _separable_psf(rng: np.random.Generator, sizes: tuple[int, ...]) -> np.ndarray:
    """Outer product of random positive 1D kernels (asymmetric, even and odd sizes)."""
    psf = np.ones(())
    for k in sizes:
        psf = np.multiply.outer(psf, rng.random(k) + 0.1)
    return psf / psf.sum()


@pytest.mark.parametrize("method", ["fft", "separable"])
@pytest.mark.parametrize(
    ("shape", "psf_sizes"),
    [((20, 21, 22), (4, 5, 6)), ((9, 30, 7), (25, 3, 12)), ((3, 3, 3), (17, 17, 17)), ((64, 64), (17, 8))],
    ids=str,
)
def test_both_methods_match_skimage(method: str, shape: tuple[int, ...], psf_sizes: tuple[int, ...]) -> None:
    """Both convolution methods are scipy's zero-boundary 'same' convolution, also for even,
    asymmetric kernels and kernels longer than the image (taps beyond it never reach the output)."""
    rng = np.random.default_rng(sum(shape))
    image = rng.random(shape)
    psf = _separable_psf(rng, psf_sizes)
    ref = sk_richardson_lucy(image, psf, num_iter=10, clip=False)
    _assert_close_to_reference(richardson_lucy(image, psf, 10, device="cpu", method=method), ref)


def test_separable_blocks_match_skimage(monkeypatch: pytest.MonkeyPatch) -> None:
    """Several row blocks per axis (the band of each block clipped at the faces) give the same result."""
    monkeypatch.setattr(convolution, "_SEPARABLE_BLOCK", 8)
    monkeypatch.setattr(convolution, "_SHORT_BLOCK", 8)
    rng = np.random.default_rng(8)
    image = rng.random((30, 33, 20))
    psf = _separable_psf(rng, (6, 9, 4))
    ref = sk_richardson_lucy(image, psf, num_iter=10, clip=False)
    _assert_close_to_reference(richardson_lucy(image, psf, 10, device="cpu", method="separable"), ref)
    psf = gaussian_psf(2.5)
    ref = sk_richardson_lucy(image, psf, num_iter=30, clip=False)
    _assert_close_to_reference(richardson_lucy(image, psf, 30, device="cpu", method="separable"), ref)


def test_method_choice() -> None:
    """'auto' multiplies matrices for a Gaussian PSF at the benchmark's size, uses FFTs for a
    non-separable PSF or when float32 matrix products may be reduced precision (TF32)."""
    gauss = gaussian_psf(3.0)
    factors = convolution.separable_factors(gauss)
    assert factors is not None
    assert np.allclose(
        np.multiply.outer(np.multiply.outer(factors[0], factors[1]), factors[2]), gauss, rtol=0, atol=1e-15
    )
    assert convolution.choose_method("auto", factors, (128, 128, 128), gauss.shape) == "separable"
    assert convolution.choose_method("fft", factors, (128, 128, 128), gauss.shape) == "fft"
    rng = np.random.default_rng(0)
    blob = rng.random((5, 5, 5))
    assert convolution.separable_factors(blob) is None
    assert convolution.choose_method("auto", None, (128, 128, 128), blob.shape) == "fft"
    previous = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("high")
        assert convolution.choose_method("auto", factors, (128, 128, 128), gauss.shape) == "fft"
    finally:
        torch.set_float32_matmul_precision(previous)
    with pytest.raises(ValueError, match="separable psf"):
        richardson_lucy(np.ones((8, 8, 8)), blob, 1, method="separable")
    with pytest.raises(ValueError, match="method"):
        richardson_lucy(np.ones((8, 8, 8)), gauss, 1, method="direct")


def test_benchmark_case_matches_skimage_both_methods() -> None:
    """The benchmark's setting, scaled down (48³, σ = 3, 30 iterations, a blurred sphere phantom):
    the bound stated in the module docstring, 1e-5 of the maximum, holds for both methods."""
    rng = np.random.default_rng(0)
    n = 48
    z, y, x = np.ogrid[:n, :n, :n]
    truth = np.zeros((n, n, n))
    for _ in range(6):
        c = rng.uniform(0.2 * n, 0.8 * n, 3)
        inside = (z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 <= rng.uniform(3, 8) ** 2
        truth[inside] = rng.uniform(0.3, 1)
    psf = gaussian_psf(3.0)
    blurred = np.clip(fftconvolve(truth, psf, mode="same"), 0.0, None) + rng.uniform(0.0, 0.01, truth.shape)
    ref = sk_richardson_lucy(blurred, psf, num_iter=30, clip=False)
    for method in ("separable", "fft"):
        _assert_close_to_reference(richardson_lucy(blurred, psf, 30, device="cpu", method=method), ref)


def test_zero_boundary_deconvolve_gaussian_equals_skimage() -> None:
    """boundary='zero' on non-negative data (no shift) is scikit-image's RL with the Gaussian PSF."""
    vol = np.clip(_noisy_ct_volume(24), 0.0, None)
    out = deconvolve_gaussian(vol, 1.5, iterations=20, offset=0.0, device="cpu", boundary="zero")
    ref = sk_richardson_lucy(vol.astype(np.float64), gaussian_psf(1.5), num_iter=20, clip=False)
    _assert_close_to_reference(out, ref)


# ---------------------------------------------------------------------------------------------- behaviour
def test_point_source_sharpens() -> None:
    n, sigma = 33, 2.0
    psf = gaussian_psf(sigma)
    point = np.zeros((n, n, n))
    point[n // 2, n // 2, n // 2] = 1.0
    data = np.clip(fftconvolve(point, psf, mode="same"), 0, None)
    assert _second_moment_x(data) == pytest.approx(sigma**2, rel=1e-3)
    peaks, widths = [], []
    # iteration 1 from the flat 0.5 start returns ~blur(data) (width 2σ²); from there on it sharpens
    for it in (2, 5, 10, 20, 40):
        u = richardson_lucy(data, psf, it, device="cpu")
        assert u.sum() == pytest.approx(1.0, rel=1e-4)  # flux conserved (zero background)
        peaks.append(float(u.max()))
        widths.append(_second_moment_x(u))
    assert all(b > a for a, b in zip(peaks, peaks[1:], strict=False))
    assert all(b < a for a, b in zip(widths, widths[1:], strict=False))
    assert peaks[-1] > 10 * data.max()
    assert widths[-1] < 0.2 * sigma**2


def test_step_edge_gets_steeper() -> None:
    x = np.arange(64)
    truth = np.broadcast_to(np.where(x < 32, 0.2, 1.0), (8, 8, 64)).astype(np.float64)
    psf = gaussian_psf(2.0)
    blurred = np.clip(fftconvolve(truth, psf, mode="same"), 0, None)
    u = richardson_lucy(blurred, psf, 30, device="cpu")
    profile_b = blurred[4, 4, 16:48]
    profile_u = u[4, 4, 16:48]
    assert np.diff(profile_u).max() > 1.5 * np.diff(profile_b).max()
    assert 16 + np.argmax(np.diff(profile_u)) == 31  # edge stays between x = 31 and 32


def test_known_blur_phantom_mse_decreases() -> None:
    n, sigma = 40, 1.5
    z, y, x = np.mgrid[:n, :n, :n]
    truth = np.zeros((n, n, n))
    for (cz, cy, cx), r, v in [((12, 12, 14), 5, 1.0), ((26, 24, 20), 7, 0.6), ((20, 30, 30), 3, 0.8)]:
        truth[(z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 <= r**2] = v
    psf = gaussian_psf(sigma)
    blurred = np.clip(fftconvolve(truth, psf, mode="same"), 0, None)
    u = richardson_lucy(blurred, psf, 30, device="cpu")
    mse_blur = np.mean((blurred - truth) ** 2)
    mse_rl = np.mean((u - truth) ** 2)
    assert mse_rl < 0.7 * mse_blur


# ---------------------------------------------------------------------------------------------- PSF
@pytest.mark.parametrize("sigma", [1.0, 2.0, 3.5])
def test_gaussian_psf_properties(sigma: float) -> None:
    psf = gaussian_psf(sigma)
    assert psf.sum() == pytest.approx(1.0, abs=1e-12)
    assert all(s % 2 == 1 for s in psf.shape)
    assert np.unravel_index(np.argmax(psf), psf.shape) == tuple(s // 2 for s in psf.shape)
    for axis in range(3):
        assert np.allclose(psf, np.flip(psf, axis=axis), rtol=0, atol=1e-15)
        c = np.arange(psf.shape[axis]) - psf.shape[axis] // 2
        marginal = psf.sum(axis=tuple(a for a in range(3) if a != axis))
        assert (marginal * c**2).sum() == pytest.approx(sigma**2, rel=1e-3)


def test_gaussian_psf_equals_scipy_gaussian_filter_kernel() -> None:
    # the degradation uses scipy.ndimage.gaussian_filter (truncate=4): same radius, same samples
    sigma = 1.7
    psf = gaussian_psf(sigma)
    delta = np.zeros(psf.shape)
    delta[tuple(s // 2 for s in psf.shape)] = 1.0
    assert np.allclose(gaussian_filter(delta, sigma, mode="constant", truncate=4.0), psf, atol=1e-12)


def test_gaussian_psf_anisotropic_and_zero() -> None:
    psf = gaussian_psf((0.0, 1.0, 2.0))
    assert psf.shape == (1, 9, 17)
    assert psf.sum() == pytest.approx(1.0)
    assert gaussian_psf(0.0).shape == (1, 1, 1)


# ---------------------------------------------------------------------------------------------- CT helper
def _noisy_ct_volume(n: int = 32) -> np.ndarray:
    rng = np.random.default_rng(7)
    z, y, x = np.mgrid[:n, :n, :n]
    vol = ((z - n / 2) ** 2 + (y - n / 2) ** 2 + (x - n / 2) ** 2 <= (n / 4) ** 2).astype(np.float32)
    vol = gaussian_filter(vol, 1.5)
    return (vol + rng.normal(0.0, 0.05, vol.shape)).astype(np.float32)


def test_deconvolve_gaussian_negative_values() -> None:
    vol = _noisy_ct_volume()
    assert vol.min() < 0
    out = deconvolve_gaussian(vol, 1.5, iterations=10, device="cpu")
    assert out.shape == vol.shape and out.dtype == np.float32
    assert np.isfinite(out).all()
    assert float(out.mean()) == pytest.approx(float(vol.mean()), abs=0.02 * float(vol.max()))
    assert out.max() > vol.max()  # sharpened sphere


def test_deconvolve_gaussian_is_shifted_rl() -> None:
    vol = _noisy_ct_volume(24)
    shift = 0.5
    expected = richardson_lucy(vol + shift, gaussian_psf(1.0), 5, device="cpu") - shift
    out = deconvolve_gaussian(vol, 1.0, iterations=5, offset=shift, device="cpu", boundary="zero")
    assert np.allclose(out, expected, atol=1e-6)
    auto = deconvolve_gaussian(vol, 1.0, iterations=5, device="cpu", boundary="zero")
    shift = -float(vol.min())
    expected = richardson_lucy(np.maximum(vol + np.float32(shift), 0), gaussian_psf(1.0), 5, device="cpu")
    assert np.allclose(auto, expected - np.float32(shift), atol=1e-6)


def test_reflect_boundary_is_rl_of_the_mirrored_volume_and_paints_no_frame() -> None:
    """A flat background stays flat at the faces with the mirrored boundary; the zero boundary of
    scikit-image's RL brightens a frame there (the artefact of Figure 4)."""
    vol = np.full((20, 24, 24), 0.3, np.float32)
    vol[8:12, 10:14, 10:14] = 1.0
    vol = gaussian_filter(vol, 1.5).astype(np.float32)
    psf = gaussian_psf(1.5)
    pad = psf.shape[0] // 2
    out = deconvolve_gaussian(vol, 1.5, iterations=10, device="cpu")  # reflect is the default
    expected = richardson_lucy(np.pad(vol, pad, mode="symmetric"), psf, 10, device="cpu")
    np.testing.assert_allclose(out, expected[pad:-pad, pad:-pad, pad:-pad], atol=1e-6)
    zero = deconvolve_gaussian(vol, 1.5, iterations=10, device="cpu", boundary="zero")
    face = (slice(None), slice(None), 0)  # the x = 0 face lies in the flat background
    assert np.abs(out[face] - 0.3).max() < 0.03  # RL ringing of the blob only
    assert np.abs(zero[face] - 0.3).max() > 0.1  # the frame (here dark: no shift, flat background)
    with pytest.raises(ValueError, match="boundary"):
        deconvolve_gaussian(vol, 1.0, boundary="wrap")


def test_deconvolve_gaussian_sigma_zero_identity() -> None:
    vol = _noisy_ct_volume(16)
    out = deconvolve_gaussian(vol, 0.0)
    assert np.array_equal(out, vol)
    assert out is not vol


# ---------------------------------------------------------------------------------------------- NLM
def test_nlm_denoise_reduces_noise_keeps_edge() -> None:
    rng = np.random.default_rng(1)
    vol = np.zeros((24, 24, 32), np.float32)
    vol[..., 16:] = 1.0
    noisy = vol + rng.normal(0.0, 0.1, vol.shape).astype(np.float32)
    out = nlm_denoise(noisy, patch_size=5, patch_distance=3)
    assert out.shape == noisy.shape and out.dtype == np.float32
    assert out[..., 2:12].std() < 0.3 * noisy[..., 2:12].std()
    profile = out.mean(axis=(0, 1))
    crossing = np.flatnonzero((profile[:-1] < 0.5) & (profile[1:] >= 0.5))
    assert list(crossing) == [15]


def test_nlm_noise_free_returns_copy() -> None:
    vol = np.ones((8, 8, 8), np.float32)
    out = nlm_denoise(vol)
    assert np.array_equal(out, vol) and out is not vol


# ---------------------------------------------------------------------------------------------- validation
_IMG = np.ones((8, 8, 8))
_PSF = gaussian_psf(1.0)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: gaussian_psf(-1.0), "sigma"),
        (lambda: gaussian_psf(float("nan")), "sigma"),
        (lambda: gaussian_psf((1.0, 2.0)), "3 entries"),
        (lambda: gaussian_psf(1.0, truncate=0), "truncate"),
        (lambda: richardson_lucy(_IMG, _PSF, iterations=0), "iterations"),
        (lambda: richardson_lucy(np.zeros((0, 4, 4)), _PSF), "is empty"),
        (lambda: richardson_lucy(np.full((4, 4, 4), np.nan), _PSF), "NaN"),
        (lambda: richardson_lucy(_IMG, _PSF[0]), "same number of dimensions"),
        (lambda: richardson_lucy(_IMG, np.full((3, 3, 3), np.inf)), "psf contains NaN or infinite"),
        (lambda: richardson_lucy(_IMG, np.zeros((3, 3, 3))), "non-zero"),
        (lambda: richardson_lucy(_IMG, -_PSF), "psf must be non-negative"),
        (lambda: richardson_lucy(_IMG - 2, _PSF), "deconvolve_gaussian"),
        (lambda: richardson_lucy(_IMG, _PSF, filter_epsilon=-1.0), "filter_epsilon"),
        (lambda: deconvolve_gaussian(_IMG, -0.5), "sigma_voxels"),
        (lambda: deconvolve_gaussian(_IMG, float("nan")), "sigma_voxels"),
        (lambda: deconvolve_gaussian(_IMG, 1.0, iterations=0), "iterations"),
        (lambda: deconvolve_gaussian(_IMG[0], 1.0), "3D"),
        (lambda: deconvolve_gaussian(_IMG - 2, 1.0, offset=0.5), "offset"),
        (lambda: deconvolve_gaussian(_IMG, 1.0, offset="min"), "offset"),
        (lambda: nlm_denoise(_IMG, patch_size=0), "patch_size"),
        (lambda: nlm_denoise(_IMG, h_factor=0), "h_factor"),
        (lambda: nlm_denoise(_IMG, sigma=0.1, workers=0), "workers"),
        (lambda: nlm_denoise(np.full((4, 4, 4), np.nan)), "NaN"),
    ],
)
def test_bad_inputs_raise(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


# ---------------------------------------------------------------------------------------------- CUDA
def test_cuda_matches_cpu() -> None:
    if not torch.cuda.is_available():
        pytest.skip("CUDA not available on this machine")
    rng = np.random.default_rng(11)
    image = rng.random((40, 40, 40))
    psf = gaussian_psf(2.0)
    cpu = richardson_lucy(image, psf, 30, device="cpu")
    for method in ("auto", "fft", "separable"):
        gpu = richardson_lucy(image, psf, 30, device="cuda", method=method)
        assert gpu.dtype == np.float32
        assert np.abs(gpu - cpu).max() <= 1e-5 * np.abs(cpu).max()
    vol = _noisy_ct_volume()
    a = deconvolve_gaussian(vol, 1.5, device="cpu")
    b = deconvolve_gaussian(vol, 1.5, device="cuda")
    assert np.abs(a - b).max() <= 1e-5 * np.abs(a).max()


def test_nlm_with_a_given_sigma_smooths_correlated_speckle():
    from scipy.ndimage import gaussian_filter

    from xrsr_lib.restore.deconv import nlm_denoise

    rng = np.random.default_rng(4)
    speckle = gaussian_filter(rng.normal(0, 1, (24, 24, 24)), 1.0)
    speckle *= 0.1 / speckle.std()  # correlated noise of std 0.1, like RL output
    vol = (1.0 + speckle).astype(np.float32)
    out = nlm_denoise(vol, patch_size=3, patch_distance=3, sigma=0.1)
    assert out[4:-4, 4:-4, 4:-4].std() < 0.6 * vol[4:-4, 4:-4, 4:-4].std()
    with pytest.raises(ValueError, match="sigma"):
        nlm_denoise(vol, sigma=-1.0)


@pytest.mark.parametrize(
    "shape, workers", [((37, 24, 20), 2), ((50, 16, 18), 3), ((12, 20, 22), 2), ((40, 30), 2)]
)
def test_nlm_in_slabs_equals_one_call(shape, workers):
    """Slabs filtered in parallel threads, each with its margin of neighbouring slices, join to the
    whole-volume result (also for slab counts that do not divide the axis, 2-D images, and a volume
    too thin for its slabs, which falls back to fewer)."""
    rng = np.random.default_rng(3)
    radius = np.sqrt(sum((g - n / 2) ** 2 for g, n in zip(np.indices(shape), shape, strict=True)))
    vol = (radius > min(shape) / 3).astype(np.float32)
    vol += 0.1 * rng.standard_normal(shape).astype(np.float32)
    one = nlm_denoise(vol, patch_size=3, patch_distance=3, sigma=0.1, workers=1)
    split = nlm_denoise(vol, patch_size=3, patch_distance=3, sigma=0.1, workers=workers)
    assert split.dtype == np.float32 and split.shape == shape
    np.testing.assert_allclose(split, one, rtol=0, atol=1e-6 * np.abs(one).max())
    assert np.abs(one - vol).mean() > 0.02  # it did denoise
