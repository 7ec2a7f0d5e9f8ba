"""List the cache key of every artifact a profile builds, without building anything.

    python scripts/cache_keys.py cpu > keys.json

Every stage asks the cache for its path; a dry cache records ``(stage, key)`` and builds nothing,
so the listing takes seconds even for the ``paper`` profile. Used to show that a refactor leaves
every cache key unchanged (an existing cache is reused, not rebuilt): ``tests/test_cache_keys.py``
compares the listing with the one recorded in ``tests/data/cache_keys_<profile>.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from xrsr_lib.config import load_profile
from xrsr_lib.io.cache import Cache
from xrsr_lib.studies.multiscale.evaluation import MultiscaleEvaluation
from xrsr_lib.studies.multiscale.methods import STEPS, MultiscaleStudy
from xrsr_lib.studies.study_a.evaluation import PORE_METHODS, SCORED_METHODS, StudyAEvaluation
from xrsr_lib.studies.study_a.methods import PREDICTION_METHODS, TRAINED_METHODS, StudyA
from xrsr_lib.studies.study_a.trust import StudyATrust
from xrsr_lib.studies.study_b.evaluation import StudyBEvaluation
from xrsr_lib.studies.study_b.methods import StudyB


class DryCache(Cache):
    """A cache that records every artifact asked for and builds none."""

    def __init__(self) -> None:
        super().__init__("/nonexistent-xrsr-dry-cache")
        self.keys: dict[str, set[str]] = {}

    def path_for(self, stage: str, params: dict[str, Any], suffix: str = ".h5") -> Path:
        """Return :meth:`Cache.path_for`'s path and record its key under ``stage``."""
        path = super().path_for(stage, params, suffix)
        self.keys.setdefault(stage, set()).add(path.name.removesuffix(suffix) if suffix else path.name)
        return path

    def get_or_build(self, stage, params, build, suffix=".h5"):  # noqa: ANN001, ANN201
        """Record the artifact's key and return its path without calling ``build``."""
        return self.path_for(stage, params, suffix)


def _try(fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except (OSError, FileNotFoundError, KeyError):
        pass  # the dry cache has no file to read back; the key was recorded before that


def cache_keys(profile_name: str) -> dict[str, list[str]]:
    """Return ``{stage: sorted keys}`` of every artifact a profile builds.

    The artifacts of the profile's studies A and B, the trust ensembles and the multiscale workflow.
    """
    profile = load_profile(profile_name)
    cache = DryCache()
    a = StudyA(profile, cache, progress=False)
    a.train = lambda m, s: cache.path_for("model", a.model_params(m, s), suffix="")  # type: ignore[method-assign]
    sigmas = profile.degrade.lres_sigmas_um
    for r in profile.realizations:
        a.data.ground_truth(r)
        for s in profile.degrade.sigmas_um:
            a.data.reconstruction(r, s)
        for m in PREDICTION_METHODS:
            for s in sigmas:
                a.predict(m, s, r)
    for m in TRAINED_METHODS:
        for s in sigmas:
            a.train(m, s)
    for r in profile.realizations:
        _try(a.data.reference, r)
    ev = StudyAEvaluation(a, progress=False)
    for m, s in [("gt", None), ("hres", None)] + [(m, s) for s in sigmas for m in SCORED_METHODS]:
        _try(ev.quality, m, s)
        _try(ev.msssim, m, s)
    # Figure 3's columns against the exact phantom, and the phantom against the ground truth
    for m, s in [("gt", None), ("hres", None)] + [(m, s) for s in sigmas for m in SCORED_METHODS]:
        _try(ev.quality, m, s, None, "phantom")
    _try(ev.quality, "phantom", None)
    references = [("gt", None), ("phantom", None), ("hres", None)]
    for m, s in references + [(m, s) for s in sigmas for m in PORE_METHODS]:
        _try(ev.pores, m, s)
    # DeepNet on the training realization beside the alternate one (Figures 5-7)
    for m, s in references + [("deepnet", s) for s in sigmas]:
        _try(ev.pores, m, s, profile.training_realization)
    _try(ev.gaussian_fit)

    # trust ensembles (notebook 16): the members are study A's models with seeds 0..K-1 (stubbed
    # like them); predictions and scores
    t = StudyATrust(ev)
    t._trained = lambda m, s, k: cache.path_for("model", t.model_params(m, s, k), suffix="")  # type: ignore[method-assign]
    for m in t.config.methods:
        for s in t.config.sigmas_um:
            _try(t.scores, m, s)

    # multiscale scans, registrations, step models, LFOV and scores (notebooks 13-15)
    ms = MultiscaleStudy(profile, cache, progress=False)
    ms.train = lambda step: cache.path_for("ms_model", ms.model_params(step), suffix="")  # type: ignore[method-assign]
    for scan in ms.config.scans:
        _try(ms.scan, scan.name)
        if scan is not ms.config.scans[0]:
            _try(ms.registration, scan.name)
    for step in STEPS:
        ms.train(step)
    _try(ms.lfov)
    mev = MultiscaleEvaluation(ms)
    _try(mev.scores)
    _try(mev.lfov_scores)

    b = StudyB(profile, cache, progress=False)
    b.train = lambda m, s: b.model_folder(m, s) / "finetune"  # type: ignore[method-assign]
    eb = StudyBEvaluation(b)
    for scale in b.config.scales:
        for split in ("train", "val", "test"):
            b.split(split, scale)
        for m in b.methods(scale):
            b.predict(m, scale)
            _try(eb.quality, m, scale)
            _try(eb.segmentation, m, scale)
        _try(eb.quality, "reference", scale)
        _try(eb.segmentation, "reference", scale)
    return {stage: sorted(keys) for stage, keys in sorted(cache.keys.items())}


if __name__ == "__main__":
    name = sys.argv[1] if len(sys.argv) > 1 else "cpu"
    json.dump(cache_keys(name), sys.stdout, indent=1)
    sys.stdout.write("\n")
