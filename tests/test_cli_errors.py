"""Every error path of the ``xrsr`` command ends in one line naming the option or file and exit code 2,
and only those: bad user input is a typed :class:`~xrsr_lib.io.errors.XrsrInputError`; any other
exception (a bug) keeps its traceback."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pytest

from xrsr_lib import Recovery, write_volume
from xrsr_lib.cli import OPTIONS, build_parser, input_error_line, main
from xrsr_lib.io.errors import XrsrInputError, XrsrInputExists, XrsrInputMissing

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _fails(capsys, *argv: str) -> str:
    """The command's stderr; it must have exited with code 2 and printed exactly one line."""
    code = main(["--quiet", *argv])
    out, err = capsys.readouterr()
    assert code == 2, (code, out, err)
    assert out == "" and err.count("\n") == 1, err
    return err.strip()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """A small input volume (3 µm voxels) and a model trained for 2 steps on it (scale 1)."""
    folder = tmp_path_factory.mktemp("cli_errors")
    vol = np.random.default_rng(0).random((16, 32, 32), dtype=np.float32)
    write_volume(folder / "in.tif", vol, voxel_size_um=3.0)
    write_volume(folder / "other.tif", vol, voxel_size_um=2.0)
    rec = Recovery.from_preset("deepnet", "smoke", iterations=2, loss_mask="none")
    rec.fit(vol, vol, folder=folder / "work", progress=False).save(folder / "model")
    (folder / "empty_model").mkdir()
    return {
        "in": folder / "in.tif",
        "other": folder / "other.tif",
        "model": folder / "model",
        "empty_model": folder / "empty_model",
    }


def _predict(files, tmp_path, *extra: str, out: str = "out.tif") -> list[str]:
    return ["predict", str(files["model"]), str(files["in"]), "--out", str(tmp_path / out), *extra]


@pytest.mark.parametrize(
    ("roi", "message"),
    [
        ("1:2,3", "--roi must be z0:z1,y0:y1,x0:x1 (voxels), got '1:2,3'"),
        ("0:4,a:b,0:4", "--roi must be z0:z1,y0:y1,x0:x1 (voxels), got '0:4,a:b,0:4'"),
        ("0:99,0:4,0:4", "--roi z range 0:99 lies outside the volume (0:16)"),
        ("0:4,8:4,0:4", "--roi y range 8:4 lies outside the volume (0:32)"),
    ],
)
def test_roi_malformed_or_out_of_range(files, tmp_path, capsys, roi, message):
    assert _fails(capsys, *_predict(files, tmp_path, "--roi", roi)) == f"xrsr predict: error: {message}"


def test_workers_zero(files, tmp_path, capsys):
    err = _fails(capsys, *_predict(files, tmp_path, "--workers", "0", out="o.zarr"))
    assert err == "xrsr predict: error: --workers must be >= 1, got 0"


def test_existing_trust_file_beside_the_output(files, tmp_path, capsys):
    (tmp_path / "out_trust.tif").write_bytes(b"taken")
    err = _fails(capsys, *_predict(files, tmp_path, "--trust"))
    assert err == (
        f"xrsr predict: error: {tmp_path / 'out_trust.tif'} (the trust map beside "
        f"{tmp_path / 'out.tif'}) exists; choose a new output name or delete it"
    )
    assert not (tmp_path / "out.tif").exists()


def test_evaluate_volumes_of_different_voxel_sizes(files, capsys):
    err = _fails(capsys, "evaluate", str(files["in"]), str(files["other"]))
    assert err == (
        f"xrsr evaluate: error: {files['in']} has 3 µm voxels and {files['other']} 2 µm; resample one first"
    )


def test_a_model_folder_without_a_model(files, tmp_path, capsys):
    err = _fails(
        capsys, "predict", str(files["empty_model"]), str(files["in"]), "--out", str(tmp_path / "o.tif")
    )
    assert err == (
        f"xrsr predict: error: model folder {files['empty_model']} has no config.json (training "
        "not finished, or not an xrsr model)"
    )


