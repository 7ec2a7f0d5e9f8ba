"""The simulated multiscale acquisition (smoke): bimodal pores, truncated interior scans whose FDK
shows no cupping, and the true / recorded poses the registration is tested against."""

from __future__ import annotations

import numpy as np
import pytest

from xrsr_lib.config import load_profile
from xrsr_lib.simulate.ct.truncation import (
    cylinder_chords,
    extend_truncated_rows,
    fdk_truncated,
    sample_cylinder,
)
from xrsr_lib.simulate.multiscale import bimodal_pores, exact_phantom, scan_geometry, simulate_scan

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def cfg():
    return load_profile("smoke").multiscale


@pytest.fixture(scope="module")
def pores(cfg):
    return bimodal_pores(cfg.sample)


def test_pores_are_bimodal_inside_the_cylinder_and_do_not_overlap(cfg, pores):
    r = pores[:, 3]
    small, large = r <= cfg.sample.small_radius_um[1], r >= cfg.sample.large_radius_um[0]
    assert small.sum() > 100 and large.sum() > 50 and (small | large).all()
    assert np.all(np.hypot(pores[:, 0], pores[:, 1]) + r <= cfg.sample.cylinder_radius_um)
    d = np.linalg.norm(pores[:, None, :3] - pores[None, :, :3], axis=-1)
    np.fill_diagonal(d, np.inf)
    assert np.all(d >= (r[:, None] + r[None, :]) + cfg.sample.min_gap_um - 1e-9)
    np.testing.assert_array_equal(bimodal_pores(cfg.sample), pores)  # deterministic by seed


@pytest.mark.parametrize("centre", [(0.0, 0.0), (20.0, -14.0)])
def test_truncated_fdk_of_a_solid_cylinder_has_no_cupping(cfg, centre):
    scan = cfg.scan("hres")  # the most truncated scan: a 64 µm region of a 300 µm sample
    geo = scan_geometry(cfg, scan)
    path = cylinder_chords(geo, cfg.sample.cylinder_radius_um, centre, 2)
    assert path[:, :, [0, -1]].min() > 0  # every row is cut
    radius, cx, cy = sample_cylinder(path, geo)
    assert radius == pytest.approx(cfg.sample.cylinder_radius_um, rel=0.01)
    assert (cx, cy) == pytest.approx(centre, abs=1.0)
    n = scan.n_voxels
    core = (slice(n // 10, n - n // 10),) * 3
    plain = fdk_truncated(path, geo, (n,) * 3, scan.voxel_size_um, extension=0)[core]
    fixed = fdk_truncated(path, geo, (n,) * 3, scan.voxel_size_um)[core]
    assert abs(float(fixed.mean()) - 1.0) < 0.02  # the matrix value, within 2 %
    assert float(fixed.std()) < 0.01  # flat: no cupping
    assert abs(float(plain.mean()) - 1.0) > 0.05  # plain FDK of cut rows is far off


def test_extension_is_continuous_and_falls_to_zero(cfg):
    scan = cfg.scan("mres")
    geo = scan_geometry(cfg, scan)
    path = cylinder_chords(geo, cfg.sample.cylinder_radius_um, (10.0, 5.0), 1)
    ext = extend_truncated_rows(path, geo, 200)
    w = 200
    assert ext.shape[2] == path.shape[2] + 2 * w
    np.testing.assert_allclose(ext[..., w : w + path.shape[2]], path, rtol=1e-5)
    step = np.abs(np.diff(ext, axis=2)).max()
    assert np.abs(ext[..., w] - ext[..., w - 1]).max() <= step + 1e-3
    assert ext[..., 0].max() == 0 and ext[..., -1].max() == 0


def test_interior_scan_of_the_foam_matches_the_exact_phantom(cfg, pores):
    scan = cfg.scan("mres")
    sim = simulate_scan(cfg, scan, pores)
    assert sim.info["truncated"] and sim.info["extension_cols"] > 0
    truth = exact_phantom(
        pores,
        cfg.sample.cylinder_radius_um,
        scan.rotation_deg,
        scan.roi_center_um,
        scan.n_voxels,
        scan.voxel_size_um,
    )
    material = (sim.volume - scan.intensity_offset) / scan.intensity_scale
    n = scan.n_voxels
    core = (slice(n // 10, n - n // 10),) * 3
    assert abs(float((material - truth)[core].mean())) < 0.02  # within 2 % of the matrix value
    assert np.corrcoef(material[core].ravel(), truth[core].ravel())[0, 1] > 0.8
    assert sim.true_pose["center_um"] == list(scan.roi_center_um)
    recorded = np.asarray(sim.recorded_pose["center_um"]) - np.asarray(scan.roi_center_um)
    np.testing.assert_allclose(recorded, scan.stage_error_um)
    assert sim.recorded_pose["angle_deg"] == 0.0 and sim.true_pose["angle_deg"] == scan.rotation_deg


def test_the_whole_sample_scan_completes_the_most_truncated_scan(cfg, pores):
    """hres sees 64 µm of a 300 µm sample: the fitted cylinder leaves its mean off by > 10 %; the
    coarse scan's projections (recorded pose) bring it near the matrix value (cpu: +0.4 %)."""
    lres = simulate_scan(cfg, cfg.scans[0], pores)
    scan = cfg.scan("hres")
    truth = exact_phantom(
        pores,
        cfg.sample.cylinder_radius_um,
        scan.rotation_deg,
        scan.roi_center_um,
        scan.n_voxels,
        scan.voxel_size_um,
    )
    n = scan.n_voxels
    core = (slice(n // 10, n - n // 10),) * 3
    errors = {}
    for name, prior in (("cylinder", None), ("prior", (np.clip(lres.volume, 0, None), lres.voxel_size_um))):
        sim = simulate_scan(cfg, scan, pores, prior=prior)
        assert sim.info["truncation"] == name
        material = (sim.volume - scan.intensity_offset) / scan.intensity_scale
        errors[name] = abs(float((material - truth)[core].mean()))
    assert errors["prior"] < 0.03 and errors["prior"] < errors["cylinder"] / 3, errors
