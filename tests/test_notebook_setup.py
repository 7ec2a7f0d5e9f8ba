"""The shared setup of study A's figure notebooks: constructs the objects, builds nothing."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from xrsr_lib.io.cache import Cache
from xrsr_lib.studies.study_a.evaluation import StudyAEvaluation
from xrsr_lib.studies.study_a.methods import StudyA
from xrsr_lib.studies.study_a.notebook import LOG_FORMAT, StudyANotebook, setup


@pytest.fixture
def root_logging() -> Iterator[None]:
    """setup() reconfigures the root logger (force=True); put it back for the other tests."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for h in root.handlers[:]:
        if h not in handlers:
            root.removeHandler(h)
            h.close()
    for h in handlers:
        if h not in root.handlers:
            root.addHandler(h)
    root.setLevel(level)


def test_setup_smoke_constructs_everything(tmp_path: Path, monkeypatch, capsys, root_logging) -> None:
    cache_dir = tmp_path / "cache"
    monkeypatch.setenv("XRSR_CACHE", str(cache_dir))
    figure_dir = tmp_path / "figures" / "smoke"

    nb = setup("smoke", str(figure_dir), progress=False)

    assert isinstance(nb, StudyANotebook)
    assert nb.profile.name == "smoke"
    assert isinstance(nb.cache, Cache) and nb.cache.root == cache_dir  # $XRSR_CACHE when no cache_dir
    assert isinstance(nb.study, StudyA) and nb.study.profile is nb.profile and nb.study.cache is nb.cache
    assert not nb.study.progress
    assert isinstance(nb.evaluation, StudyAEvaluation) and nb.evaluation.study is nb.study
    assert not nb.evaluation.progress
    assert nb.realization == nb.profile.evaluation.realization
    assert nb.sigmas_um == nb.profile.degrade.lres_sigmas_um
    assert nb.figure_dir == figure_dir and isinstance(nb.figure_dir, Path) and figure_dir.is_dir()
    with pytest.raises(dataclasses.FrozenInstanceError):
        nb.realization = "train"  # type: ignore[misc]

    # the notebooks' log format and summary line
    root = logging.getLogger()
    assert root.level == logging.INFO
    assert any(getattr(h.formatter, "_fmt", None) == LOG_FORMAT for h in root.handlers)
    n = nb.profile.volume.n_voxels
    assert capsys.readouterr().out == (
        f"profile smoke: {n}³ voxels, scoring realization {nb.realization!r}, σ = {nb.sigmas_um} µm\n"
    )
    # only constructed: nothing built or cached
    assert not cache_dir.exists() or not any(cache_dir.iterdir())


def test_setup_explicit_cache_dir_and_quiet(tmp_path: Path, capsys, root_logging) -> None:
    nb = setup("smoke", tmp_path / "figs", cache_dir=tmp_path / "c", verbose=False)
    assert nb.cache.root == tmp_path / "c"
    assert nb.study.progress and nb.evaluation.progress  # progress bars on by default
    assert capsys.readouterr().out == ""


def test_setup_unknown_profile(tmp_path: Path, root_logging) -> None:
    with pytest.raises(ValueError, match=r"unknown profile 'nope'.*smoke"):
        setup("nope", tmp_path / "figs", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "figs").exists()
