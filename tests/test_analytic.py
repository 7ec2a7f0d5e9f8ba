"""Tests for the exact cone-beam foam projector (xrsr_lib.simulate.ct.analytic)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import require_reference

from xrsr_lib.simulate.ct.analytic import (
    pelt_angles_to_xrsr,
    pelt_cone_geometry,
    pelt_projections_to_xrsr,
    project_cylinder,
    project_foam,
    project_spheres,
)
from xrsr_lib.simulate.ct.geometry import ConeGeometry

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"


# ---------------------------------------------------------------------------- independent references
def _rays(geometry: ConeGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Source positions (A, 1, 1, 3) and pixel-centre positions (A, rows, cols, 3) in world coordinates."""
    th = geometry.angles
    s, c = np.sin(th), np.cos(th)
    z = np.zeros_like(th)
    src = np.stack([s, -c, z], -1) * geometry.source_origin
    det = np.stack([-s, c, z], -1) * geometry.origin_detector
    u = np.stack([c, s, z], -1)
    v = np.stack([z, z, np.ones_like(th)], -1)
    uc, vc = geometry.u_coords(), geometry.v_coords()
    pts = (
        det[:, None, None, :]
        + uc[None, None, :, None] * u[:, None, None, :]
        + vc[None, :, None, None] * v[:, None, None, :]
    )
    return src[:, None, None, :], pts


def _sphere_chords_numpy(spheres: np.ndarray, geometry: ConeGeometry) -> np.ndarray:
    """Closed-form chords from the point-to-line distance of each pixel's ray (float64)."""
    src, pts = _rays(geometry)
    d = pts - src
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    total = np.zeros(pts.shape[:3])
    for x, y, zc, r, _ in spheres:
        w = np.array([x, y, zc]) - src
        t = np.sum(w * d, axis=-1)
        dist2 = np.sum(w * w, axis=-1) - t * t
        total += 2.0 * np.sqrt(np.maximum(r * r - dist2, 0.0))
    return total


def _cylinder_chords_numpy(geometry: ConeGeometry, radius: float) -> np.ndarray:
    """Chord through x² + y² <= R² from the 3D ray's quadratic in its parameter t (float64)."""
    src, pts = _rays(geometry)
    d = pts - src
    a = d[..., 0] ** 2 + d[..., 1] ** 2
    b = 2.0 * (src[..., 0] * d[..., 0] + src[..., 1] * d[..., 1])
    c = src[..., 0] ** 2 + src[..., 1] ** 2 - radius**2
    disc = np.maximum(b * b - 4.0 * a * c, 0.0)
    dt = np.sqrt(disc) / a  # t2 - t1
    return dt * np.linalg.norm(d, axis=-1)


def _small_geometry(angles: np.ndarray, rows: int = 24, cols: int = 30, pix: float = 2.0) -> ConeGeometry:
    return ConeGeometry(100.0, 60.0, rows, cols, pix, np.asarray(angles, dtype=np.float64))


ANGLES = np.array([0.0, 0.4, 1.3, np.pi / 2, 2.9, 4.0, 5.5])


# ---------------------------------------------------------------------------- spheres
def test_single_sphere_matches_closed_form():
    geo = _small_geometry(ANGLES)
    sph = np.array([[4.0, -3.0, 2.5, 6.0, 0.0]])
    got = project_spheres(sph, geo)
    ref = _sphere_chords_numpy(sph, geo)
    assert got.dtype == np.float32 and got.shape == (ANGLES.size, 24, 30)
    assert ref.max() > 10.0  # the sphere is actually seen
    np.testing.assert_allclose(got, ref, rtol=0, atol=2e-5)


def test_spheres_partly_outside_detector_and_near_source():
    """Shadows clipped by the detector edge, and a big sphere close to the source (wide cone)."""
    geo = _small_geometry(ANGLES)
    sph = np.array(
        [
            [20.0, 5.0, -14.0, 5.0, 0.3],  # shadow runs off the detector at several angles
            [0.0, -70.0, 0.0, 20.0, 0.0],  # near the source at θ = 0 (source at y = -100)
            [-3.0, 8.0, 30.0, 4.0, 0.0],  # above the field of view
        ]
    )
    np.testing.assert_allclose(project_spheres(sph, geo), _sphere_chords_numpy(sph, geo), rtol=0, atol=5e-5)


