"""A run reproducible from one file: ``xrsr settings`` writes a preset's settings (architecture,
training, inference),
``xrsr train --settings FILE`` (and :meth:`Recovery.from_settings`) trains with them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _settings import flat_settings

from xrsr_lib import Recovery, preset
from xrsr_lib.cli import main
from xrsr_lib.io.errors import XrsrInputError, XrsrInputExists, XrsrInputMissing


def _write(tmp_path: Path, method: str = "srcnn", name: str = "smoke") -> Path:
    path = tmp_path / "settings.json"
    assert main(["--quiet", "settings", "--method", method, "--preset", name, "--out", str(path)]) == 0
    return path


def test_settings_file_holds_the_preset(tmp_path, capsys):
    path = _write(tmp_path)
    doc = json.loads(path.read_text())
    assert doc["method"] == "srcnn" and doc["format"] == "xrsr-settings/2"
    settings = preset("srcnn", "smoke")
    assert doc["training"] == settings.training.model_dump(mode="json")
    assert doc["inference"] == {"tile": settings.inference.tile, "overlap": settings.inference.overlap}
    assert doc["architecture"] == {"kernel_sizes": [5, 3, 3], "widths": [16, 8]}  # what the preset sets
    rec = Recovery.from_settings(path)
    assert rec.method == "srcnn" and rec.settings == settings
    assert rec.settings.key_dict() == settings.key_dict()  # the same model (cache key) as the preset's


def test_a_settings_file_of_format_1_still_reads(tmp_path):
    """Files written before the settings had sections: one flat dict under ``training``."""
    settings = preset("deepnet", "smoke")
    flat = flat_settings(settings)
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"format": "xrsr-settings/1", "method": "deepnet", "training": flat}))
    old = Recovery.from_settings(path)
    assert old.settings == settings and old.settings.key_dict() == settings.key_dict()
    assert Recovery.from_settings(path, inference_tile=24).settings.inference.tile == 24


def test_an_edited_file_and_overrides_set_the_run(tmp_path):
    path = _write(tmp_path, "deepnet")
    doc = json.loads(path.read_text())
    doc["training"]["iterations"] = 7
    doc["architecture"]["depth"] = 3
    doc["inference"]["overlap"] = 4
    path.write_text(json.dumps(doc))
    edited = Recovery.from_settings(path).settings
    assert (edited.training.iterations, edited.architecture.depth, edited.inference.overlap) == (7, 3, 4)
    assert Recovery.from_settings(path, iterations=3).settings.training.iterations == 3
    assert edited != preset("deepnet", "smoke")


def test_train_uses_the_settings_file(tmp_path, monkeypatch):
    """``xrsr train --settings`` builds its model from the file (the options still override it)."""
    path = _write(tmp_path, "srcnn")
    doc = json.loads(path.read_text())
    doc["training"]["iterations"] = 11
    path.write_text(json.dumps(doc))
    vol = np.zeros((8, 16, 16), np.float32)
    np.save(tmp_path / "lres.npy", vol)
    np.save(tmp_path / "hres.npy", vol)
    (tmp_path / "pose.json").write_text(json.dumps({"lres_voxel_um": 3.0, "hres_voxel_um": 3.0}))
    seen = []

    class Stop(Exception):
        pass

    def fit_scans(self, *args, **kwargs):
        seen.append((self.method, self.settings.training.iterations, self.settings.training.batch_size))
        raise Stop

    monkeypatch.setattr(Recovery, "fit_scans", fit_scans)
    base = [
        "--quiet",
        "train",
        str(tmp_path / "lres.npy"),
        str(tmp_path / "hres.npy"),
        "--pose",
        str(tmp_path / "pose.json"),
        "--out",
        str(tmp_path / "model"),
    ]
    with pytest.raises(Stop):
        main([*base, "--settings", str(path)])
    with pytest.raises(Stop):
        main([*base, "--settings", str(path), "--batch-size", "3"])
    assert seen[0][:2] == ("srcnn", 11)
    assert seen[1] == ("srcnn", 11, 3)


def test_bad_settings_files_are_named(tmp_path, capsys):
    with pytest.raises(XrsrInputMissing, match="no such settings file"):
        Recovery.from_settings(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(XrsrInputError, match="bad.json is not a settings file of xrsr"):
        Recovery.from_settings(bad)
    bad.write_text(json.dumps({"method": "unet", "training": {}}))
    with pytest.raises(XrsrInputError, match="a settings file holds 'method'"):
        Recovery.from_settings(bad)
    path = _write(tmp_path, "deepnet")
    doc = json.loads(path.read_text())
    doc["training"]["iterations"] = -1
    bad.write_text(json.dumps(doc))
    with pytest.raises(XrsrInputError, match="setting 'training.iterations'") as err:
        Recovery.from_settings(bad)
    assert err.value.parameter == "settings"
    with pytest.raises(XrsrInputError, match="has no setting 'iteratons'"):
        Recovery.from_settings(path, iteratons=5)
    with pytest.raises(XrsrInputExists):
        Recovery.from_preset("deepnet", "smoke").save_settings(path)
    capsys.readouterr()
    code = main(["--quiet", "settings", "--out", str(path)])
    err_line = capsys.readouterr().err.strip()
    assert code == 2 and err_line.endswith(f"{path} exists; choose a new name for the settings file")


def test_the_settings_files_shown_in_the_docs_are_what_xrsr_settings_writes(tmp_path):
    """A ``<!-- settings-file: METHOD PRESET -->`` JSON block of the docs is that preset's file."""
    import re

    docs = Path(__file__).resolve().parents[1] / "docs"
    shown = []
    for page in sorted(docs.rglob("*.md")):
        pattern = r"<!-- settings-file: (\w+) (\w+) -->\n```json\n(.*?)\n```"
        shown += [(page.name, *m) for m in re.findall(pattern, page.read_text(), flags=re.S)]
    assert shown, "no settings file is shown in the docs"
    for page, method, name, block in shown:
        path = Recovery.from_preset(method, name).save_settings(tmp_path / f"{method}_{name}.json")
        assert json.loads(block) == json.loads(path.read_text()), f"{page}: {method} {name}"