def test_a_scheduler_where_nothing_listens(files, tmp_path, capsys):
    import dask

    with socket.socket() as s:  # a free port on this machine, closed again: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        err = _fails(
            capsys, *_predict(files, tmp_path, "--scheduler", f"tcp://127.0.0.1:{port}", out="o.zarr")
        )
    assert err.startswith(
        f"xrsr predict: error: --scheduler tcp://127.0.0.1:{port}: no dask scheduler answered ("
    )
    assert not (tmp_path / "o.zarr").exists() and not (tmp_path / "o.zarr.partial").exists()


def test_a_facade_keyword_is_named_by_its_option(files, tmp_path, capsys):
    """The facade raises with its keyword (``voxel_size_um``, ``block``); the command names its option."""
    assert _fails(capsys, *_predict(files, tmp_path, "--voxel", "-3")) == (
        "xrsr predict: error: --voxel must be > 0 µm, got -3.0"
    )
    err = _fails(capsys, *_predict(files, tmp_path, "--chunks", "4", "--block", "6", out="o.zarr"))
    assert err.startswith("xrsr predict: error: --block (6, 6, 6) must be a whole multiple of the chunks")


def test_a_bug_is_not_reported_as_bad_input(files, monkeypatch, capsys):
    """A plain RuntimeError or ValueError from the library (a bug, not the user's input) propagates with
    its traceback instead of becoming a one-line exit 2."""
    for error in (RuntimeError("internal failure"), ValueError("internal inconsistency")):

        def broken(*args, error=error, **kwargs):
            raise error

        monkeypatch.setattr(Recovery, "evaluate", staticmethod(broken))
        with pytest.raises(type(error), match="internal"):
            main(["--quiet", "evaluate", str(files["in"]), str(files["in"])])
        assert capsys.readouterr().err == ""


def test_the_typed_errors_keep_their_builtin_families(files, tmp_path):
    """``except FileNotFoundError`` / ``FileExistsError`` / ``ValueError`` keep catching library errors."""
    with pytest.raises(XrsrInputMissing, match="no config.json") as missing:
        Recovery.load(files["empty_model"])
    assert isinstance(missing.value, FileNotFoundError) and missing.value.parameter == "folder"
    with pytest.raises(XrsrInputExists) as exists:
        Recovery.load(files["model"]).save(files["model"])
    assert isinstance(exists.value, FileExistsError) and exists.value.parameter == "folder"
    with pytest.raises(XrsrInputError) as bad:
        Recovery.load(files["model"]).predict_to_zarr(files["in"], tmp_path / "o.zarr", voxel_size_um=-1)
    assert isinstance(bad.value, ValueError) and bad.value.parameter == "voxel_size_um"


def test_the_option_names_replace_keywords_only_where_they_stand_for_the_option():
    err = XrsrInputError(
        "/data/roi/block.tif: no voxel size in the file; give voxel_size_um", "voxel_size_um"
    )
    assert input_error_line("predict", err) == (
        "xrsr predict: error: /data/roi/block.tif: no voxel size in the file; give --voxel"
    )
    err = XrsrInputError("roi z range 0:9 lies outside /data/roi.tif (0:4)\nsecond line", "roi")
    assert (
        input_error_line("predict", err)
        == "xrsr predict: error: --roi z range 0:9 lies outside /data/roi.tif (0:4)"
    )
    assert input_error_line("train", XrsrInputError("plain", None)) == "xrsr train: error: plain"


def test_every_mapped_option_exists():
    """The keyword -> option table names options the parser has."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    options = {o for p in sub.choices.values() for a in p._actions for o in a.option_strings}
    assert set(OPTIONS.values()) <= options


def test_option_choices_come_from_the_library():
    from xrsr_lib.config import LOSS_MASKS, METHODS, PRESET_NAMES, PROFILE_NAMES
    from xrsr_lib.prepare import masks
    from xrsr_lib.train import volumes

    assert volumes.METHODS is METHODS and masks.LOSS_MASKS is LOSS_MASKS  # defined once
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    choices = {a.dest: tuple(a.choices) for p in sub.choices.values() for a in p._actions if a.choices}
    assert choices["method"] == METHODS and choices["preset"] == PRESET_NAMES
    assert choices["loss_mask"] == LOSS_MASKS and choices["profile"] == PROFILE_NAMES
    assert json.dumps(choices)  # plain strings