def test_random_spheres_match_closed_form():
    rng = np.random.default_rng(3)
    n = 25
    sph = np.column_stack(
        [rng.uniform(-30, 30, (n, 3)), rng.uniform(0.5, 8.0, n), np.zeros(n)]
    )  # overlaps are irrelevant for project_spheres: chords simply add up
    geo = _small_geometry(rng.uniform(0, 2 * np.pi, 5), rows=20, cols=22, pix=3.0)
    np.testing.assert_allclose(project_spheres(sph, geo), _sphere_chords_numpy(sph, geo), rtol=0, atol=1e-4)


def test_tangent_ray_gives_zero_chord():
    # θ = 0: rays travel along +y; the central column ray passes x = 0 at every depth.
    geo = ConeGeometry(100.0, 50.0, 1, 1, 1.0, np.array([0.0]))
    sph = np.array([[3.0, 0.0, 0.0, 3.0, 0.0], [0.0, 10.0, 0.0, 2.0, 0.0]])
    np.testing.assert_allclose(project_spheres(sph, geo)[0, 0, 0], 4.0, atol=1e-6)


def test_empty_void_list():
    geo = _small_geometry(ANGLES[:2])
    np.testing.assert_array_equal(project_spheres(np.zeros((0, 5)), geo), 0.0)
    np.testing.assert_array_equal(project_foam(np.zeros((0, 5)), geo, 40.0), project_cylinder(geo, 40.0))


# ---------------------------------------------------------------------------- cylinder
def test_cylinder_matches_quadratic():
    geo = _small_geometry(ANGLES[:3], rows=16, cols=60)
    got = project_cylinder(geo, 30.0)
    ref = _cylinder_chords_numpy(geo, 30.0)
    assert np.any(ref == 0.0) and ref.max() > 55.0  # the cylinder edge lies on the detector
    np.testing.assert_allclose(got, ref, rtol=0, atol=2e-5)


def test_cylinder_matches_ray_marching():
    geo = _small_geometry(np.array([0.7]), rows=5, cols=9, pix=8.0)
    src, pts = _rays(geo)
    t = (np.arange(200_000) + 0.5) / 200_000  # midpoints along source -> detector
    step_len = np.linalg.norm(pts - src, axis=-1)[0] / t.size
    expected = np.empty((5, 9))
    for i in range(5):
        for j in range(9):
            p = src[0, 0, 0] + t[:, None] * (pts[0, i, j] - src[0, 0, 0])
            expected[i, j] = np.count_nonzero(p[:, 0] ** 2 + p[:, 1] ** 2 <= 30.0**2) * step_len[i, j]
    np.testing.assert_allclose(project_cylinder(geo, 30.0)[0], expected, rtol=0, atol=3 * step_len.max())


# ---------------------------------------------------------------------------- foam
def test_void_reduces_projection_by_its_chord():
    geo = _small_geometry(ANGLES)
    void = np.array([[5.0, -4.0, 3.0, 7.0, 0.0]])
    foam = project_foam(void, geo, cylinder_radius=30.0)
    expected = _cylinder_chords_numpy(geo, 30.0) - _sphere_chords_numpy(void, geo)
    np.testing.assert_allclose(foam, expected, rtol=0, atol=3e-5)
    diff = project_cylinder(geo, 30.0).astype(np.float64) - foam
    np.testing.assert_allclose(diff, _sphere_chords_numpy(void, geo), rtol=0, atol=3e-5)


@pytest.mark.parametrize("ss", [2, 3])
def test_supersampling_equals_box_average_of_finer_detector(ss):
    geo = _small_geometry(ANGLES[:4], rows=10, cols=12, pix=4.0)
    fine = _small_geometry(ANGLES[:4], rows=10 * ss, cols=12 * ss, pix=4.0 / ss)
    voids = np.array([[4.0, -3.0, 2.5, 6.0, 0.0], [-10.0, 6.0, -5.0, 4.5, 0.0]])

    def box(p: np.ndarray) -> np.ndarray:
        return p.astype(np.float64).reshape(p.shape[0], 10, ss, 12, ss).mean(axis=(2, 4))

    np.testing.assert_allclose(project_spheres(voids, geo, ss), box(project_spheres(voids, fine)), atol=2e-5)
    np.testing.assert_allclose(project_cylinder(geo, 25.0, ss), box(project_cylinder(fine, 25.0)), atol=2e-5)
    np.testing.assert_allclose(
        project_foam(voids, geo, 25.0, ss), box(project_foam(voids, fine, 25.0)), atol=2e-5
    )


