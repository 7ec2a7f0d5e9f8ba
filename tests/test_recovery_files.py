"""The facade writes what the command writes: predictions to any volume file, a model moved into its
folder; and the command and the facade read a user's scan through one function (:func:`read_scan`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

import xrsr_lib.io
from xrsr_lib import Recovery, cli, open_volume, read_volume, write_volume
from xrsr_lib.io.errors import XrsrInputError, XrsrInputExists, XrsrInputMissing
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


@pytest.mark.parametrize("suffix", [".tif", ".h5"])
def test_predict_to_file_writes_what_predict_writes(model, tmp_path, suffix):
    rec = Recovery.load(model["model"])
    out = tmp_path / f"p{suffix}"
    info = rec.predict_to_file(model["in"], out, progress=False, trust=True)
    assert info["out"] == str(out) and info["voxel_size_um"] == pytest.approx(VOXEL)
    written, meta = read_volume(out)
    assert meta["voxel_size_um"] == pytest.approx(VOXEL)
    zarr = rec.predict_to_zarr(model["in"], tmp_path / "p.zarr", progress=False, trust=True)
    np.testing.assert_array_equal(written, open_volume(tmp_path / "p.zarr").read())
    in_memory = rec.predict(read_volume(model["in"])[0])
    np.testing.assert_allclose(written, in_memory, rtol=0, atol=1e-5 * float(np.abs(in_memory).max()))
    beside = tmp_path / f"p_trust{suffix}"
    assert info["trust"]["image"] == str(beside)
    np.testing.assert_array_equal(read_volume(beside)[0], open_volume(Path(zarr["trust"]["image"])).read())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, beside.name, "p.zarr"])


def test_predict_to_file_writes_an_ome_zarr_with_its_pyramid(model, tmp_path):
    rec = Recovery.load(model["model"])
    info = rec.predict_to_file(model["in"], tmp_path / "p.zarr", chunks=16, progress=False)
    assert info["out"] == str(tmp_path / "p.zarr")
    assert (tmp_path / "p.zarr" / "1").is_dir()  # 40 -> 20 voxels: a level for viewers


@pytest.mark.parametrize("name", ["p.xyz", "p.raw"])
def test_predict_to_file_refuses_a_suffix_it_cannot_write_before_any_work(model, tmp_path, name):
    with pytest.raises(
        XrsrInputError, match=rf"{tmp_path / name}: (unknown volume format|xrsr reads)"
    ) as err:
        Recovery.load(model["model"]).predict_to_file(model["in"], tmp_path / name, progress=False)
    assert err.value.parameter == "out"
    assert list(tmp_path.iterdir()) == []  # no hidden store: nothing was predicted


def test_predict_to_file_never_overwrites(model, tmp_path):
    rec = Recovery.load(model["model"])
    (tmp_path / "p.tif").write_bytes(b"taken")
    with pytest.raises(XrsrInputExists, match="p.tif exists") as err:
        rec.predict_to_file(model["in"], tmp_path / "p.tif", progress=False)
    assert err.value.parameter == "out"
    (tmp_path / "q_trust.h5").write_bytes(b"taken")
    with pytest.raises(XrsrInputExists, match=r"q_trust.h5 \(the trust map beside .*q.h5\) exists"):
        rec.predict_to_file(model["in"], tmp_path / "q.h5", trust=True, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.tif", "q_trust.h5"]


def test_save_moves_the_training_folder_and_the_model_follows(model, tmp_path):
    vol = read_volume(model["in"])[0]
    rec = Recovery.from_preset("deepnet", "smoke", iterations=2, loss_mask="none")
    rec.fit(vol, vol, folder=tmp_path / "work", progress=False)
    before = rec.predict(vol)
    assert rec.save(tmp_path / "model", move=True) == tmp_path / "model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no work folder, no partial copy
    assert rec.folder == tmp_path / "model" and rec.trust == {} and rec.acquisition == {}
    np.testing.assert_array_equal(rec.predict(vol), before)
    np.testing.assert_array_equal(Recovery.load(tmp_path / "model").predict(vol), before)
    with pytest.raises(XrsrInputExists):
        rec.save(tmp_path / "model", move=True)
    assert rec.save(tmp_path / "copy") == tmp_path / "copy" and (tmp_path / "model").is_dir()  # a copy


def test_the_command_and_the_facade_read_scans_through_one_function(model, monkeypatch, capsys):
    """The command has no volume reader of its own: ``xrsr evaluate`` reads its two files through
    :func:`xrsr_lib.io.read_scan`, and so does the facade it calls."""
    from xrsr_lib.cli import commands
    from xrsr_lib.recovery import facade, scores

    assert commands.read_scan is facade.read_scan is scores.read_scan is xrsr_lib.io.read_scan is read_scan
    assert (
        not hasattr(commands, "_volume")
        and not hasattr(facade, "_scan")
        and not hasattr(facade, "_as_volume")
    )
    calls: list[tuple[str, str]] = []

    def spy(value, name, *args, **kwargs):
        calls.append((name, "file" if isinstance(value, str | Path) else "array"))
        return read_scan(value, name, *args, **kwargs)

    monkeypatch.setattr(commands, "read_scan", spy)
    monkeypatch.setattr(scores, "read_scan", spy)  # evaluate lives in recovery/scores.py
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
