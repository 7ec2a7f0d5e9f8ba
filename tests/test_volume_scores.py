"""``xrsr evaluate`` and ``Recovery.evaluate`` report the same scores, computed once in
:mod:`xrsr_lib.evaluate.volume_scores`."""

from __future__ import annotations

import numpy as np
import pytest
from _cli import run_xrsr
from scipy.ndimage import gaussian_filter

from xrsr_lib import Recovery, write_volume
from xrsr_lib.evaluate import ms_ssim_3d, psnr


def _foam(shape=(40, 40, 40), seed=0) -> np.ndarray:
    """Material (1) with spherical pores (0) of radius 4 voxels."""
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape)
    vol = np.ones(shape, np.float32)
    for c in rng.uniform(6, min(shape) - 6, size=(6, 3)):
        vol[(z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 <= 16] = 0.0
    return vol


def test_the_command_reports_the_facade_s_scores(tmp_path, capsys):
    ref = _foam()
    res = gaussian_filter(ref, 1.0).astype(np.float32)
    write_volume(tmp_path / "res.tif", res, voxel_size_um=2.0)
    write_volume(tmp_path / "ref.tif", ref, voxel_size_um=2.0)
    code, cli, err = run_xrsr(
        capsys, "evaluate", str(tmp_path / "res.tif"), str(tmp_path / "ref.tif"), "--pores"
    )
    assert code == 0, err
    api = Recovery.evaluate(res, ref, voxel_size_um=2.0, pores=True)
    for key in ("mse", "psnr", "ssim", "ms_ssim", "effective_blur_voxels", "effective_blur_um"):
        assert cli[key] == pytest.approx(api[key], rel=1e-9), key
    assert cli["pores"] == api["pores"]
    assert api["pores"]["reference"]["n_pores"] == 6  # the painted pores, none merged
    assert api["effective_blur_voxels"] == pytest.approx(1.0, abs=0.15)  # the blur applied
    assert api["effective_blur_um"] == pytest.approx(2.0 * api["effective_blur_voxels"])
    assert api["psnr"] == pytest.approx(psnr(res, ref, data_range=1.0))
    # 40 voxels a side: scales of 40, 20, 10 and 5 voxels (4 is the least side of a scale)
    assert api["ms_ssim"] == pytest.approx(float(ms_ssim_3d(res, ref, data_range=1.0, scales=4).score))


def test_ms_ssim_needs_the_whole_volume():
    ref = _foam()
    mask = np.ones(ref.shape, bool)
    assert Recovery.evaluate(ref, ref, mask=mask)["ms_ssim"] == pytest.approx(1.0)
    mask[0] = False
    assert Recovery.evaluate(ref, ref, mask=mask)["ms_ssim"] is None
