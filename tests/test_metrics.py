import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio

from xrsr_lib.metrics import cylinder_mask, mse, psnr


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
        peak_signal_noise_ratio(truth[m], result[m], data_range=1.0))


def test_errors():
    with pytest.raises(ValueError, match="shapes differ"):
        mse(np.zeros((2, 2, 2)), np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        psnr(np.full((2, 2, 2), np.nan), np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="no voxel"):
        mse(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)), mask=np.zeros((2, 2, 2), bool))
    with pytest.raises(ValueError, match="data_range"):
        psnr(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)), data_range=0)
