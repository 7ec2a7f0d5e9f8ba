"""The ``xrsr`` command on the formats of docs/formats.md: ``xrsr info``, the round trip (register ->
train -> predict -> evaluate) on the smoke simulation exported as slice folders and as MetaImage, and
the bad files a new user tries, each answered by one line naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
from _cli import run_xrsr

from xrsr_lib import read_volume, write_volume
from xrsr_lib.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")


_run = run_xrsr


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> Path:
    """The smoke simulation, its pose, and the scans exported as slice folders and MetaImage."""
    folder = tmp_path_factory.mktemp("scans")
    assert main(["--quiet", "simulate", str(folder), "--profile", "smoke"]) == 0
    for name in ("lres", "mres"):
        vol, meta = read_volume(folder / f"{name}.tif")
        write_volume(folder / f"{name}_slices", vol, voxel_size_um=meta["voxel_size_um"])
        write_volume(folder / f"{name}.mhd", vol, voxel_size_um=meta["voxel_size_um"])
    return folder


@pytest.fixture(scope="module")
def model(scans, tmp_path_factory) -> Path:
    """A smoke model (2 steps) trained on the TIFFs, and its pose (``pose.json`` beside it)."""
    work = tmp_path_factory.mktemp("model")
    assert (
        main(
            [
                "--quiet",
                "register",
                str(scans / "lres.tif"),
                str(scans / "mres.tif"),
                _offset(scans),
                "--out",
                str(work / "pose.json"),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "--quiet",
                "train",
                str(scans / "lres.tif"),
                str(scans / "mres.tif"),
                "--pose",
                str(work / "pose.json"),
                "--preset",
                "smoke",
                "--iterations",
                "2",
                "--out",
                str(work / "model"),
            ]
        )
        == 0
    )
    return work / "model"


def _offset(scans: Path) -> str:
    z, y, x = json.loads((scans / "poses.json").read_text())["mres"]["recorded"]["center_um"]
    return f"--offset={z},{y},{x}"


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["slices", "mhd"])
def test_round_trip_on_exported_scans(scans, model, tmp_path, capsys, fmt):
    """register -> train -> predict -> evaluate on slice folders / .mhd: the numbers of the TIFFs."""
    lres, mres = (
        (scans / "lres_slices", scans / "mres_slices")
        if fmt == "slices"
        else (scans / "lres.mhd", scans / "mres.mhd")
    )
    code, pose, err = _run(
        capsys, "register", str(lres), str(mres), _offset(scans), "--out", str(tmp_path / "pose.json")
    )
    assert code == 0, err
    tif_pose = json.loads((model.parent / "pose.json").read_text())  # the same scans as TIFF
    assert pose["center_um"] == pytest.approx(tif_pose["center_um"], abs=1e-6)  # voxel sizes carried
    assert pose["angle_deg"] == pytest.approx(tif_pose["angle_deg"], abs=1e-6)
    code, trained, err = _run(
        capsys,
        "train",
        str(lres),
        str(mres),
        "--pose",
        str(tmp_path / "pose.json"),
        "--preset",
        "smoke",
        "--iterations",
        "2",
        "--out",
        str(tmp_path / "m"),
    )
    assert code == 0 and trained["scale"] == pytest.approx(3.0), err
    out = tmp_path / ("pred" if fmt == "slices" else "pred.mhd")
    roi = "10:16,12:18,14:20"
    code, pred, err = _run(capsys, "predict", str(tmp_path / "m"), str(lres), "--roi", roi, "--out", str(out))
    assert code == 0 and pred["shape"] == [18, 18, 18], err
    code, _, _ = _run(
        capsys,
        "predict",
        str(tmp_path / "m"),
        str(scans / "lres.tif"),
        "--roi",
        roi,
        "--out",
        str(tmp_path / "pred.tif"),
    )
    assert code == 0
    vol, meta = read_volume(out)
    assert meta["voxel_size_um"] == pytest.approx(3.0)
    np.testing.assert_array_equal(vol, read_volume(tmp_path / "pred.tif")[0])  # same input, same result
    code, scores, err = _run(capsys, "evaluate", str(out), str(tmp_path / "pred.tif"))
    assert code == 0 and scores["psnr"] == float("inf") and scores["voxel_size_um"] == pytest.approx(3.0), err
    assert not list(tmp_path.glob(".*partial*"))


def test_info_reports_format_shape_voxel_size_and_a_sample(scans, tmp_path, capsys):
    code, info, _ = _run(capsys, "info", str(scans / "lres_slices"))
    lres = read_volume(scans / "lres.tif")[0]
    assert code == 0 and info["format"] == "slices" and info["shape"] == list(lres.shape)
    assert info["voxel_size_um"] == pytest.approx(9.0) and info["dtype"] == "float32"
    assert "one file per z slice" in info["chunking"]
    zs = info["sample"]["slices"]
    assert info["sample"]["min"] == pytest.approx(float(lres[zs].min()))
    assert info["sample"]["max"] == pytest.approx(float(lres[zs].max()))
    code, info, _ = _run(capsys, "info", str(scans / "mres.mhd"))
    assert code == 0 and info["format"] == "itk" and info["voxel_size_um"] == pytest.approx(3.0)
    np.arange(60, dtype=np.uint16).tofile(tmp_path / "v.raw")
    code, info, _ = _run(
        capsys, "info", str(tmp_path / "v.raw"), "--raw-shape", "3,4,5", "--raw-dtype", "uint16"
    )
    assert code == 0 and info["shape"] == [3, 4, 5] and info["sample"]["max"] == 59
    assert info["voxel_size_um"] is None and "give --voxel" in info["voxel_note"]
    code, _, err = _run(capsys, "info", str(tmp_path / "v.raw"))
    assert code == 2 and "raw volume without a header" in err and err.count("\n") == 1


def test_bad_files_are_one_line_errors_naming_the_file(scans, model, tmp_path, capsys):
    lres, meta = read_volume(scans / "lres.tif")
    mres = read_volume(scans / "mres.tif")[0][:24, :24, :24]  # small: evaluate's scores are not the point
    tifffile.imwrite(tmp_path / "full.tif", lres, imagej=True)
    data = (tmp_path / "full.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) // 2])
    tifffile.imwrite(tmp_path / "flat.tif", lres[5])
    tifffile.imwrite(tmp_path / "bare.tif", lres)  # no voxel size
    tifffile.imwrite(tmp_path / "bare_small.tif", mres)
    write_volume(tmp_path / "small9.tif", mres, voxel_size_um=9.0)
    tifffile.imwrite(
        tmp_path / "aniso.tif",
        lres,
        imagej=True,
        resolution=(1 / 9, 1 / 9),
        metadata={"axes": "ZYX", "spacing": 18.0, "unit": "um"},
    )
    u16 = np.clip(mres * 60000, 0, 65535).astype(np.uint16)
    write_volume(tmp_path / "mres.tif", mres, voxel_size_um=3.0)
    tifffile.imwrite(
        tmp_path / "u16.tif",
        u16,
        imagej=True,
        resolution=(1 / 3, 1 / 3),
        metadata={"axes": "ZYX", "spacing": 3.0, "unit": "um"},
    )
    predict = ("predict", str(model))
    cases = [
        ((*predict, str(tmp_path / "cut.tif"), "--out", str(tmp_path / "o1.zarr")), "cut.tif is truncated"),
        ((*predict, str(tmp_path / "cut.tif"), "--out", str(tmp_path / "o1.tif")), "cut.tif is truncated"),
        (("evaluate", str(tmp_path / "cut.tif"), str(scans / "lres.tif")), "cut.tif is truncated"),
        (
            (*predict, str(tmp_path / "flat.tif"), "--out", str(tmp_path / "o2.zarr")),
            "flat.tif is a 2-D image; a volume is needed",
        ),
        (
            ("register", str(tmp_path / "flat.tif"), str(scans / "mres.tif")),
            "flat.tif is a 2-D image; a volume is needed",
        ),
        (
            (*predict, str(tmp_path / "bare.tif"), "--out", str(tmp_path / "o3.zarr")),
            "bare.tif: no voxel size in the file; give --voxel",
        ),
        (
            ("evaluate", str(tmp_path / "bare_small.tif"), str(tmp_path / "small9.tif")),
            "bare_small.tif: no voxel size in the file; give --voxel",
        ),
        (
            (*predict, str(tmp_path / "aniso.tif"), "--out", str(tmp_path / "o4.zarr")),
            "aniso.tif has anisotropic voxels 18 x 9 x 9 µm (z, y, x)",
        ),
        (
            (*predict, str(tmp_path / "aniso.tif"), "--voxel", "9", "--out", str(tmp_path / "o4.zarr")),
            "aniso.tif has anisotropic voxels 18 x 9 x 9 µm (z, y, x)",
        ),
        (("evaluate", str(tmp_path / "aniso.tif"), str(scans / "lres.tif")), "anisotropic voxels 18 x 9 x 9"),
        (
            (*predict, str(scans / "mres.tif"), "--out", str(tmp_path / "o5.zarr")),
            f"{scans / 'mres.tif'} has 3 µm voxels",
        ),
        (
            ("evaluate", str(tmp_path / "u16.tif"), str(tmp_path / "mres.tif")),
            "u16.tif holds uint16 values up to",
        ),
    ]
    for argv, message in cases:
        code, _, err = _run(capsys, *argv)
        assert code == 2, (argv, err)
        assert message in err and err.count("\n") == 1, (argv, err)
        assert "LazyVolume(" not in err and "PosixPath" not in err, err
    # the uint16 result on its own scale: compared only when the range is stated
    code, scores, err = _run(
        capsys, "evaluate", str(tmp_path / "u16.tif"), str(tmp_path / "mres.tif"), "--data-range", "65535"
    )
    assert code == 0 and scores["data_range"] == 65535, err
    code, scores, _ = _run(
        capsys, "evaluate", str(tmp_path / "bare_small.tif"), str(tmp_path / "small9.tif"), "--voxel", "9"
    )
    assert code == 0 and scores["psnr"] == float("inf")  # the same values: the given size is used
    assert sorted(p.name for p in tmp_path.iterdir() if "o" == p.name[0] and p.name[1].isdigit()) == []
    assert not list(tmp_path.glob(".*partial*"))