def test_progress_matches_plain():
    geo = _small_geometry(np.linspace(0, 2 * np.pi, 23, endpoint=False), rows=8, cols=8, pix=5.0)
    voids = np.array([[4.0, -3.0, 2.5, 6.0, 0.0]])
    np.testing.assert_array_equal(
        project_foam(voids, geo, 30.0, 2, progress=True), project_foam(voids, geo, 30.0, 2)
    )


# ---------------------------------------------------------------------------- foam_ct_phantom reference
def test_reproduces_foam_ct_phantom_reference():
    require_reference("pelt_small_cone_projs.h5")
    h5py = pytest.importorskip("h5py")
    with h5py.File(REFERENCE / "pelt_small_phantom.h5", "r") as f:
        spheres = f["spheres"][:].reshape(-1, 5)
    with h5py.File(REFERENCE / "pelt_small_cone_projs.h5", "r") as f:
        ref = f["projs"][:]
        angles = f["projgeom_angles"][:]
        attrs = dict(f["projs"].attrs)
    geo = pelt_cone_geometry(
        angles,
        attrs["projgeom_sod"],
        attrs["projgeom_odd"],
        attrs["projgeom_nx"],
        attrs["projgeom_ny"],
        attrs["projgeom_pixsize"],
    )
    ours = project_foam(spheres, geo, 1.0, int(attrs["projgeom_supersampling"]))
    # measured max |difference| 2.8e-6 (float32 rounding of the reference's voids and output)
    np.testing.assert_allclose(ours, pelt_projections_to_xrsr(ref), rtol=0, atol=2e-5)


def test_pelt_angle_mapping():
    np.testing.assert_allclose(
        pelt_angles_to_xrsr(np.array([0.0, np.pi / 2, np.pi, 3 * np.pi / 2])),
        [3 * np.pi / 2, np.pi, np.pi / 2, 0.0],
        atol=1e-12,
    )


# ---------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("spheres", "match"),
    [
        (np.zeros(5), "shape"),
        (np.zeros((3, 4)), "shape"),
        (np.array([[0.0, 0.0, np.nan, 1.0, 0.0]]), "non-finite"),
        (np.array([[0.0, 0.0, 0.0, np.inf, 0.0]]), "non-finite"),
        (np.array([[0.0, 0.0, 0.0, -1.0, 0.0]]), "radii"),
        (np.array([["a", "b", "c", "d", "e"]]), "numeric"),
    ],
)
def test_bad_spheres(spheres, match):
    geo = _small_geometry(ANGLES[:1])
    with pytest.raises(ValueError, match=match):
        project_spheres(spheres, geo)
    with pytest.raises(ValueError, match=match):
        project_foam(spheres, geo, 10.0)


@pytest.mark.parametrize("ss", [0, -2, 1.5, True, "2"])
def test_bad_supersampling(ss):
    geo = _small_geometry(ANGLES[:1])
    sph = np.zeros((1, 5))
    for call in (
        lambda: project_spheres(sph, geo, ss),
        lambda: project_cylinder(geo, 1.0, ss),
        lambda: project_foam(sph, geo, 1.0, ss),
    ):
        with pytest.raises(ValueError, match="supersampling"):
            call()


@pytest.mark.parametrize("radius", [0.0, -1.0, np.nan, np.inf, "x"])
def test_bad_cylinder_radius(radius):
    geo = _small_geometry(ANGLES[:1])
    with pytest.raises(ValueError, match="cylinder_radius"):
        project_foam(np.zeros((1, 5)), geo, radius)
    with pytest.raises(ValueError, match="cylinder_radius"):
        project_cylinder(geo, radius)


def test_bad_geometry():
    with pytest.raises(ValueError, match="geometry"):
        project_spheres(np.zeros((1, 5)), {"sod": 1.0})
