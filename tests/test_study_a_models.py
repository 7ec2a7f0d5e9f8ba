"""Study A trains one set of models: below the held-out slab, reused by the trust maps and the seeds."""

import numpy as np
import pytest

from xrsr_lib.config import load_profile
from xrsr_lib.io.cache import Cache
from xrsr_lib.studies.study_a import methods as study_methods
from xrsr_lib.studies.study_a.evaluation import StudyAEvaluation
from xrsr_lib.studies.study_a.methods import StudyA
from xrsr_lib.studies.study_a.seeds import seeded_profile
from xrsr_lib.studies.study_a.trust import StudyATrust


@pytest.fixture
def study(tmp_path):
    return StudyA(load_profile("smoke"), Cache(tmp_path / "cache"), device="cpu", progress=False)


def test_trust_members_and_seed_zero_are_the_study_models(study):
    trust = StudyATrust(StudyAEvaluation(study, progress=False))
    assert trust.slabs() == study.held_out_slabs() == (44, 48)  # smoke: 16 held-out slices, gap 4
    for method in ("deepnet", "srcnn"):
        for sigma in (3.0, 9.0):
            params = study.model_params(method, sigma)
            assert params["held_out"] == {"train_end": 44, "validation_start": 48}
            assert trust.model_params(method, sigma, 0) == params
            seeded = StudyA(seeded_profile(study.profile, 1), study.cache).model_params(method, sigma)
            assert trust.model_params(method, sigma, 1) == seeded != params
            # notebook 17's seed 0 is the study's model
            assert StudyA(seeded_profile(study.profile, 0), study.cache).model_params(method, sigma) == params


def test_no_training_voxel_comes_from_the_held_out_slab(study, monkeypatch):
    n = study.profile.volume.n_voxels
    z = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None], (n, n, n))  # voxel value = slice
    monkeypatch.setattr(study.data, "reconstruction", lambda realization, sigma: (realization, sigma))
    monkeypatch.setattr(study.data, "load_volume", lambda key: z)
    seen = {}

    def fake_train(cache, params, method, inputs, target, settings, **kw):
        seen.update(inputs=inputs, target=target, validation=kw["validation"], settings=settings)
        return cache.root

    monkeypatch.setattr(study_methods, "train_cached", fake_train)
    study.train("srcnn", 3.0)
    end, start = study.held_out_slabs()
    assert seen["inputs"].max() == seen["target"].max() == end - 1
    x_val, y_val = seen["validation"]
    assert x_val.min() == y_val.min() == start and x_val.max() == n - 1
    s = seen["settings"]
    assert s.training.keep_best and s.training.patience is not None  # the stopping rule is the profile's


@pytest.mark.parametrize("name", ["smoke", "cpu", "paper"])
def test_both_networks_follow_the_same_stopping_rule(name):
    m = load_profile(name).methods
    shared = (
        "iterations",
        "validate_every",
        "patience",
        "keep_best",
        "learning_rate",
        "learning_rate_schedule",
        "learning_rate_min_factor",
        "precision",
        "seed",
    )
    d, s = m.deepnet.training, m.srcnn.training
    assert {k: getattr(d, k) for k in shared} == {k: getattr(s, k) for k in shared}
    assert d.keep_best and d.patience is not None
    assert not m.deepnet.architecture.residual and not m.srcnn.architecture.residual  # both start from zero


def test_an_ensemble_score_needs_two_members():
    from xrsr_lib.config import TrustConfig

    with pytest.raises(ValueError, match="needs ensemble_size >= 2"):
        TrustConfig(score="ensemble", ensemble_size=1)
    assert TrustConfig(score="tta", ensemble_size=1).ensemble_size == 1
