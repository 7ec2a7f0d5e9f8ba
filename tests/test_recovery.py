"""The public front door on a user's own pair of volumes: TIFF files in, a trained model out, the
same prediction after a reload in a fresh process, and clear errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from scipy.ndimage import gaussian_filter

from xrsr_lib import Recovery, preset, read_volume, write_volume

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FAST = {"iterations": 6, "checkpoint_every": 3}


@pytest.fixture(scope="module")
def pair_files(tmp_path_factory) -> tuple[Path, Path]:
    """A user's pair: an HRES crop and the LRES scan of the same region, written as TIFF stacks."""
    folder = tmp_path_factory.mktemp("scans")
    rng = np.random.default_rng(5)
    hres = (gaussian_filter(rng.random((20, 36, 36)), 2.0) > 0.5).astype(np.float32)
    lres = gaussian_filter(hres, 2.0) + rng.normal(0, 0.03, hres.shape).astype(np.float32)
    tifffile.imwrite(folder / "hres.tif", hres, imagej=True)
    tifffile.imwrite(folder / "lres.tif", lres.astype(np.float32), imagej=True)
    return folder / "lres.tif", folder / "hres.tif"


@pytest.mark.parametrize("method", ["deepnet", "srcnn"])
def test_fit_save_reload_in_a_fresh_process_predicts_identically(method, pair_files, tmp_path):
    lres, hres = pair_files
    rec = Recovery.from_preset(method, "smoke", loss_mask="none", **FAST)
    assert not rec.is_fitted
    rec.fit(lres, hres, progress=False)
    out = rec.predict(lres)
    assert out.shape == read_volume(lres)[0].shape and out.dtype == np.float32
    saved = rec.save(tmp_path / "model")
    cfg = json.loads((saved / "config.json").read_text())
    assert cfg["method"] == method and cfg["settings"]["training"]["loss_mask"] == "none"
    with pytest.raises(FileExistsError):
        rec.save(tmp_path / "model")

    script = (
        "import sys, numpy as np, torch; torch.set_num_threads(1)\n"
        "from xrsr_lib import Recovery\n"
        "rec = Recovery.load(sys.argv[1])\n"
        "np.save(sys.argv[3], rec.predict(sys.argv[2]))\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(saved), str(lres), str(tmp_path / "fresh.npy")],
        check=True,
        capture_output=True,
        text=True,
    )
    np.testing.assert_array_equal(np.load(tmp_path / "fresh.npy"), out)

    scores = Recovery.evaluate(out, hres)
    assert set(scores) == {"mse", "psnr", "ssim", "ms_ssim", "effective_blur_voxels"}
    assert Recovery.evaluate(hres, hres)["effective_blur_voxels"] == pytest.approx(0.0, abs=0.05)


def test_loss_mask_setting_changes_what_is_trained(pair_files, tmp_path):
    lres, hres = pair_files
    a = Recovery.from_preset("deepnet", "smoke", **FAST)
    a.fit(lres, hres, folder=tmp_path / "a", progress=False)
    b = Recovery.from_preset("deepnet", "smoke", loss_mask="none", **FAST)
    b.fit(lres, hres, folder=tmp_path / "b", progress=False)
    # the corners outside the field-of-view circle only count with loss_mask="none"
    assert (
        json.loads((a.folder / "config.json").read_text())["normalization"]
        != json.loads((b.folder / "config.json").read_text())["normalization"]
    )


def test_user_mask_restricts_the_loss(pair_files, tmp_path):
    lres, hres = pair_files
    shape = read_volume(lres)[0].shape
    with pytest.raises(ValueError, match="mask has shape"):
        Recovery.from_preset("deepnet", "smoke", **FAST).fit(
            lres, hres, mask=np.ones((3, 3), bool), progress=False
        )
    mask = np.zeros(shape, bool)
    mask[:, 8:28, 8:28] = True
    rec = Recovery.from_preset("srcnn", "smoke", loss_mask="none", **FAST)
    rec.fit(lres, hres, mask=mask, folder=tmp_path / "m", progress=False)
    assert json.loads((rec.folder / "config.json").read_text())["mask_voxels"] == int(mask.sum())


def test_clear_errors(pair_files, tmp_path):
    lres, hres = pair_files
    x, y = read_volume(lres)[0], read_volume(hres)[0]
    rec = Recovery.from_preset("deepnet", "smoke", **FAST)
    with pytest.raises(ValueError, match="shapes differ"):
        rec.fit(x, y[:, :, :-1], progress=False)
    bad = np.array(x, copy=True)
    bad[2, 3, 4] = np.nan
    with pytest.raises(ValueError, match="lres contains NaN"):
        rec.fit(bad, y, progress=False)
    with pytest.raises(ValueError, match="must be 3-D"):
        rec.fit(x[0], y[0], progress=False)
    with pytest.raises(ValueError, match="unknown preset 'gpu'"):
        Recovery.from_preset("deepnet", "gpu")
    with pytest.raises(ValueError, match="unknown method 'unet'"):
        Recovery.from_preset("unet", "cpu")
    with pytest.raises(ValueError, match="iterations"):
        preset("deepnet", "smoke", iterations=0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        Recovery.load(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="no such model folder"):
        Recovery.load(tmp_path / "missing")
    with pytest.raises(RuntimeError, match="not fitted"):
        rec.predict(x)
    with pytest.raises(FileNotFoundError, match="no such volume file"):
        rec.fit(tmp_path / "nope.tif", hres, progress=False)
    with pytest.raises(ValueError, match="unknown volume format '.xyz'"):
        write_volume(tmp_path / "v.xyz", x)
