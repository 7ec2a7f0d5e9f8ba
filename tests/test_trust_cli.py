"""Trust maps through the public API and ``xrsr``: calibration on held-out slices when training on two
scans (``train --calibrate``), the trust image beside a block-wise prediction (``predict --trust``),
equal to a whole-volume computation, and the refusal of a model trained without calibration."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from xrsr_lib import Recovery, read_volume
from xrsr_lib.cli import main
from xrsr_lib.evaluate.trust.maps import BlockTrust, score_maps
from xrsr_lib.infer.chunked import predict_to_zarr
from xrsr_lib.infer.loaded import LoadedModel
from xrsr_lib.io.lazy import open_volume
from xrsr_lib.io.omezarr import open_zarr

pytestmark = pytest.mark.usefixtures("one_torch_thread")

COVERAGE = 0.9  # the default of xrsr train --calibrate


def _run(capsys, *argv: str) -> tuple[int, dict | None, str]:
    code = main(["--quiet", *argv])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else None), err


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    """The smoke scans, a DeepNet trained on 9 µm -> 3 µm with a quarter of the 3 µm slices held out
    for calibration (at the simulation's true pose: registration is tested in test_cli), and a copy
    of it without the calibration."""
    folder = tmp_path_factory.mktemp("trust")
    scans = folder / "scans"
    assert main(["--quiet", "simulate", str(scans), "--profile", "smoke"]) == 0
    poses = json.loads((scans / "poses.json").read_text())
    (folder / "pose.json").write_text(
        json.dumps({**poses["mres"]["true"], "lres_voxel_um": 9.0, "hres_voxel_um": 3.0})
    )
    argv = [
        "--quiet",
        "train",
        str(scans / "lres.tif"),
        str(scans / "mres.tif"),
        "--pose",
        str(folder / "pose.json"),
        "--preset",
        "smoke",
        "--iterations",
        "4",
        "--loss-mask",
        "none",
        "--calibrate",
        "0.25",
        "--out",
        str(folder / "model"),
    ]
    assert main(argv) == 0
    shutil.copytree(folder / "model", folder / "uncalibrated")
    (folder / "uncalibrated" / "trust.json").unlink()
    return {"scans": scans, "model": folder / "model", "uncalibrated": folder / "uncalibrated"}


def test_training_with_calibration_writes_the_trust_record(trained):
    trust = json.loads((trained["model"] / "trust.json").read_text())
    assert Recovery.load(trained["model"]).trust == trust
    assert trust["score"] == "tta" and trust["coverage"] == pytest.approx(COVERAGE)
    assert trust["tta_transforms"] == 8 and trust["smooth_voxels"] == pytest.approx(1.0)
    nz = read_volume(trained["scans"] / "mres.tif")[0].shape[0]  # 64 slices: the last 16 calibrate
    assert trust["calibration"]["slices"] == [nz - 16, nz] and trust["calibration"]["voxels"] > 10_000
    # 9 µm seen at 3 µm: a blur of the 3 µm scan of about one 9 µm voxel (3 of these)
    assert 0.5 < trust["blur_sigma_voxels"] < 4
    for name in ("tta", "consistency"):
        rule = trust["rules"][name]
        assert rule["quantile"] > 0 and rule["n_calibration"] == trust["calibration"]["voxels"]
        # on the calibration voxels themselves the coverage is at least nominal by construction
        assert trust["calibration"]["coverage_check"][name] >= COVERAGE - 0.02
    assert trust["domain"]["n_blocks"] >= 4 and trust["domain_block"] == 16
    # the held-out slab and the gap before it were never in the loss
    config = json.loads((trained["model"] / "config.json").read_text())
    assert config["mask_voxels"] <= (nz - 16 - 8) * 64 * 64


def test_predict_with_trust_writes_the_trust_image(trained, tmp_path, capsys):
    model, lres = str(trained["model"]), str(trained["scans"] / "lres.tif")
    common = ("--roi", "10:30,10:30,10:30", "--chunks", "32", "--block", "32")
    code, info, _ = _run(
        capsys, "predict", model, lres, "--out", str(tmp_path / "t.zarr"), "--trust", *common
    )
    assert code == 0
    assert info["trust"]["coverage"] == pytest.approx(COVERAGE) and info["trust"]["score"] == "tta"
    assert 0 <= info["trust"]["out_of_domain_fraction"] <= 1
    code, plain, _ = _run(capsys, "predict", model, lres, "--out", str(tmp_path / "p.zarr"), *common)
    assert code == 0 and "trust" not in plain
    pred, _ = read_volume(tmp_path / "t.zarr")
    # the prediction is the plain one (the identity transform of the augmentation; a wider halo)
    np.testing.assert_allclose(pred, read_volume(tmp_path / "p.zarr")[0], rtol=0, atol=1e-6)
    trust = open_volume(tmp_path / "t.zarr" / "trust")
    halfwidth = trust.read()
    assert halfwidth.shape == pred.shape == (60, 60, 60)
    assert np.isfinite(halfwidth).all() and (halfwidth >= 0).all() and halfwidth.max() > 0
    meta = trust.metadata
    assert meta["voxel_size_um"] == pytest.approx(3.0) and meta["levels"] >= 2
    assert meta["xrsr"]["coverage"] == pytest.approx(COVERAGE) and meta["xrsr"]["score"] == "tta"
    rows = meta["xrsr"]["out_of_domain_blocks"]
    assert len(rows) == 8 and all(0 <= r[3] <= 1 for r in rows)  # 2 x 2 x 2 blocks of 32
    assert not (tmp_path / "p.zarr" / "trust").exists()
    # a file output: the trust map beside it
    code, small, _ = _run(
        capsys,
        "predict",
        model,
        lres,
        "--roi",
        "10:18,12:20,14:22",
        "--out",
        str(tmp_path / "r.tif"),
        "--trust",
    )
    assert code == 0 and small["trust"]["image"] == str(tmp_path / "r_trust.tif")
    beside, meta = read_volume(tmp_path / "r_trust.tif")
    assert beside.shape == (24, 24, 24) and meta["voxel_size_um"] == pytest.approx(3.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.zarr", "r.tif", "r_trust.tif", "t.zarr"]


def test_trust_needs_a_calibrated_model(trained, tmp_path, capsys):
    code, _, err = _run(
        capsys,
        "predict",
        str(trained["uncalibrated"]),
        str(trained["scans"] / "lres.tif"),
        "--roi",
        "10:14,10:14,10:14",
        "--out",
        str(tmp_path / "o.zarr"),
        "--trust",
    )
    assert code == 2 and err.count("\n") == 1
    assert str(trained["uncalibrated"]) in err and "trained without calibration" in err
    assert "--calibrate" in err
    assert not (tmp_path / "o.zarr").exists() and not (tmp_path / "o.zarr.partial").exists()


@pytest.mark.parametrize("score", ["tta", "consistency"])
def test_block_wise_trust_equals_one_whole_volume_pass(trained, tmp_path, score):
    """At scale 1, blocks with the score's extra context give the whole volume's half-widths."""
    x = read_volume(trained["scans"] / "mres.tif")[0][:24, :64, :64]
    np.save(tmp_path / "in.npy", x)
    model = LoadedModel.load(trained["model"])
    trust = BlockTrust(json.loads((trained["model"] / "trust.json").read_text()), score)
    p, maps = score_maps(
        lambda v: model.predict(v, tile=max(v.shape)), x, (score,), trust.record["blur_sigma_voxels"]
    )
    res = predict_to_zarr(
        trained["model"],
        tmp_path / "in.npy",
        tmp_path / "b.zarr",
        voxel_size_um=3.0,
        chunks=(8, 32, 32),
        block=(8, 32, 32),
        progress=False,
        trust=trust,
    )
    assert res["blocks"] == 12 and res["trust"]["score"] == score
    halfwidth = open_zarr(tmp_path / "b.zarr" / "trust")[0][...]
    whole = trust.rule.halfwidth(maps[score])
    np.testing.assert_allclose(halfwidth, whole, rtol=0, atol=1e-5 * whole.max())
    np.testing.assert_allclose(open_zarr(tmp_path / "b.zarr")[0][...], p, rtol=0, atol=2e-6 * np.abs(p).max())


def test_an_interrupted_trust_prediction_resumes_only_as_one(trained, tmp_path, monkeypatch):
    """The trust record is part of the job: a run with it resumes with it, and its blocks' domain counts."""
    import xrsr_lib.infer.chunked as chunked

    trust = BlockTrust(json.loads((trained["model"] / "trust.json").read_text()))
    kwargs = {
        "scale": 3,
        "roi": (slice(10, 18),) * 3,
        "chunks": (8, 24, 24),
        "block": (8, 24, 24),
        "progress": False,
    }
    out, real, calls = tmp_path / "a.zarr", chunked.run_block, {"n": 0}

    def dies_after_one(job, region):
        if calls["n"] == 1:
            raise KeyboardInterrupt
        calls["n"] += 1
        return real(job, region)

    monkeypatch.setattr(chunked, "run_block", dies_after_one)
    with pytest.raises(KeyboardInterrupt):
        predict_to_zarr(trained["model"], trained["scans"] / "lres.tif", out, trust=trust, **kwargs)
    monkeypatch.setattr(chunked, "run_block", real)
    with pytest.raises(ValueError, match="unfinished prediction with other settings"):
        predict_to_zarr(trained["model"], trained["scans"] / "lres.tif", out, **kwargs)
    res = predict_to_zarr(trained["model"], trained["scans"] / "lres.tif", out, trust=trust, **kwargs)
    straight = predict_to_zarr(
        trained["model"], trained["scans"] / "lres.tif", tmp_path / "b.zarr", trust=trust, **kwargs
    )
    assert res["blocks"] == 3 and res["blocks_resumed"] == 1
    assert res["trust"] == {**straight["trust"], "image": str(out / "trust")}
    a, meta_a = open_zarr(out / "trust")
    b, meta_b = open_zarr(tmp_path / "b.zarr" / "trust")
    np.testing.assert_array_equal(a[...], b[...])
    assert meta_a["xrsr"]["out_of_domain_blocks"] == meta_b["xrsr"]["out_of_domain_blocks"]


@pytest.mark.parametrize(
    ("fraction", "message"), [("1.5", "--calibrate must lie in [0, 1)"), ("0.95", "use a smaller fraction")]
)
def test_a_bad_calibration_fraction_is_a_one_line_error(trained, tmp_path, capsys, fraction, message):
    folder, scans = trained["model"].parent, trained["scans"]
    code, _, err = _run(
        capsys,
        "train",
        str(scans / "lres.tif"),
        str(scans / "mres.tif"),
        "--pose",
        str(folder / "pose.json"),
        "--preset",
        "smoke",
        "--iterations",
        "2",
        "--calibrate",
        fraction,
        "--out",
        str(tmp_path / "m"),
    )
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == []  # no model folder, no partial one
