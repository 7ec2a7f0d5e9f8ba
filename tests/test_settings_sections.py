"""A volume network's settings in three sections (architecture, training, inference).

The split must keep every model's cache key (the recorded listings of ``test_cache_keys.py`` guard
the profiles; here the rules), route a user's flat keywords to their sections, refuse a misspelt
one, and still read the flat settings that model folders and settings files of format 1 hold.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from _settings import flat_settings
from pydantic import ValidationError

from xrsr_lib import Recovery
from xrsr_lib.config import (
    PROFILE_NAMES,
    DeepNetSettings,
    SRCNNSettings,
    load_profile,
    preset,
    recorded_settings,
    settings_class,
)
from xrsr_lib.infer import LoadedModel
from xrsr_lib.io.cache import canonical_params


@pytest.mark.parametrize("name", PROFILE_NAMES)
@pytest.mark.parametrize("method", ["deepnet", "srcnn"])
def test_the_key_is_the_flat_settings_without_the_tiling(method, name):
    s = preset(method, name)
    flat = flat_settings(s)
    key = s.key_dict()
    # the flat dict minus the tiling and the stopping fields added later at their defaults
    assert set(flat) - set(key) <= {"inference_tile", "inference_overlap", "loss_mask", "precision"}
    assert {k: flat[k] for k in key if k != "model"} == {k: v for k, v in key.items() if k != "model"}
    assert canonical_params(key["model"]) == flat["model"]  # tuples and lists hash alike
    assert s.key_dict(with_excluded=True)["inference_tile"] == s.inference.tile
    assert settings_class(method).from_flat(flat) == s


def test_keywords_go_to_their_sections():
    s = preset("deepnet", "smoke")
    t = s.replace(iterations=5, depth=3, inference_tile=48, inference_overlap=4, loss_mask="none")
    assert (t.training.iterations, t.training.loss_mask) == (5, "none")
    assert t.architecture.depth == 3 and t.architecture.base_width == s.architecture.base_width
    assert (t.inference.tile, t.inference.overlap) == (48, 4)
    assert s.replace(inference_tile=48).key_dict() == s.key_dict()  # tiling: the same model
    assert s.replace(depth=3).key_dict() != s.key_dict()
    assert s.replace(iterations=5).key_dict() != s.key_dict()
    whole = s.replace(model={"base_width": 4})  # a whole section replaces the preset's
    assert whole.architecture.base_width == 4 and whole.architecture.depth != s.architecture.depth
    assert whole.key_dict()["model"] == {"base_width": 4}
    assert s.replace(inference={"tile": 32, "overlap": 2}).inference.tile == 32
    assert isinstance(s.replace(seed=3), DeepNetSettings)


def test_a_misspelt_or_invalid_keyword_is_named():
    s = preset("srcnn", "smoke")
    with pytest.raises(ValueError, match="SRCNNSettings has no setting 'iteratons'"):
        s.replace(iteratons=5)
    with pytest.raises(ValueError, match="has no setting 'tile'"):  # SRCNN trains on patches
        s.replace(tile=32)
    with pytest.raises(ValidationError, match="iterations"):
        s.replace(iterations=0)
    with pytest.raises(ValueError, match="SRCNNSettings has no field 'iterations'"):
        s.model_copy(update={"iterations": 5})  # pydantic would keep it unseen
    with pytest.raises(ValueError, match="unknown method 'unet'"):
        settings_class("unet")


def test_profiles_hold_sections():
    for name in PROFILE_NAMES:
        methods = load_profile(name).methods
        assert isinstance(methods.deepnet, DeepNetSettings) and isinstance(methods.srcnn, SRCNNSettings)
        # the architecture a preset names is what the key records; the rest is the defaults
        assert methods.srcnn.key_dict()["model"] == methods.srcnn.architecture.model_dump(exclude_unset=True)


def test_a_model_folder_of_format_1_loads_with_its_settings_and_tiling(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((20, 24, 24), dtype=np.float32)
    settings = preset(
        "srcnn", "smoke", iterations=2, loss_mask="none", inference_tile=20, inference_overlap=4
    )
    rec = Recovery("srcnn", settings).fit(x, x, folder=tmp_path / "new", progress=False)
    config = json.loads((rec.folder / "config.json").read_text())
    assert config["xrsr_format"] == 2 and recorded_settings(config) == settings
    # rewrite the folder as format 1 wrote it
    old = {k: v for k, v in config.items() if k != "settings"}
    old.update(xrsr_format=1, training=flat_settings(settings))
    (rec.folder / "config.json").write_text(json.dumps(old))
    loaded = Recovery.load(rec.folder)
    assert loaded.settings == settings and loaded.settings.key_dict() == settings.key_dict()
    assert LoadedModel.load(rec.folder).tiling == settings.inference
    np.testing.assert_array_equal(loaded.predict(x), rec.predict(x))
    del old["training"]
    with pytest.raises(ValueError, match="records no settings"):
        recorded_settings(old)
