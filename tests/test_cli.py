"""The ``xrsr`` command on files whose truth is known (the smoke multiscale simulation): simulate,
register, train, predict, evaluate; and every bad input with its one-line reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _cli import run_xrsr

from xrsr_lib import read_volume
from xrsr_lib.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")


_run = run_xrsr


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
    code, pose, _ = _run(
        capsys,
        "register",
        str(scans / "lres.tif"),
        str(scans / "mres.tif"),
        _offset(scans, "mres"),
        "--out",
        str(tmp_path / "pose.json"),
    )
    assert code == 0
    err = np.abs(np.asarray(pose["center_um"]) - poses["mres"]["true"]["center_um"]) / 3.0
    # (the registration's precision is tested in test_registration; here: the command finds it)
    assert err.max() < 0.5 and abs(pose["angle_deg"] - poses["mres"]["true"]["angle_deg"]) < 0.2
    # train on the registered overlap (a few steps: the plumbing)
    code, trained, _ = _run(
        capsys,
        "train",
        str(scans / "lres.tif"),
        str(scans / "mres.tif"),
        "--pose",
        str(tmp_path / "pose.json"),
        "--preset",
        "smoke",
        "--iterations",
        "4",
        "--loss-mask",
        "none",
        "--out",
        str(tmp_path / "model"),
    )
    assert code == 0 and trained["scale"] == pytest.approx(3.0)
    assert (
        json.loads((tmp_path / "model" / "config.json").read_text())["settings"]["training"]["loss_mask"]
        == "none"
    )
    # predict a region of the LRES scan at 3 µm
    code, pred, _ = _run(
        capsys,
        "predict",
        str(tmp_path / "model"),
        str(scans / "lres.tif"),
        "--roi",
        "10:18,12:20,14:22",
        "--out",
        str(tmp_path / "out.tif"),
    )
    assert code == 0 and pred["shape"] == [24, 24, 24]
    vol, meta = read_volume(tmp_path / "out.tif")
    assert vol.shape == (24, 24, 24) and meta["voxel_size_um"] == pytest.approx(3.0)
    code, scores, _ = _run(capsys, "evaluate", str(tmp_path / "out.tif"), str(tmp_path / "out.tif"))
    assert code == 0 and scores["psnr"] == float("inf") and scores["ssim"] == pytest.approx(1.0)
    assert scores["ms_ssim"] == pytest.approx(1.0)
    assert scores["effective_blur_um"] == pytest.approx(0, abs=0.3)
    # the whole LRES scan out of core into OME-Zarr, on 2 dask workers: the same numbers as the region
    environment = dict(os.environ)
    code, lfov, _ = _run(
        capsys,
        "predict",
        str(tmp_path / "model"),
        str(scans / "lres.tif"),
        "--out",
        str(tmp_path / "lfov.zarr"),
        "--chunks",
        "24",
        "--workers",
        "2",
    )
    assert code == 0 and lfov["voxel_size_um"] == pytest.approx(3.0) and lfov["levels"] >= 2
    assert dict(os.environ) == environment  # dask's OMP_NUM_THREADS=1 for its workers is not left behind
    arr, meta = read_volume(tmp_path / "lfov.zarr")
    assert meta["voxel_size_um"] == pytest.approx(3.0) and "predict" in meta["xrsr"]["command"]
    # the region's prediction, computed with its context, is the same region of the whole-volume one
    # (to float rounding: the region starts at 30, 36, 42, off the U-Net's pooling grid of 4)
    np.testing.assert_allclose(arr[30:54, 36:60, 42:66], vol, atol=1e-4 * np.abs(vol).max())


def test_evaluate_scores_pores_against_the_truth(scans, tmp_path, capsys):
    """A blurred copy of the 1 µm scan against itself: worse on every score, blur found, pores counted."""
    from scipy.ndimage import gaussian_filter

    from xrsr_lib import write_volume

    ref, meta = read_volume(scans / "hres.tif")
    write_volume(tmp_path / "blurred.tif", gaussian_filter(ref, 1.5), voxel_size_um=meta["voxel_size_um"])
    code, s, _ = _run(capsys, "evaluate", str(tmp_path / "blurred.tif"), str(scans / "hres.tif"), "--pores")
    assert code == 0
    assert s["psnr"] < 40 and s["ssim"] < 0.99 and s["ms_ssim"] < 0.999
    assert s["effective_blur_voxels"] == pytest.approx(1.5, abs=0.3)  # the known blur, found by the fit
    assert s["effective_blur_um"] == pytest.approx(s["effective_blur_voxels"] * meta["voxel_size_um"])
    assert s["pores"]["reference"]["n_pores"] > 0
    assert 0 < s["pores"]["result"]["porosity"] < 1


def test_help_lists_every_command():
    out = subprocess.run(
        [sys.executable, "-m", "xrsr_lib.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
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
        (
            ("register", str(tmp_path / "plain.npy"), str(scans / "mres.tif")),
            "no voxel size in the file; give --lres-voxel",
        ),
        (("register", str(scans / "lres.tif"), str(scans / "missing.tif")), "no such volume file"),
        (("register", str(scans / "lres.tif"), str(scans / "mres.tif"), "--offset=0,0,900"), "no overlap"),
        (("register", str(scans / "lres.tif"), str(scans / "mres.tif"), "--offset", "1,2"), "three numbers"),
        (("register", str(scans / "mres.tif"), str(scans / "lres.tif")), "must be finer"),
        (
            (
                "train",
                str(scans / "lres.tif"),
                str(scans / "mres.tif"),
                "--pose",
                str(tmp_path / "none.json"),
                "--out",
                str(tmp_path / "m"),
            ),
            "no such pose file",
        ),
        (("evaluate", str(scans / "lres.tif"), str(scans / "mres.tif")), "differ in shape"),
        (
            (
                "predict",
                str(tmp_path / "no_model"),
                str(scans / "lres.tif"),
                "--out",
                str(tmp_path / "o.zarr"),
            ),
            "no such model folder",
        ),
        (("register", str(scans / "lres.tif"), str(scans / "mres.tif"), "--lres-voxel", "-9"), "must be > 0"),
    ]
    for argv, message in cases:
        code, _, err = _run(capsys, *argv)
        assert code == 2, argv
        assert message in err and err.count("\n") == 1, (argv, err)


def test_a_model_refuses_another_voxel_size_ratio(scans, tmp_path, capsys):
    assert (
        _run(
            capsys,
            "register",
            str(scans / "lres.tif"),
            str(scans / "mres.tif"),
            _offset(scans, "mres"),
            "--out",
            str(tmp_path / "pose.json"),
        )[0]
        == 0
    )
    assert (
        _run(
            capsys,
            "train",
            str(scans / "lres.tif"),
            str(scans / "mres.tif"),
            "--pose",
            str(tmp_path / "pose.json"),
            "--preset",
            "smoke",
            "--iterations",
            "2",
            "--out",
            str(tmp_path / "model"),
        )[0]
        == 0
    )
    code, _, err = _run(
        capsys,
        "predict",
        str(tmp_path / "model"),
        str(scans / "lres.tif"),
        "--scale",
        "9",
        "--out",
        str(tmp_path / "x.tif"),
    )
    assert code == 2 and "trained for a voxel-size ratio of 3, not 9" in err
    code, _, err = _run(
        capsys, "predict", str(tmp_path / "model"), str(scans / "mres.tif"), "--out", str(tmp_path / "x.tif")
    )
    assert code == 2 and "has 3 µm voxels" in err
    code, _, err = _run(
        capsys,
        "predict",
        str(tmp_path / "model"),
        str(scans / "lres.tif"),
        "--voxel",
        "-9",
        "--out",
        str(tmp_path / "x.tif"),
    )
    assert code == 2 and "--voxel must be > 0" in err, err
    assert not (tmp_path / "x.tif").exists()
    # without --loss-mask the preset's field-of-view circle is kept (a real interior scan's cylinder)
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["settings"]["training"]["loss_mask"] == "fov_circle"
    code, _, err = _run(
        capsys,
        "train",
        str(scans / "lres.tif"),
        str(scans / "mres.tif"),
        "--pose",
        str(tmp_path / "pose.json"),
        "--preset",
        "smoke",
        "--out",
        str(tmp_path / "model"),
    )
    assert code == 2 and "exists" in err
    # the HRES field of view outside the LRES volume: a pose 5 mm away
    pose = json.loads((tmp_path / "pose.json").read_text())
    (tmp_path / "far.json").write_text(json.dumps({**pose, "center_um": [5000.0, 0.0, 0.0]}))
    code, _, err = _run(
        capsys,
        "train",
        str(scans / "lres.tif"),
        str(scans / "mres.tif"),
        "--pose",
        str(tmp_path / "far.json"),
        "--preset",
        "smoke",
        "--out",
        str(tmp_path / "m2"),
    )
    assert code == 2 and "lies mostly outside" in err and not (tmp_path / "m2").exists()
    # bad chunking, an existing output, an unknown output format
    for extra, message in [
        (("--chunks", "0"), "--chunks must be"),
        (("--block", "5", "--chunks", "4"), "whole multiple of the chunks"),
    ]:
        code, _, err = _run(
            capsys,
            "predict",
            str(tmp_path / "model"),
            str(scans / "lres.tif"),
            "--out",
            str(tmp_path / "p.zarr"),
            *extra,
        )
        assert code == 2 and message in err and err.count("\n") == 1, err
    code, _, err = _run(
        capsys, "predict", str(tmp_path / "model"), str(scans / "lres.tif"), "--out", str(tmp_path / "p.png")
    )
    assert code == 2 and "unknown volume format" in err
    (tmp_path / "taken.zarr").mkdir()
    code, _, err = _run(
        capsys,
        "predict",
        str(tmp_path / "model"),
        str(scans / "lres.tif"),
        "--out",
        str(tmp_path / "taken.zarr"),
    )
    assert code == 2 and "exists" in err
    assert not (tmp_path / "p.zarr").exists() and not (tmp_path / "p.zarr.partial").exists()


def test_train_data_parallel_under_torchrun(scans, tmp_path, capsys):
    """``torchrun --nproc_per_node 2 xrsr train ...``: two gloo ranks train one model, rank 0 writes it."""
    import os

    assert (
        _run(
            capsys,
            "register",
            str(scans / "lres.tif"),
            str(scans / "mres.tif"),
            _offset(scans, "mres"),
            "--out",
            str(tmp_path / "pose.json"),
        )[0]
        == 0
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "xrsr_lib.cli",
        "--quiet",
        "train",
        str(scans / "lres.tif"),
        str(scans / "mres.tif"),
        "--pose",
        str(tmp_path / "pose.json"),
        "--preset",
        "smoke",
        "--iterations",
        "3",
        "--batch-size",
        "2",
        "--out",
        str(tmp_path / "model"),
    ]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout)  # one JSON document: only rank 0 prints
    assert result["processes"] == 2 and result["scale"] == pytest.approx(3.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "pose.json"]  # no work folder left
    loss = (tmp_path / "model" / "loss.csv").read_text().splitlines()
    assert len(loss) == 4  # header + 3 steps, written once
    code, pred, _ = _run(
        capsys,
        "predict",
        str(tmp_path / "model"),
        str(scans / "lres.tif"),
        "--roi",
        "10:14,10:14,10:14",
        "--out",
        str(tmp_path / "p.npy"),
    )
    assert code == 0 and pred["shape"] == [12, 12, 12]


def _doc_pages() -> list[Path]:
    """README.md, CONTRIBUTING.md and every Markdown page of the docs site."""
    root = Path(__file__).resolve().parents[1]
    pages = [root / "README.md", root / "CONTRIBUTING.md", *sorted((root / "docs").rglob("*.md"))]
    return [p for p in pages if p.exists()]


def _shell_blocks(text: str) -> list[str]:
    """The fenced ``bash`` / ``sh`` / ``console`` / ``shell`` code blocks of a Markdown page."""
    import re

    return re.findall(r"^```(?:bash|sh|shell|console)[^\n]*\n(.*?)^```", text, flags=re.M | re.S)


def _doc_commands(page: Path) -> list[list[str]]:
    """The ``xrsr`` (and ``torchrun ... xrsr``) command lines of a page's shell blocks, as argv lists."""
    import shlex

    commands = []
    for block in _shell_blocks(page.read_text()):
        for line in block.replace("\\\n", " ").splitlines():  # continuation lines joined
            line = line.split(" # ")[0].strip().removeprefix("$ ")
            if line.startswith("torchrun "):
                line = "xrsr " + line.split("$(which xrsr)", 1)[1]
            if line.startswith("xrsr "):
                commands.append(shlex.split(line)[1:])
    return commands


