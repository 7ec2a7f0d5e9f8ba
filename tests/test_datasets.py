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


def _sphere_fraction(n: int, voxel: float, radius: float, ss: int = 4) -> np.ndarray:
    """Exact-ish voxel fractions of a centred sphere (ss³ sub-samples per voxel)."""
    c = ((np.arange(n * ss) + 0.5) / ss - n / 2.0) * voxel
    z, y, x = np.meshgrid(c, c, c, indexing="ij", sparse=True)
    inside = (x**2 + y**2 + z**2 <= radius**2).astype(np.float32)
    return inside.reshape(n, ss, n, ss, n, ss).mean(axis=(1, 3, 5))


def test_dense_view_reference_of_a_uniform_sphere_equals_the_phantom():
    """The reference path (the profile's dense-view geometry, exact projections, no blur, no noise,
    FDK) reconstructs a uniform sphere within 1 % of its exact voxel values away from its surface."""
    from xrsr_lib.simulate.ct.analytic import project_spheres
    from xrsr_lib.simulate.ct.reconstruct import fdk
    from xrsr_lib.studies.study_a.datasets import reference_geometry_for

    profile = load_profile("smoke")
    n, voxel = profile.volume.n_voxels, profile.volume.voxel_size_um
    geometry = reference_geometry_for(profile)
    assert geometry.n_angles == profile.ct.reference_n_angles > profile.ct.n_angles
    radius = 0.4 * n * voxel
    projections = project_spheres(
        np.array([[0.0, 0.0, 0.0, radius, 1.0]]), geometry, supersampling=profile.ct.detector_supersampling
    )
    rec = fdk(projections, geometry, profile.volume.shape, voxel, filter=profile.ct.fdk_filter)
    exact = _sphere_fraction(n, voxel, radius)
    c = (np.arange(n) - (n - 1) / 2.0) * voxel
    z, y, x = np.meshgrid(c, c, c, indexing="ij", sparse=True)
    dist = np.sqrt(x**2 + y**2 + z**2)
    inner, outer = dist < radius - 3 * voxel, (dist > radius + 3 * voxel) & (x**2 + y**2 < (0.45 * n) ** 2)
    assert np.abs(rec[inner] - exact[inner]).max() < 0.01
    # outside, on average within 1 %; FDK's cone-beam approximation leaves a few % beside the poles
    assert np.abs(rec[outer] - exact[outer]).mean() < 0.01
    assert np.abs(rec[outer] - exact[outer]).max() < 0.05
    # the sparse-view scan of the same sphere is visibly worse: the reference is not the scan
    sparse = fdk(
        project_spheres(
            np.array([[0.0, 0.0, 0.0, radius, 1.0]]),
            builder_geometry(profile),
            supersampling=profile.ct.detector_supersampling,
        ),
        builder_geometry(profile),
        profile.volume.shape,
        voxel,
        filter=profile.ct.fdk_filter,
    )
    assert np.abs(sparse[outer] - exact[outer]).mean() > np.abs(rec[outer] - exact[outer]).mean()


def builder_geometry(profile):
    from xrsr_lib.studies.study_a.datasets import geometry_for

    return geometry_for(profile)


def test_reference_image_is_closer_to_the_phantom_than_the_1um_scan(smoke_build):
    builder, _ = smoke_build
    reference = builder.load_volume(builder.reference("train"))
    gt = builder.load_volume(builder.ground_truth("train"))
    hres = builder.load_volume(builder.reconstruction("train", 1.0))
    c = gt.shape[0] // 2
    sl = np.s_[c - 8 : c + 8]
    err_ref = float(np.mean((reference[sl] - gt[sl]) ** 2))
    err_hres = float(np.mean((hres[sl] - gt[sl]) ** 2))
    assert err_ref < 0.5 * err_hres
    assert io.read_attrs(builder.reference("train"))["geometry"]["angles"] is not None


def test_phantom_dispatches_on_the_generator(tmp_path):
    """The sized generator's parameters (with its name) key the phantom; a Pelt profile keeps
    Pelt's parameters and so its old cache keys. Generation only: no voxelization."""
    from xrsr_lib.simulate.phantom import generate_foam, generate_sized_foam

    profile = load_profile("smoke")
    builder = DatasetBuilder(profile, Cache(tmp_path / "sized"), progress=False)
    params = builder.phantom_params("train")
    assert params == {"seed": 1, **profile.phantom.sized_parameters()} and params["generator"] == "sized"
    spheres, attrs = io.read_spheres(builder.phantom("train"))
    expected = generate_sized_foam(1, **{k: v for k, v in params.items() if k not in ("seed", "generator")})
    np.testing.assert_array_equal(spheres, expected)
    assert attrs["generator"] == "sized"

    pelt = profile.phantom.model_copy(update={"generator": "pelt", "sizes": None})
    pelt_builder = DatasetBuilder(
        profile.model_copy(update={"phantom": pelt}), Cache(tmp_path / "pelt"), progress=False
    )
    pelt_params = pelt_builder.phantom_params("train")
    assert pelt_params == {"seed": 1, **pelt.pelt_parameters()} and "generator" not in pelt_params
    pelt_spheres, _ = io.read_spheres(pelt_builder.phantom("train"))
    np.testing.assert_array_equal(pelt_spheres, generate_foam(1, progress=False, **pelt.pelt_parameters()))
    keys = {b.cache.path_for("phantom", b.phantom_params("train")).name for b in (builder, pelt_builder)}
    assert len(keys) == 2


def test_too_dense_phantom_names_the_profile_setting(tmp_path):
    profile = load_profile("smoke")
    dense = profile.phantom.model_copy(update={"pore_density_per_mm3": 3_000_000.0})
    builder = DatasetBuilder(profile.model_copy(update={"phantom": dense}), Cache(tmp_path), progress=False)
    with pytest.raises(ValueError, match="pore_density_per_mm3.*too dense"):
        builder.phantom("train")
