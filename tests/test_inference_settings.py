"""The inference tiling is a setting of predictions, not of training: changing it re-predicts and
never re-trains, and a model trained while it was still part of the model key is reused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

import xrsr_lib.train.volume_cache as volume_cache
import xrsr_lib.train.volumes as volumes
from xrsr_lib import Recovery
from xrsr_lib.config import load_profile
from xrsr_lib.infer.loaded import LoadedModel
from xrsr_lib.io.cache import Cache
from xrsr_lib.studies.multiscale.methods import MultiscaleStudy
from xrsr_lib.studies.study_a.methods import StudyA
from xrsr_lib.train.loop import is_finished

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _retiled(profile, tile: int, overlap: int):
    methods = profile.methods.model_copy(
        update={
            m: getattr(profile.methods, m).replace(inference_tile=tile, inference_overlap=overlap)
            for m in ("deepnet", "srcnn")
        }
    )
    return profile.model_copy(update={"methods": methods})


def test_settings_keys_leave_out_the_inference_tiling():
    s = load_profile("smoke").methods.srcnn
    assert "inference_tile" not in s.key_dict() and "inference_overlap" not in s.key_dict()
    earlier = s.key_dict(with_excluded=True)
    assert earlier["inference_tile"] == s.inference.tile
    assert earlier["inference_overlap"] == s.inference.overlap
    other = s.replace(inference_tile=s.inference.tile + 8)
    assert other.inference.tile == s.inference.tile + 8 and other.training == s.training
    assert other.key_dict() == s.key_dict() and other.key_dict(with_excluded=True) != earlier
    assert s.replace(patch=s.training.patch + 2).key_dict() != s.key_dict()  # a training setting counts
    assert s.replace(widths=(8, 8)).key_dict() != s.key_dict()  # so does the architecture


def test_a_new_tiling_keeps_every_model_and_changes_every_prediction(tmp_path):
    profile = load_profile("smoke")
    other = _retiled(profile, 48, 6)
    cache = Cache(tmp_path)
    a, b = StudyA(profile, cache, progress=False), StudyA(other, cache, progress=False)
    realization = profile.training_realization
    for method in ("deepnet", "srcnn"):
        assert a.model_params(method, 3.0) == b.model_params(method, 3.0)
        pa, pb = a.prediction_params(method, 3.0, realization), b.prediction_params(method, 3.0, realization)
        assert pa["model"] == pb["model"] and pa != pb
        assert pb["inference"] == {"tile": 48, "overlap": 6}
    assert a.prediction_params("rl", 3.0, realization) == b.prediction_params("rl", 3.0, realization)
    ma, mb = MultiscaleStudy(profile, cache, progress=False), MultiscaleStudy(other, cache, progress=False)
    assert ma.model_params("9to3") == mb.model_params("9to3")
    assert ma.lfov_params() != mb.lfov_params()
    assert mb.lfov_params()["inference"] == {"tile": 48, "overlap": 6}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, np.ndarray]:
    folder = tmp_path_factory.mktemp("tiling")
    rng = np.random.default_rng(1)
    hr = gaussian_filter(rng.random((20, 56, 56)), 1.5).astype(np.float32)
    lr = gaussian_filter(hr, 1.5)
    rec = Recovery.from_preset("srcnn", "smoke", loss_mask="none", iterations=3)
    rec.fit(lr, hr, folder=folder / "srcnn", progress=False)
    return folder / "srcnn", lr


def test_predict_takes_the_tiling_as_a_model_saved_with_it_would(trained, tmp_path):
    folder, lr = trained
    model = LoadedModel.load(folder)
    assert (model.tiling.tile, model.tiling.overlap) != (24, 6)
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    config = json.loads((copy / "config.json").read_text())
    config["settings"]["inference"] = {"tile": 24, "overlap": 6}
    (copy / "config.json").write_text(json.dumps(config))
    saved_with = LoadedModel.load(copy).predict(lr)
    np.testing.assert_array_equal(model.predict(lr, tile=24, overlap=6), saved_with)
    assert model.tile_margin(6) == LoadedModel.load(copy).tile_margin()
    # the tiling matters (margin below the receptive radius), so the equality above is not vacuous
    assert np.abs(model.predict(lr) - saved_with).max() > 0
    with pytest.raises(ValueError, match="overlap must be < tile / 2"):
        model.predict(lr, tile=24, overlap=12)
    # the front door takes the same tiling
    np.testing.assert_array_equal(Recovery.load(folder).predict(lr, tile=24, overlap=6), saved_with)


def _earlier_model(cache: Cache, params: dict, settings, weights: bytes) -> Path:
    """A finished model folder as train_cached wrote it while the tiling was part of the key."""
    earlier_params = {**params, "settings": settings.key_dict(with_excluded=True)}
    earlier = cache.path_for("model", earlier_params, suffix="")
    earlier.mkdir(parents=True)
    (earlier / "config.json").write_text("{}")
    (earlier / "weights.pt").write_bytes(weights)
    earlier.with_suffix(".json").write_text(json.dumps({"stage": "model", "params": earlier_params}))
    return earlier


@pytest.mark.parametrize("tile_then", ["same", "other"])
def test_a_model_under_an_earlier_key_is_renamed_not_trained(tmp_path, monkeypatch, tile_then):
    profile = load_profile("smoke")
    cache = Cache(tmp_path)
    study = StudyA(profile, cache, progress=False)
    params = study.model_params("srcnn", 3.0)
    settings = profile.methods.srcnn
    then = settings if tile_then == "same" else settings.replace(inference_tile=64)
    earlier = _earlier_model(cache, params, then, b"weights")
    # another σ's model and a model trained with another patch size stay where they are
    _earlier_model(cache, study.model_params("srcnn", 5.0), then, b"5")
    _earlier_model(cache, {**params, "sigma_um": 3.0}, then.replace(patch=12), b"p")

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(volume_cache, "train_model", no_training)  # where train_cached looks it up
    x = np.zeros((4, 8, 8), np.float32)
    final = volumes.train_cached(cache, params, "srcnn", x, x, settings, progress=False)
    assert final == cache.path_for("model", params, suffix="") and final != earlier
    assert is_finished(final) and (final / "weights.pt").read_bytes() == b"weights"
    assert not earlier.exists() and not earlier.with_suffix(".json").exists()
    recorded = json.loads(final.with_suffix(".json").read_text())["params"]
    assert cache.path_for("model", recorded, suffix="") == final  # the metadata names the new key
    assert len(list((tmp_path / "model").glob("*.json"))) == 3
    # nothing to adopt for a model trained with other settings: it trains
    strided = settings.replace(stride=4)
    with pytest.raises(AssertionError, match="trained again"):
        volumes.train_cached(
            cache, {**params, "settings": strided.key_dict()}, "srcnn", x, x, strided, progress=False
        )
