"""The trust map on scans built to differ from its calibration, at smoke size
(``scripts/validate_trust_domain.py``): a model calibrated on a 3 µm pair judges another piece of
the same foam scanned alike "like the calibration", and its intervals cover that piece's own fine
scan at the nominal 90 % within sampling error; blur, noise and gain it was not calibrated on are
"not like", the feature that moved named."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from xrsr_lib.evaluate.trust.maps import BlockTrust

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REPO = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location(
        "validate_trust_domain", REPO / "scripts" / "validate_trust_domain.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


V = _script()
SIZE = V.SIZES["smoke"]


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    """The smoke model (48³ foam, 3 µm -> 1 µm, a few iterations), calibrated on its last 16 slices."""
    return V.train_and_calibrate(SIZE, tmp_path_factory.mktemp("trust_validation") / "model")


def _blocks_coverage(hit: np.ndarray, block: int) -> np.ndarray:
    n = [s // block for s in hit.shape]
    h = hit[: n[0] * block, : n[1] * block, : n[2] * block]
    return h.reshape(n[0], block, n[1], block, n[2], block).mean(axis=(1, 3, 5)).ravel()


@pytest.mark.slow
def test_a_like_scan_is_like_and_covered_on_its_own_fine_scan(calibrated):
    """Another realization scanned alike: the verdict is "like", and the 90 % intervals cover its own
    1 µm scan within sampling error: voxels are correlated, so the error is taken from blocks (8³,
    wider than the errors' correlation, a few voxels):
    the spread of the block coverages of the target and of the calibration slab, combined."""
    x, ref = V.case_input(1, SIZE.n, {})
    tp = calibrated.predict(x, trust=True)
    assert tp.verdict is not None and tp.verdict.like, str(tp.verdict)
    hit = np.abs(tp.prediction - ref) <= tp.halfwidth
    coverage = float(hit.mean())
    target_blocks = _blocks_coverage(hit, 8)
    # the calibration side: the rule applied to its own slab, block by block
    record = calibrated.trust
    z0, z1 = record["calibration"]["slices"]
    truth = V.phantom(0, SIZE.n)
    xc = V.scan(truth, V.BASE_SIGMA_UM, V.BASE_NOISE, 1.0, 100)
    yc = V.reference(truth, 200)
    cal = calibrated.predict(xc, trust=True)
    cal_hit = (np.abs(cal.prediction - yc) <= cal.halfwidth)[z0:z1]
    cal_blocks = _blocks_coverage(cal_hit, 8)
    sd = math.sqrt(target_blocks.var(ddof=1) / len(target_blocks) + cal_blocks.var(ddof=1) / len(cal_blocks))
    assert 3 * sd < 0.06  # the check has teeth: a 6-point miss would fail
    print(f"coverage {coverage:.4f}, sd {sd:.4f}")
    assert abs(coverage - 0.9) <= 3 * sd, (coverage, sd)
    assert tp.halfwidth.shape == x.shape and (tp.halfwidth > 0).all()
    assert tp.summary()["verdict"]["like"] is True


@pytest.mark.parametrize("name", ["blur 5 µm", "blur 9 µm", "noise 2x", "gain 0.6", "gain 1.6"])
def test_blur_noise_and_gain_are_flagged(calibrated, name):
    """The domain check needs no prediction: the input's block features against the calibration's."""
    trust = BlockTrust(calibrated.trust)
    x, _ = V.case_input(1, SIZE.n, V.CASES[name])
    verdict = trust.domain.verdict(trust.features(x), trust.domain_config)
    assert not verdict.like, str(verdict)
    expect = {
        "blur": ("std", "gradient", "edge_width", "hf_fraction"),
        "noise": ("noise",),
        "gain": ("mean", "noise"),
    }[name.split()[0]]
    assert set(verdict.moved) & set(expect), str(verdict)
    like, _ = V.case_input(1, SIZE.n, {})
    assert trust.domain.out_of_domain(trust.features(x)).mean() > 3 * max(
        trust.domain.out_of_domain(trust.features(like)).mean(), trust.domain.expected_fraction
    )


def test_a_like_scan_is_not_flagged_block_by_block(calibrated):
    trust = BlockTrust(calibrated.trust)
    for seed in (1, 2, 3):
        x, _ = V.case_input(seed, SIZE.n, {})
        verdict = trust.domain.verdict(trust.features(x), trust.domain_config)
        assert verdict.like, (seed, str(verdict))


@pytest.mark.slow
def test_predict_trust_prints_and_records_the_verdict(calibrated, tmp_path, capsys):
    """``xrsr predict --trust`` of a scan at gain 1.6: the one-line verdict on stderr, the same verdict in
    the printed result and in the trust image's attributes, equal to the in-memory one (blocks of 16
    on the same grid)."""
    import json

    from xrsr_lib.cli import main
    from xrsr_lib.io.lazy import open_volume

    x, _ = V.case_input(1, SIZE.n, V.CASES["gain 1.6"])
    np.save(tmp_path / "gain.npy", x)
    code = main(
        [
            "--quiet",
            "predict",
            str(calibrated.folder),
            str(tmp_path / "gain.npy"),
            "--out",
            str(tmp_path / "g.zarr"),
            "--trust",
            "--voxel",
            "1",
            "--chunks",
            "16",
            "--block",
            "16",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    info = json.loads(out)
    verdict = info["trust"]["verdict"]
    assert verdict["like"] is False and "mean" in verdict["moved"]
    assert err.strip() == f"xrsr predict: trust: the input is {verdict['verdict']}"
    assert err.count("\n") == 1 and "not like the calibration" in err
    assert open_volume(tmp_path / "g.zarr" / "trust").metadata["xrsr"]["verdict"] == verdict
    trust = BlockTrust(calibrated.trust)
    assert trust.domain.verdict(trust.features(x), trust.domain_config).to_dict() == verdict