def _readme_commands() -> list[list[str]]:
    """The ``xrsr`` command lines of README.md's shell blocks."""
    return _doc_commands(Path(__file__).resolve().parents[1] / "README.md")


def test_the_readme_commands_are_what_xrsr_accepts():
    from xrsr_lib.cli import build_parser

    commands = _readme_commands()
    names = {c[0] for c in commands if not c[0].startswith("-")} | {c[1] for c in commands if c[0] == "-q"}
    assert names >= {"simulate", "register", "train", "predict", "evaluate"}
    for argv in commands:
        build_parser().parse_args(argv)  # SystemExit (a failed test) on an option xrsr does not have


@pytest.mark.parametrize("page", _doc_pages(), ids=lambda p: p.name)
def test_every_documented_command_is_what_xrsr_accepts(page):
    """Every ``xrsr`` line in a shell block of README and the docs parses (a renamed or removed option
    fails here, not in a reader's terminal)."""
    from xrsr_lib.cli import build_parser

    for argv in _doc_commands(page):
        try:
            build_parser().parse_args(argv)
        except SystemExit:
            pytest.fail(f"{page.name}: `xrsr {' '.join(argv)}` is not accepted by the xrsr parser")


def test_the_docs_show_every_command():
    """Together, README and the docs show each sub-command at least once; the own-data page shows the
    whole session (simulate, register, train, predict, evaluate) and a DDP run."""
    from xrsr_lib.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    shown = {next(a for a in c if not a.startswith("-")) for p in _doc_pages() for c in _doc_commands(p)}
    assert shown >= set(sub.choices)
    own = Path(__file__).resolve().parents[1] / "docs" / "own-data.md"
    text = own.read_text()
    assert "torchrun " in text and len(_doc_commands(own)) >= 8
