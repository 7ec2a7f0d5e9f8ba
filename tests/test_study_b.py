"""Study B orchestration and scores: settings per profile, cached splits and models, the
ablation variants, the image scores, pooled segmentation scores and the example-crop window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.ndimage import gaussian_filter

from xrsr_lib.config import PROFILE_NAMES, STUDY_B_MODELS, StudyBConfig, load_profile
from xrsr_lib.evaluate.sr_scores import SR_SCORES, sr_image_scores
from xrsr_lib.io.cache import Cache
from xrsr_lib.models import build_model
from xrsr_lib.simulate.nanoct import bicubic_upsample, simulate_crack_slice
from xrsr_lib.studies.study_b.evaluation import StudyBEvaluation, pooled_scores
from xrsr_lib.studies.study_b.methods import StudyB, crack_rich_window

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> StudyB:
    cache = Cache(tmp_path_factory.mktemp("cache"))
    return StudyB(load_profile("smoke"), cache, device="cpu", progress=False)


# --------------------------------------------------------------------------- settings
@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_every_profile_builds_its_networks(name: str) -> None:
    b = load_profile(name).study_b
    assert set(b.models) == set(STUDY_B_MODELS)
    for net, fields in b.models.items():
        for s in b.scales:
            assert build_model(net, {**fields, "scale": s}).config.scale == s


def test_study_b_config_rejects_bad_settings() -> None:
    good = load_profile("smoke").study_b.model_dump()
    with pytest.raises(ValueError, match="scales"):
        StudyBConfig(**{**good, "scales": (3,)})
    with pytest.raises(ValueError, match="models must configure"):
        StudyBConfig(**{**good, "models": {"utsr": {}}})
    with pytest.raises(ValueError, match="must not set 'scale'"):
        StudyBConfig(**{**good, "models": {**good["models"], "utsr": {"scale": 2}}})
    with pytest.raises(ValueError, match="finetune.patch"):
        StudyBConfig(**{**good, "finetune": {**good["finetune"], "patch": 100}})
    with pytest.raises(ValueError, match="ablation_scale"):
        StudyBConfig(**{**good, "scales": (2,)})
    with pytest.raises(ValueError, match="NIQE"):
        StudyBConfig(**{**good, "slice": {**good["slice"], "size": 128}, "example_crop_px": 64})


# --------------------------------------------------------------------------- orchestration
def test_splits_are_cached_and_distinct(study: StudyB) -> None:
    train = study.load_split("train", 2)
    again = study.load_split("train", 2)
    test = study.load_split("test", 2)
    n = study.config.slice.size
    assert train["hr"].shape == (study.config.n_train, n, n) and train["lr"].shape[1:] == (n // 2, n // 2)
    np.testing.assert_array_equal(train["lr"], again["lr"])
    assert not np.allclose(train["hr"][0], test["hr"][0])
    assert 15 < study.bicubic_validation_psnr(4) < study.bicubic_validation_psnr(2) < 40
    with pytest.raises(ValueError, match="unknown split"):
        study.split("holdout", 2)
    with pytest.raises(ValueError, match="scale 3"):
        study.split("train", 3)


def test_variants_and_their_architectures(study: StudyB) -> None:
    s = study.config.ablation_scale
    assert study.methods(s)[:4] == ["bicubic", "utsr", "swinir", "rrdbnet"]
    assert {"utsr_mlp", "utsr_single_window", "utsr_finetune_only"} <= set(study.methods(s))
    other = [x for x in study.config.scales if x != s][0]
    assert "utsr_mlp" not in study.methods(other)
    assert study.model_config("utsr_mlp", s)["ffn"] == "mlp"
    assert study.model_config("utsr_single_window", s)["attention"] == "single"
    assert study.model_params("utsr_finetune_only", s)["pretrain"] is None
    assert study.model_folder("utsr", 2) != study.model_folder("utsr", 4)
    with pytest.raises(ValueError, match="unknown trained method"):
        study.train("edsr", 2)


def test_training_is_cached_and_finetune_only_skips_pretraining(study: StudyB) -> None:
    s = study.config.ablation_scale
    fine = study.train("utsr_finetune_only", s)
    assert not (fine.parent / "pretrain").exists()
    stamp = (fine / "weights.pt").stat().st_mtime_ns
    assert study.train("utsr_finetune_only", s) == fine
    assert (fine / "weights.pt").stat().st_mtime_ns == stamp
    rec = study.training_record("utsr_finetune_only", s)
    assert rec["pretrain_seconds"] == 0 and rec["finetune_seconds"] > 0
    full = study.train("utsr", s)
    assert (full.parent / "pretrain" / "weights.pt").exists()
    curves = study.loss_curves("utsr", s)
    assert len(curves["pretrain"]) == study.config.pretrain.iterations
    assert len(curves["finetune"]) == study.config.finetune.iterations
    assert curves["validation"]


def test_predictions_have_the_reference_shape(study: StudyB) -> None:
    split = study.load_split("test", 4)
    bic = study.load("bicubic", 4)
    np.testing.assert_allclose(bic[0], bicubic_upsample(split["lr"][0], 4), atol=1e-6)
    sr = study.load("utsr", 4)
    assert sr.shape == split["hr"].shape and sr.dtype == np.float32 and np.all(np.isfinite(sr))


def test_evaluation_tables(study: StudyB) -> None:
    ev = StudyBEvaluation(study)
    comp = ev.comparison_table()
    for s in study.config.scales:
        rows = comp[comp["scale"] == s]
        assert list(rows["method"]) == ["reference", "bicubic", "utsr", "swinir", "rrdbnet"]
    ref = comp[comp["method"] == "reference"].iloc[0]
    assert ref["psnr"] == np.inf and ref["ssim"] == pytest.approx(1.0)
    assert abs(ref["lpips"]) < 1e-5 and abs(ref["dists"]) < 1e-5
    bic = comp[(comp["method"] == "bicubic")]
    assert (bic["psnr"] < 40).all() and (bic["lpips"] > 0.05).all()
    # x4 loses more than x2
    assert bic.iloc[0]["psnr"] > bic.iloc[1]["psnr"]
    nets = comp[comp["method"] == "utsr"]
    assert (nets["params"] > 0).all() and (nets["gflops"] > 0).all()
    abl = ev.ablation_table()
    assert list(abl["method"]) == ["utsr", "utsr_mlp", "utsr_single_window", "utsr_finetune_only"]
    assert abl.iloc[0][[f"d_{k}" for k in SR_SCORES]].abs().max() == 0
    seg = ev.segmentation_table()
    ref_seg = seg[seg["method"] == "reference"]
    assert (ref_seg["f1"] > 0.9).all()
    assert (seg.loc[seg["method"] == "bicubic", "f1_gain_points"] == 0).all()
    ex = ev.example_crops(2)
    size = ex["size"]
    assert ex["crack_mask"].any() and ex["lr"].shape == (size // 2, size // 2)
    assert all(c.shape == (size, size) for c in ex["crops"].values())


# --------------------------------------------------------------------------- known answers
def test_sr_image_scores_known_cases() -> None:
    ref = simulate_crack_slice(seed=5).image
    same = sr_image_scores(ref, ref)
    assert same["psnr"] == np.inf and same["ssim"] == pytest.approx(1.0)
    assert abs(same["lpips"]) < 1e-6 and abs(same["dists"]) < 1e-5
    blurred = sr_image_scores(gaussian_filter(ref, 1.5), ref)
    more = sr_image_scores(gaussian_filter(ref, 3.0), ref)
    assert 20 < more["psnr"] < blurred["psnr"] < 60
    assert more["ssim"] < blurred["ssim"] < 1
    assert 0 < blurred["lpips"] < more["lpips"] and 0 < blurred["dists"] < more["dists"]
    assert np.isfinite(blurred["niqe"])
    with pytest.raises(ValueError, match="one shape"):
        sr_image_scores(ref, ref[:-1])
    with pytest.raises(ValueError, match="NaN"):
        sr_image_scores(np.full_like(ref, np.nan), ref)


def test_pooled_scores_sum_counts() -> None:
    counts = pd.DataFrame({"tp": [3, 1], "fp": [1, 0], "fn": [0, 2], "tn": [96, 97]})
    s = pooled_scores(counts)
    assert s["precision"] == pytest.approx(4 / 5) and s["recall"] == pytest.approx(4 / 6)
    assert s["accuracy"] == pytest.approx(197 / 200)
    assert s["f1"] == pytest.approx(2 * 0.8 * (4 / 6) / (0.8 + 4 / 6))


def test_crack_rich_window_finds_the_densest_window() -> None:
    m = np.zeros((40, 50), bool)
    m[5, 5] = True
    m[20:30, 31:33] = True  # 20 pixels
    assert crack_rich_window(m, 10) == (20, 23)  # first window (row-major) holding all 20
    assert crack_rich_window(np.zeros((8, 8)), 4) == (0, 0)
    with pytest.raises(ValueError, match="window size"):
        crack_rich_window(m, 60)


def test_study_b_artifacts_live_in_the_given_cache(study: StudyB) -> None:
    assert all(
        Path(p).is_relative_to(study.cache.root)
        for p in [study.split("train", 2), study.model_folder("utsr", 2)]
    )
