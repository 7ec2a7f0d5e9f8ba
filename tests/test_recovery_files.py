"""The command and the facade read a user's scan through one function (:func:`read_scan`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

import xrsr_lib.io
from xrsr_lib import Recovery, cli, recovery, write_volume
from xrsr_lib.io.errors import XrsrInputError, XrsrInputMissing
from xrsr_lib.io.scans import read_scan

pytestmark = pytest.mark.usefixtures("one_torch_thread")

VOXEL = 3.0


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> dict[str, Path]:
    """An input volume (3 µm voxels) and a 2-step model (scale 1) calibrated on it, in its folder."""
    folder = tmp_path_factory.mktemp("recovery_files")
    vol = np.random.default_rng(3).random((16, 32, 40), dtype=np.float32)  # a side > 32: pyramid
    write_volume(folder / "in.tif", vol, voxel_size_um=VOXEL)
    rec = Recovery.from_preset("deepnet", "smoke", iterations=2, loss_mask="none")
    rec.fit(vol, vol, folder=folder / "model", progress=False)
    rec.calibrate(vol, vol)
    return {"in": folder / "in.tif", "model": folder / "model"}


def test_the_command_and_the_facade_read_scans_through_one_function(model, monkeypatch, capsys):
    """``cli.py`` has no volume reader of its own: ``xrsr evaluate`` reads its two files through
    :func:`xrsr_lib.io.read_scan`, and so does the facade it calls."""
    assert cli.read_scan is recovery.read_scan is xrsr_lib.io.read_scan is read_scan
    assert (
        not hasattr(cli, "_volume") and not hasattr(recovery, "_scan") and not hasattr(recovery, "_as_volume")
    )
    calls: list[tuple[str, str]] = []

    def spy(value, name, *args, **kwargs):
        calls.append((name, "file" if isinstance(value, str | Path) else "array"))
        return read_scan(value, name, *args, **kwargs)

    monkeypatch.setattr(cli, "read_scan", spy)
    monkeypatch.setattr(recovery, "read_scan", spy)
    assert cli.main(["--quiet", "evaluate", str(model["in"]), str(model["in"])]) == 0
    assert calls == [("result", "file"), ("reference", "file"), ("result", "array"), ("reference", "array")]
    calls.clear()
    Recovery.evaluate(model["in"], model["in"])
    assert calls == [("result", "file"), ("reference", "file")]
    capsys.readouterr()


def test_read_scan_voxel_rule(tmp_path):
    vol = np.random.default_rng(0).random((4, 5, 6), dtype=np.float32)
    write_volume(tmp_path / "sized.tif", vol, voxel_size_um=2.0)
    tifffile.imwrite(tmp_path / "bare.tif", vol)
    assert read_scan(tmp_path / "sized.tif", "lres")[1] == 2.0
    assert read_scan(tmp_path / "sized.tif", "lres", 4.0, fallback_um=8.0)[1] == 4.0  # given beats file
    assert read_scan(tmp_path / "sized.tif", "lres", fallback_um=8.0)[1] == 2.0  # file beats fallback
    assert read_scan(tmp_path / "bare.tif", "lres", fallback_um=8.0)[1] == 8.0  # a recorded size
    assert read_scan(vol, "lres", fallback_um=8.0)[1] == 8.0
    assert read_scan(tmp_path / "bare.tif", "lres", need_voxel=False)[1] is None
    with pytest.raises(
        XrsrInputError, match=r"bare.tif: no voxel size in the file; give lres_voxel_um$"
    ) as e:
        read_scan(tmp_path / "bare.tif", "lres")
    assert e.value.parameter == "lres_voxel_um"
    with pytest.raises(XrsrInputError, match=r"^hres is an array; give hres_voxel_um$"):
        read_scan(vol, "hres")
    with pytest.raises(XrsrInputError, match=r"^voxel_size_um must be > 0 µm, got -1") as e:
        read_scan(vol, "reference", -1.0, voxel_parameter="voxel_size_um")
    assert e.value.parameter == "voxel_size_um"
    bad = vol.copy()
    bad[1, 2, 3] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(XrsrInputError, match=r"nan.npy contains NaN") as e:
        read_scan(tmp_path / "nan.npy", "lres", 1.0)
    assert e.value.parameter == "lres"
    with pytest.raises(XrsrInputMissing, match="no such volume file"):
        read_scan(tmp_path / "none.tif", "lres", 1.0)
    write_volume(tmp_path / "v.h5", vol, voxel_size_um=2.0)
    with pytest.raises(XrsrInputError, match="other") as e:
        read_scan(f"{tmp_path / 'v.h5'}:/other", "lres")
    assert e.value.parameter == "lres"
