import math

import numpy as np
import pytest

from xrsr_lib.simulate.ct.geometry import ConeGeometry


def test_circular_angles_and_derived_values():
    g = ConeGeometry.circular(8, 100.0, 50.0, 10, 12, 1.5)
    np.testing.assert_allclose(g.angles, np.arange(8) * math.pi / 4)
    assert g.source_detector == 150.0
    assert g.magnification == pytest.approx(1.5)
    assert g.pixel_at_isocenter == pytest.approx(1.0)
    assert g.u_coords()[0] == pytest.approx(-5.5 * 1.5) and g.u_coords()[-1] == pytest.approx(5.5 * 1.5)


def test_source_and_detector_are_opposite_and_perpendicular():
    g = ConeGeometry.circular(16, 300.0, 200.0, 8, 8, 1.0)
    vec = g.astra_vectors()
    src, det, u, v = vec[:, 0:3], vec[:, 3:6], vec[:, 6:9], vec[:, 9:12]
    np.testing.assert_allclose(np.linalg.norm(src, axis=1), 300.0)
    np.testing.assert_allclose(np.linalg.norm(det, axis=1), 200.0)
    np.testing.assert_allclose(np.einsum("ij,ij->i", src, det), -300.0 * 200.0)  # opposite sides
    np.testing.assert_allclose(np.einsum("ij,ij->i", u, src), 0.0, atol=1e-9)
    np.testing.assert_allclose(v, np.tile([0, 0, 1.0], (16, 1)))
    np.testing.assert_allclose(src, g.source_positions())
    # at theta = 0 the rays travel along +y
    assert src[0, 1] < 0 < det[0, 1]


def test_for_volume_sees_the_whole_volume():
    n, vs = 64, 1.0
    g = ConeGeometry.for_volume(n, vs, 32, 320.0, 320.0)
    assert g.pixel_at_isocenter == pytest.approx(vs)
    half = n * vs / 2
    assert g.fov_radius() >= half * math.sqrt(2) * 0.999  # corners of every slice are measured
    # every voxel corner projects onto the detector at every angle
    corners = np.array([[x, y, z] for x in (-half, half) for y in (-half, half) for z in (-half, half)])
    for th in g.angles:
        s = g.source_origin * np.array([math.sin(th), -math.cos(th), 0])
        d = g.origin_detector * np.array([-math.sin(th), math.cos(th), 0])
        u = np.array([math.cos(th), math.sin(th), 0])
        normal = (d - s) / np.linalg.norm(d - s)
        for c in corners:
            t = np.dot(d - s, normal) / np.dot(c - s, normal)
            hit = s + t * (c - s) - d
            assert abs(np.dot(hit, u)) < g.det_cols * g.det_pixel / 2
            assert abs(hit[2]) < g.det_rows * g.det_pixel / 2


def test_dict_roundtrip():
    g = ConeGeometry.circular(5, 10.0, 3.0, 4, 6, 0.5)
    h = ConeGeometry.from_dict(g.to_dict())
    assert h.to_dict() == g.to_dict()


@pytest.mark.parametrize(
    "kwargs, msg",
    [
        ({"source_origin": -1.0}, "source_origin"),
        ({"origin_detector": float("nan")}, "origin_detector"),
        ({"det_rows": 0}, "detector shape"),
        ({"det_pixel": 0.0}, "det_pixel"),
        ({"angles": np.array([])}, "angles"),
        ({"angles": np.array([0.0, np.nan])}, "angles"),
    ],
)
def test_bad_geometry(kwargs, msg):
    args = {
        "source_origin": 10.0,
        "origin_detector": 5.0,
        "det_rows": 4,
        "det_cols": 4,
        "det_pixel": 1.0,
        "angles": np.zeros(3),
    } | kwargs
    with pytest.raises(ValueError, match=msg):
        ConeGeometry(**args)
