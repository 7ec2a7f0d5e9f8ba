"""The ``xrsr`` command on files whose truth is known (the smoke multiscale simulation): simulate,
register, train, predict, evaluate; and every bad input with its one-line reason."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from xrsr_lib import read_volume
from xrsr_lib.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _run(capsys, *argv: str) -> tuple[int, dict | None, str]:
    code = main(["--quiet", *argv])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else None), err


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("scans")
    assert main(["--quiet", "simulate", str(folder), "--profile", "smoke"]) == 0
    return folder


def _offset(scans: Path, name: str) -> str:
    z, y, x = json.loads((scans / "poses.json").read_text())[name]["recorded"]["center_um"]
    return f"--offset={z},{y},{x}"


def test_round_trip_on_simulated_files(scans, tmp_path, capsys):
    poses = json.loads((scans / "poses.json").read_text())
    assert read_volume(scans / "lres.tif")[1]["voxel_size_um"] == pytest.approx(9.0)
    # register: voxel sizes from the TIFFs, the recorded stage position as the offset
    code, pose, _ = _run(capsys, "register", str(scans / "lres.tif"), str(scans / "mres.tif"),
                         _offset(scans, "mres"), "--out", str(tmp_path / "pose.json"))
    assert code == 0
    err = np.abs(np.asarray(pose["center_um"]) - poses["mres"]["true"]["center_um"]) / 3.0
    # (the registration's precision is tested in test_registration; here: the command finds it)
    assert err.max() < 0.5 and abs(pose["angle_deg"] - poses["mres"]["true"]["angle_deg"]) < 0.2
    # train on the registered overlap (a few steps: the plumbing)
    code, trained, _ = _run(capsys, "train", str(scans / "lres.tif"), str(scans / "mres.tif"), "--pose",
                            str(tmp_path / "pose.json"), "--preset", "smoke", "--iterations", "4",
                            "--out", str(tmp_path / "model"))
    assert code == 0 and trained["scale"] == pytest.approx(3.0)
    # predict a region of the LRES scan at 3 µm
    code, pred, _ = _run(capsys, "predict", str(tmp_path / "model"), str(scans / "lres.tif"), "--roi",
                         "10:18,12:20,14:22", "--out", str(tmp_path / "out.tif"))
    assert code == 0 and pred["shape"] == [24, 24, 24]
    vol, meta = read_volume(tmp_path / "out.tif")
    assert vol.shape == (24, 24, 24) and meta["voxel_size_um"] == pytest.approx(3.0)
    code, scores, _ = _run(capsys, "evaluate", str(tmp_path / "out.tif"), str(tmp_path / "out.tif"))
    assert code == 0 and scores["psnr"] == float("inf") and scores["ssim"] == pytest.approx(1.0)


def test_help_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "xrsr_lib.cli", "--help"], capture_output=True, text=True,
                         check=True).stdout
    for command in ("simulate", "register", "train", "predict", "evaluate"):
        assert command in out
    assert "xrsr register" in out  # the examples


def test_bad_inputs_are_one_line_errors(scans, tmp_path, capsys):
    flat = tmp_path / "flat.npy"
    np.save(flat, np.zeros((5, 6), np.float32))
    v = read_volume(scans / "mres.tif")[0].copy()
    np.save(tmp_path / "plain.npy", v)  # .npy files carry no voxel size
    v[3, 3, 3] = np.nan
    np.save(tmp_path / "nan.npy", v)
    cases = [
        (("register", str(flat), str(scans / "mres.tif"), "--lres-voxel", "9"), "must be 3-D"),
        (("register", str(tmp_path / "nan.npy"), str(scans / "mres.tif"), "--lres-voxel", "9"), "NaN"),
        (("register", str(tmp_path / "plain.npy"), str(scans / "mres.tif")),
         "no voxel size in the file; give --lres-voxel"),
        (("register", str(scans / "lres.tif"), str(scans / "missing.tif")), "no such volume file"),
        (("register", str(scans / "lres.tif"), str(scans / "mres.tif"), "--offset=0,0,900"), "no overlap"),
        (("register", str(scans / "lres.tif"), str(scans / "mres.tif"), "--offset", "1,2"), "three numbers"),
        (("register", str(scans / "mres.tif"), str(scans / "lres.tif")), "must be finer"),
        (("train", str(scans / "lres.tif"), str(scans / "mres.tif"), "--pose", str(tmp_path / "none.json"),
          "--out", str(tmp_path / "m")), "no such pose file"),
        (("evaluate", str(scans / "lres.tif"), str(scans / "mres.tif")), "differ in shape"),
    ]
    for argv, message in cases:
        code, _, err = _run(capsys, *argv)
        assert code == 2, argv
        assert message in err and err.count("\n") == 1, (argv, err)


def test_a_model_refuses_another_voxel_size_ratio(scans, tmp_path, capsys):
    assert _run(capsys, "register", str(scans / "lres.tif"), str(scans / "mres.tif"), _offset(scans, "mres"),
                "--out", str(tmp_path / "pose.json"))[0] == 0
    assert _run(capsys, "train", str(scans / "lres.tif"), str(scans / "mres.tif"), "--pose",
                str(tmp_path / "pose.json"), "--preset", "smoke", "--iterations", "2", "--out",
                str(tmp_path / "model"))[0] == 0
    code, _, err = _run(capsys, "predict", str(tmp_path / "model"), str(scans / "lres.tif"), "--scale", "9",
                        "--out", str(tmp_path / "x.tif"))
    assert code == 2 and "trained for a voxel-size ratio of 3, not 9" in err
    code, _, err = _run(capsys, "predict", str(tmp_path / "model"), str(scans / "mres.tif"), "--out",
                        str(tmp_path / "x.tif"))
    assert code == 2 and "has 3 µm voxels" in err
    assert not (tmp_path / "x.tif").exists()
    code, _, err = _run(capsys, "train", str(scans / "lres.tif"), str(scans / "mres.tif"), "--pose",
                        str(tmp_path / "pose.json"), "--preset", "smoke", "--out", str(tmp_path / "model"))
    assert code == 2 and "exists" in err
