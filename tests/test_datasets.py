"""End-to-end: the smoke profile's datasets through the cache."""

import numpy as np
import pytest

from xrsr_lib import io
from xrsr_lib.config import load_profile
from xrsr_lib.io.cache import Cache
from xrsr_lib.studies.study_a.datasets import DatasetBuilder


@pytest.fixture(scope="module")
def smoke_build(tmp_path_factory):
    cache = Cache(tmp_path_factory.mktemp("cache"))
    builder = DatasetBuilder(load_profile("smoke"), cache, progress=False)
    return builder, builder.realization("train", sigmas=(1.0, 9.0))


def test_reconstruction_resembles_ground_truth(smoke_build):
    builder, paths = smoke_build
    gt, _ = io.read_volume(paths.ground_truth)
    hres, attrs = io.read_volume(paths.reconstructions[1.0])
    lres, _ = io.read_volume(paths.reconstructions[9.0])
    assert gt.shape == hres.shape == builder.profile.volume.shape
    assert attrs["sigma_um"] == 1.0
    c = gt.shape[0] // 2
    sl = np.s_[c - 8 : c + 8]  # central slab, away from cone-beam edge effects
    # correct orientation and scale: the HRES image correlates strongly with the truth ...
    r_hres = np.corrcoef(gt[sl].ravel(), hres[sl].ravel())[0, 1]
    r_lres = np.corrcoef(gt[sl].ravel(), lres[sl].ravel())[0, 1]
    assert r_hres > 0.85
    # ... and more blur means less agreement
    assert r_lres < r_hres - 0.05
    # matrix ~1, pores ~0 (material fraction units)
    assert np.median(hres[sl][gt[sl] > 0.99]) == pytest.approx(1.0, abs=0.1)
    assert np.median(hres[sl][(gt[sl] < 0.01)]) == pytest.approx(0.0, abs=0.1)


def test_cache_reuses_artifacts(smoke_build):
    builder, paths = smoke_build
    files = [paths.phantom, paths.ground_truth, *paths.reconstructions.values()]
    before = {p: p.stat().st_mtime_ns for p in files}
    again = builder.realization("train", sigmas=(1.0, 9.0))
    assert again.reconstructions == paths.reconstructions
    assert {p: p.stat().st_mtime_ns for p in before} == before


def test_noise_realizations_are_independent(smoke_build):
    builder, _ = smoke_build
    a = builder.reconstruction_params("train", 3.0)
    b = builder.reconstruction_params("alternate", 3.0)
    c = builder.reconstruction_params("train", 5.0)
    assert len({(tuple(p["noise_spawn_key"])) for p in (a, b, c)}) == 3


def test_unknown_realization(smoke_build):
    builder, _ = smoke_build
    with pytest.raises(ValueError, match="unknown realization 'test'"):
        builder.phantom("test")


def test_load_volume_checks_shape(smoke_build, tmp_path):
    builder, paths = smoke_build
    assert builder.load_volume(paths.ground_truth).shape == builder.profile.volume.shape
    io.write_volume(tmp_path / "odd.h5", np.zeros((64, 64, 32)))
    with pytest.raises(ValueError, match="must be cubic"):
        builder.load_volume(tmp_path / "odd.h5")
    io.write_volume(tmp_path / "small.h5", np.zeros((32, 32, 32)))
    with pytest.raises(ValueError, match="expects"):
        builder.load_volume(tmp_path / "small.h5")
