"""Tests of the PyTorch cone-beam projector and FDK against closed-form line integrals.

The oracles here are written independently of :mod:`xrsr_lib.simulate.ct.analytic` and of the projector: a
ray from the source to a pixel centre is built directly from the documented geometry convention
and intersected with spheres / cylinders in closed form.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from xrsr_lib.simulate.ct import _helpers, backprojection
from xrsr_lib.simulate.ct.astra_projector import astra_available, astra_status
from xrsr_lib.simulate.ct.backprojection import _apply_symmetry
from xrsr_lib.simulate.ct.geometry import ConeGeometry
from xrsr_lib.simulate.ct.reconstruct import fdk, project
from xrsr_lib.simulate.ct.torch_projector import (
    FILTERS,
    angular_weights,
    fdk_reconstruct,
    filter_projections,
    forward_project,
    ramp_filter_response,
)
from xrsr_lib.simulate.ct.view_symmetry import SQUARE_SYMMETRIES, view_orbits, voxel_permutation

N = 64  # volume edge (voxels)
VS = 1.5  # voxel size (µm)
SOD, ODD = 160.0, 80.0  # µm; cone angle ~ ±20°
N_VIEWS = 96


# --- oracles
def ray_bundle(geom: ConeGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Source positions ``(A, 1, 1, 3)`` and unit ray directions ``(A, rows, cols, 3)``."""
    th = geom.angles[:, None, None]
    s, c = np.sin(th), np.cos(th)
    u = geom.u_coords()[None, None, :]
    v = geom.v_coords()[None, :, None]
    src = np.stack([geom.source_origin * s, -geom.source_origin * c, np.zeros_like(s)], axis=-1)
    det = np.stack([-geom.origin_detector * s, geom.origin_detector * c, np.zeros_like(s)], axis=-1)
    pix = det + u[..., None] * np.stack([c, s, np.zeros_like(s)], -1) + v[..., None] * np.array([0, 0, 1.0])
    d = pix - src
    return src, d / np.linalg.norm(d, axis=-1, keepdims=True)


def sphere_chords(geom: ConeGeometry, spheres: list[tuple[float, float, float, float, float]]) -> np.ndarray:
    """Exact line integrals of spheres ``(x, y, z, radius, mu)``: chord = 2 sqrt(r² - d²)."""
    src, d = ray_bundle(geom)
    out = np.zeros(d.shape[:3])
    for x, y, z, r, mu in spheres:
        w = np.array([x, y, z]) - src  # source -> centre
        t = np.sum(w * d, axis=-1)
        dist2 = np.sum(w * w, axis=-1) - t**2
        out += mu * 2.0 * np.sqrt(np.clip(r * r - dist2, 0.0, None))
    return out.astype(np.float32)


def sphere_ray_distance(geom: ConeGeometry, centre: tuple[float, float, float]) -> np.ndarray:
    """Distance of ``centre`` from every ray, ``(A, rows, cols)``."""
    src, d = ray_bundle(geom)
    w = np.array(centre) - src
    t = np.sum(w * d, axis=-1)
    return np.sqrt(np.clip(np.sum(w * w, axis=-1) - t**2, 0.0, None))


def cylinder_x_chords(geom: ConeGeometry, y0: float, z0: float, radius: float, half_len: float) -> np.ndarray:
    """Exact chords of a finite cylinder with axis along ``x`` (|x| <= half_len), centre (0, y0, z0)."""
    src, d = ray_bundle(geom)
    src = np.broadcast_to(src, d.shape)
    # Circle in the (y, z) plane: |(s_yz - c) + t d_yz|² = r².
    oy, oz = src[..., 1] - y0, src[..., 2] - z0
    a = d[..., 1] ** 2 + d[..., 2] ** 2
    b = 2 * (oy * d[..., 1] + oz * d[..., 2])
    cc = oy**2 + oz**2 - radius**2
    disc = b * b - 4 * a * cc
    ok = (disc > 0) & (a > 1e-12)
    sq = np.sqrt(np.where(ok, disc, 0.0))
    a_safe = np.where(ok, a, 1.0)
    t1, t2 = (-b - sq) / (2 * a_safe), (-b + sq) / (2 * a_safe)
    # Slab |x| <= half_len.
    dx = np.where(np.abs(d[..., 0]) < 1e-12, 1e-12, d[..., 0])
    tx1, tx2 = (-half_len - src[..., 0]) / dx, (half_len - src[..., 0]) / dx
    t3, t4 = np.minimum(tx1, tx2), np.maximum(tx1, tx2)
    length = np.clip(np.minimum(t2, t4) - np.maximum(t1, t3), 0.0, None)
    return np.where(ok, length, 0.0).astype(np.float32)


def _centres(shape: tuple[int, int, int], vs: float, center=(0.0, 0.0, 0.0)) -> list[np.ndarray]:
    return [(np.arange(n) - (n - 1) / 2.0) * vs + c for n, c in zip(shape, center, strict=True)]


def voxelize(shape, vs, inside, center=(0.0, 0.0, 0.0), ss: int = 4) -> np.ndarray:
    """Partial-volume voxelization of an indicator ``inside(x, y, z)`` with ``ss³`` subsamples.

    Only voxels whose centre value differs from a neighbour's (the surface shell) are supersampled.
    """
    zc, yc, xc = _centres(shape, vs, center)
    z, y, x = np.meshgrid(zc, yc, xc, indexing="ij")
    base = inside(x, y, z).astype(np.float64)
    shell = ndimage.binary_dilation(base > 0, iterations=2) & ~ndimage.binary_erosion(base > 0, iterations=2)
    idx = np.nonzero(shell)
    off = ((np.arange(ss) + 0.5) / ss - 0.5) * vs
    oz, oy, ox = (o.reshape(-1) for o in np.meshgrid(off, off, off, indexing="ij"))
    frac = inside(
        x[idx][:, None] + ox[None, :], y[idx][:, None] + oy[None, :], z[idx][:, None] + oz[None, :]
    ).mean(axis=1)
    base[idx] = frac
    return base.astype(np.float32)


def sphere_indicator(spheres):
    def inside(x, y, z):
        out = np.zeros(np.broadcast(x, y, z).shape, dtype=bool)
        for cx, cy, cz, r, _ in spheres:
            out |= (x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2 <= r * r
        return out

    return inside


def predicted_pixel(geom: ConeGeometry, a: int, point: tuple[float, float, float]) -> tuple[float, float]:
    """(row, col) where the ray source -> ``point`` hits the detector, from the documented convention."""
    th = geom.angles[a]
    s, c = math.sin(th), math.cos(th)
    src = np.array([geom.source_origin * s, -geom.source_origin * c, 0.0])
    det = np.array([-geom.origin_detector * s, geom.origin_detector * c, 0.0])
    n = np.array([-s, c, 0.0])
    u, v = np.array([c, s, 0.0]), np.array([0.0, 0.0, 1.0])
    p = np.asarray(point, dtype=float)
    lam = np.dot(det - src, n) / np.dot(p - src, n)
    hit = src + lam * (p - src)
    col = np.dot(hit - det, u) / geom.det_pixel + (geom.det_cols - 1) / 2.0
    row = np.dot(hit - det, v) / geom.det_pixel + (geom.det_rows - 1) / 2.0
    return row, col


# --- fixtures
@pytest.fixture(scope="module")
def geom() -> ConeGeometry:
    return ConeGeometry.for_volume(N, VS, N_VIEWS, SOD, ODD)


@pytest.fixture(scope="module")
def fine_geom(geom: ConeGeometry) -> ConeGeometry:
    """Same scan with a detector twice as fine (for FDK from exact projections)."""
    return ConeGeometry.circular(
        N_VIEWS, SOD, ODD, 2 * geom.det_rows, 2 * geom.det_cols, geom.det_pixel / 2.0
    )


SPHERE = (4.0, -3.0, 2.5, 30.0, 1.0)  # x, y, z, r (µm), mu


@pytest.fixture(scope="module")
def sphere_fdk(fine_geom: ConeGeometry) -> np.ndarray:
    p = sphere_chords(fine_geom, [SPHERE])
    return fdk_reconstruct(p, fine_geom, (N, N, N), VS, device="cpu")


# --- forward projector
def test_forward_sphere_matches_exact_chords(geom: ConeGeometry) -> None:
    vol = voxelize((N, N, N), VS, sphere_indicator([SPHERE]))
    assert abs(vol.sum() * VS**3 / (4 / 3 * math.pi * SPHERE[3] ** 3) - 1) < 2e-3  # oracle sanity
    fp = forward_project(vol, geom, VS, device="cpu")
    exact = sphere_chords(geom, [SPHERE])
    d = sphere_ray_distance(geom, SPHERE[:3])
    interior = d < 0.7 * SPHERE[3]  # rays well away from the rim
    rel = np.abs(fp[interior] - exact[interior]) / exact[interior]
    assert interior.sum() > 1000
    assert rel.max() < 0.015, rel.max()
    assert abs(np.mean(fp[interior] - exact[interior]) / np.mean(exact[interior])) < 0.003
    # Rays missing the object stay (essentially) zero.
    outside = d > SPHERE[3] + 2 * VS
    assert np.abs(fp[outside]).max() < 1e-4


def test_forward_cylinder_matches_exact_chords(geom: ConeGeometry) -> None:
    y0, z0, r, hl = 6.0, -4.0, 20.0, 30.0

    def inside(x, y, z):
        return ((y - y0) ** 2 + (z - z0) ** 2 <= r * r) & (np.abs(x) <= hl)

    vol = voxelize((N, N, N), VS, inside)
    fp = forward_project(vol, geom, VS, device="cpu")
    exact = cylinder_x_chords(geom, y0, z0, r, hl)
    # Interior rays: chords insensitive to the surface position (growing/shrinking the cylinder by one
    # voxel changes them by < 14 %; the minimum possible is 4 voxels / chord ≈ 10-15 %), which excludes
    # rims, cap edges and rays leaving through the curved wall at a grazing angle.
    grow = cylinder_x_chords(geom, y0, z0, r + VS, hl + VS)
    shrink = cylinder_x_chords(geom, y0, z0, r - VS, hl - VS)
    interior = (shrink > 0) & (grow - shrink < 0.14 * exact)
    rel = np.abs(fp[interior] - exact[interior]) / exact[interior]
    assert interior.sum() > 1000
    assert rel.max() < 0.015, rel.max()


def test_forward_orientation_peaks(geom: ConeGeometry) -> None:
    """Small spheres at distinct known positions project where the convention says (no flips/swaps)."""
    spheres = [(18.0, 0.0, 0.0, 4.5, 1.0), (0.0, 12.0, 0.0, 6.0, 1.0), (0.0, 0.0, -15.0, 7.5, 1.0)]
    for sph in spheres:
        vol = voxelize((N, N, N), VS, sphere_indicator([sph]))
        sub = ConeGeometry(SOD, ODD, geom.det_rows, geom.det_cols, geom.det_pixel, geom.angles[::12])
        fp = forward_project(vol, sub, VS, device="cpu")
        exact = sphere_chords(sub, [sph])
        for a in range(sub.n_angles):
            c_fp = ndimage.center_of_mass(fp[a])
            c_ex = ndimage.center_of_mass(exact[a])
            pred = predicted_pixel(sub, a, sph[:3])
            # small spheres (3-5 voxels radius): discretisation moves the centroid by up to ~0.1 px
            assert np.allclose(c_fp, c_ex, atol=0.2), (sph, a, c_fp, c_ex)
            assert np.allclose(c_ex, pred, atol=0.3), (sph, a, c_ex, pred)
    # Whole phantom: projections agree with the oracle and not with mirrored versions of it.
    vol = voxelize((N, N, N), VS, sphere_indicator(spheres))
    fp = forward_project(vol, geom, VS, device="cpu")
    exact = sphere_chords(geom, spheres)
    err = np.linalg.norm(fp - exact) / np.linalg.norm(exact)
    assert err < 0.12  # small spheres: discretisation error is a few % of the norm
    for flipped in (exact[:, ::-1, :], exact[:, :, ::-1]):
        assert np.linalg.norm(fp - flipped) / np.linalg.norm(exact) > 4 * err


def test_forward_with_volume_center_offset(geom: ConeGeometry) -> None:
    center = (3 * VS, -5 * VS, 4 * VS)  # (z, y, x)
    sph = (10.0, -8.0, 5.0, 20.0, 1.0)
    vol = voxelize((N, N, N), VS, sphere_indicator([sph]), center=center)
    sub = ConeGeometry(SOD, ODD, geom.det_rows, geom.det_cols, geom.det_pixel, geom.angles[::8])
    fp = forward_project(vol, sub, VS, center=center, device="cpu")
    exact = sphere_chords(sub, [sph])
    interior = sphere_ray_distance(sub, sph[:3]) < 0.6 * sph[3]
    rel = np.abs(fp[interior] - exact[interior]) / exact[interior]
    assert rel.max() < 0.015, rel.max()


def test_forward_types_and_dtype(geom: ConeGeometry) -> None:
    sub = ConeGeometry(SOD, ODD, 20, 24, geom.det_pixel * 3, geom.angles[:3])
    vol = np.random.default_rng(0).random((16, 12, 10))  # float64, non-cubic
    out = forward_project(vol, sub, VS * 3, device="cpu")
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (3, 20, 24)
    out_t = forward_project(torch.from_numpy(vol), sub, VS * 3)
    assert isinstance(out_t, torch.Tensor) and out_t.dtype == torch.float32
    assert out_t.device.type == "cpu"
    np.testing.assert_allclose(out_t.numpy(), out, rtol=1e-5, atol=1e-5)
    assert np.all(forward_project(np.zeros((8, 8, 8)), sub, VS, device="cpu") == 0)


# --- FDK
def test_fdk_recovers_uniform_sphere(sphere_fdk: np.ndarray) -> None:
    rec = sphere_fdk
    assert rec.dtype == np.float32 and rec.shape == (N, N, N)
    zc, yc, xc = _centres((N, N, N), VS)
    z, y, x = np.meshgrid(zc, yc, xc, indexing="ij")
    r = np.sqrt((x - SPHERE[0]) ** 2 + (y - SPHERE[1]) ** 2 + (z - SPHERE[2]) ** 2)
    central = (r < 0.6 * SPHERE[3]) & (np.abs(z - SPHERE[2]) < 0.3 * SPHERE[3])
    assert central.sum() > 1000
    assert abs(rec[central].mean() - 1.0) < 0.01, rec[central].mean()
    assert np.percentile(np.abs(rec[central] - 1.0), 95) < 0.05
    # Background outside the sphere in the central slab is ~0 on average; individual voxels carry
    # view-aliasing streaks (96 views for a detector twice as fine as the voxels: |.| ~ 0.04 on average).
    outside = (r > SPHERE[3] + 4 * VS) & (np.abs(z - SPHERE[2]) < 0.3 * SPHERE[3]) & (np.hypot(x, y) < 40)
    assert abs(rec[outside].mean()) < 0.01
    assert np.abs(rec[outside]).mean() < 0.06


def test_fdk_orientation_and_center_offset(geom: ConeGeometry) -> None:
    """Spheres at (+a,0,0), (0,+b,0), (0,0,-c) reconstruct at the predicted [iz, iy, ix] indices."""
    center = (2 * VS, -3 * VS, 4 * VS)  # (z, y, x) of the volume centre
    spheres = [(20.0, 0.0, 0.0, 4.5, 1.0), (0.0, 12.0, 0.0, 6.0, 1.0), (0.0, 0.0, -16.0, 7.5, 1.0)]
    p = sphere_chords(geom, spheres)
    rec = fdk_reconstruct(p, geom, (N, N, N), VS, center=center, device="cpu")
    labels, n_lab = ndimage.label(rec > 0.5)
    assert n_lab == 3
    sizes = ndimage.sum_labels(np.ones_like(rec), labels, index=range(1, 4))
    order = np.argsort(sizes)  # smallest blob <-> smallest sphere
    coms = ndimage.center_of_mass(rec, labels, index=[int(i) + 1 for i in order])
    for (x, y, z, _, _), com in zip(spheres, coms, strict=True):
        pred = (
            (z - center[0]) / VS + (N - 1) / 2,
            (y - center[1]) / VS + (N - 1) / 2,
            (x - center[2]) / VS + (N - 1) / 2,
        )
        assert np.allclose(com, pred, atol=0.25), (com, pred)


@pytest.mark.parametrize("name", FILTERS)
def test_fdk_filter_windows(name: str, geom: ConeGeometry) -> None:
    sub = ConeGeometry.for_volume(32, 2 * VS, 48, SOD, ODD)
    sph = (2.0, -1.0, 0.0, 24.0, 1.0)
    rec = fdk_reconstruct(sphere_chords(sub, [sph]), sub, (32, 32, 32), 2 * VS, filter=name, device="cpu")
    assert rec.dtype == np.float32 and np.all(np.isfinite(rec))
    zc, yc, xc = _centres((32, 32, 32), 2 * VS)
    z, y, x = np.meshgrid(zc, yc, xc, indexing="ij")
    inner = ((x - sph[0]) ** 2 + (y - sph[1]) ** 2 + z**2) < (0.5 * sph[3]) ** 2
    assert abs(rec[inner].mean() - 1.0) < 0.02, (name, rec[inner].mean())


def test_ramp_response_properties() -> None:
    base = ramp_filter_response(256, 1.0, "ram-lak")
    assert base.shape == (129,)
    assert 0 < base[0] < 0.01  # spatial ramp: small positive DC, no offset problem
    assert np.all(np.diff(base) > 0)
    assert math.isclose(base[-1], 0.5, rel_tol=0.02)  # |f| at Nyquist (cycles/sample) for τ = 1
    for name in FILTERS[1:]:
        w = ramp_filter_response(256, 1.0, name)
        assert np.all(w <= base + 1e-12) and w[1] > 0.98 * base[1]
    assert ramp_filter_response(256, 1.0, "hann")[-1] < 1e-6
    # Aliases / case
    np.testing.assert_allclose(
        ramp_filter_response(64, 2.0, "Shepp_Logan"), ramp_filter_response(64, 2.0, "shepp-logan")
    )


def test_angular_weights() -> None:
    w = angular_weights(np.linspace(0, 2 * np.pi, 90, endpoint=False))
    np.testing.assert_allclose(w, 2 * np.pi / 90)
    # Uneven but complete coverage is accepted and integrates to 2π.
    step = 2 * np.pi / 100
    a = np.arange(100) * step + np.random.default_rng(1).uniform(-0.3, 0.3, 100) * step + 7.0
    w = angular_weights(a[np.random.default_rng(2).permutation(100)])
    assert math.isclose(w.sum(), 2 * np.pi, rel_tol=1e-9) and w.min() > 0.3 * step
    with pytest.raises(ValueError, match="short-scan"):
        angular_weights(np.linspace(0, np.pi, 90, endpoint=False))
    with pytest.raises(ValueError, match="short-scan"):
        angular_weights(np.linspace(0, 1.5 * np.pi, 90, endpoint=False))


@pytest.mark.parametrize("name", FILTERS)
def test_filter_projections_matches_power_of_two_padding(name: str) -> None:
    """Filtering on the short fast FFT length equals the plain power-of-two padded convolution."""
    geom = ConeGeometry.circular(3, 100.0, 50.0, 5, 94, 1.5)  # 2 * 94 - 1 = 187 -> 192 instead of 256
    p = np.random.default_rng(4).random((3, 5, 94)).astype(np.float32)
    sdd = geom.source_detector
    u, v = geom.u_coords()[None, :], geom.v_coords()[:, None]
    weighted = p * sdd / np.sqrt(sdd**2 + u**2 + v**2)
    resp = ramp_filter_response(256, geom.pixel_at_isocenter, name)
    ref = np.fft.irfft(np.fft.rfft(weighted, n=256) * resp, n=256)[..., :94]
    out = filter_projections(torch.from_numpy(p), geom, name).numpy()
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-6 * np.abs(ref).max())


def reference_fdk(
    projections: np.ndarray,
    geom: ConeGeometry,
    shape: tuple[int, int, int],
    vs: float,
    center=(0.0, 0.0, 0.0),
    filter: str = "ram-lak",
) -> np.ndarray:
    """Straightforward FDK: filter_projections, then one view at a time in float64, explicit bilinear
    interpolation (pixel centres at integer indices, zero outside the detector) and weight
    ``Δθ / 2 · (sod / L)²``."""
    q = filter_projections(torch.from_numpy(projections), geom, filter).double().numpy()
    dtheta = angular_weights(geom.angles)
    zc, yc, xc = _centres(shape, vs, center)
    z, y, x = zc[:, None, None], yc[None, :, None], xc[None, None, :]
    sod, sdd, pix = geom.source_origin, geom.source_detector, geom.det_pixel
    vol = np.zeros(shape)
    for a, th in enumerate(geom.angles):
        s, c = math.sin(th), math.cos(th)
        L = sod - x * s + y * c  # source -> voxel along the central ray
        col = (x * c + y * s) * sdd / L / pix + (geom.det_cols - 1) / 2.0
        row = z * sdd / L / pix + (geom.det_rows - 1) / 2.0
        col, row = np.broadcast_arrays(col, row)
        c0, r0 = np.floor(col), np.floor(row)
        val = np.zeros(shape)
        for dr, wr in ((0, 1 - (row - r0)), (1, row - r0)):
            for dc, wc in ((0, 1 - (col - c0)), (1, col - c0)):
                rr, cc = (r0 + dr).astype(int), (c0 + dc).astype(int)
                ok = (rr >= 0) & (rr < geom.det_rows) & (cc >= 0) & (cc < geom.det_cols)
                val += (
                    wr
                    * wc
                    * np.where(
                        ok, q[a][np.clip(rr, 0, geom.det_rows - 1), np.clip(cc, 0, geom.det_cols - 1)], 0.0
                    )
                )
        vol += 0.5 * dtheta[a] * (sod / L) ** 2 * val
    return vol


@pytest.mark.parametrize(
    "case",
    [
        "symmetric",  # square, centred, 32 evenly spaced views from 0: orbits of 8 and 4 views
        "non-square",  # centred, ny != nx: rotations by 180° and the axis mirrors only
        "offset",  # off-axis volume: no symmetry
        "rotated angles",  # 28 views from 0.1 rad: rotations by 90° only
        "irregular angles",  # jittered angles: no symmetry
    ],
)
def test_fdk_matches_reference_implementation(case: str) -> None:
    """The grouped (symmetry-sharing, slab-wise, threaded) backprojection equals plain FDK."""
    vs, shape, center, n_views = 1.0, (11, 14, 14), (0.0, 0.0, 0.0), 32
    angles = None
    if case == "non-square":
        shape = (11, 12, 15)
    elif case == "offset":
        center = (0.5, 1.0, -2.0)
    elif case == "rotated angles":
        angles = 0.1 + np.arange(28) * 2 * np.pi / 28
    elif case == "irregular angles":
        step = 2 * np.pi / n_views
        angles = np.arange(n_views) * step + np.random.default_rng(3).uniform(-0.2, 0.2, n_views) * step
    geom = ConeGeometry.for_volume(16, vs, n_views, 40.0, 20.0)
    if angles is not None:
        geom = ConeGeometry(
            geom.source_origin, geom.origin_detector, geom.det_rows, geom.det_cols, geom.det_pixel, angles
        )
    p = np.random.default_rng(0).random((geom.n_angles, geom.det_rows, geom.det_cols)).astype(np.float32)
    ref = reference_fdk(p, geom, shape, vs, center)
    n_pix = shape[1] * shape[2]
    # default chunks (one slab) and tiny ones: slabs of 2-3 slices plus a remainder, one orbit per table
    for threads, chunk, table in ((1, None, None), (2, None, None), (2, 20 * n_pix, 12 * n_pix), (3, 1, 1)):
        old = torch.get_num_threads()
        torch.set_num_threads(threads)
        with pytest.MonkeyPatch.context() as mp:
            if chunk is not None:
                mp.setattr(_helpers, "_CPU_CHUNK", chunk)
                mp.setattr(backprojection, "_ORBIT_TABLE_BYTES", table)
            try:
                rec = fdk_reconstruct(p, geom, shape, vs, center=center, device="cpu")
            finally:
                torch.set_num_threads(old)
        assert rec.shape == shape and rec.dtype == np.float32
        np.testing.assert_allclose(rec, ref, rtol=0, atol=1e-5 * np.abs(ref).max())


def test_view_orbits_of_a_circular_scan() -> None:
    ops = list(SQUARE_SYMMETRIES)
    valid, orbits = view_orbits(np.linspace(0, 2 * np.pi, 256, endpoint=False), ops)
    assert valid == list(range(8))
    views = sorted(v for o in orbits for v in o.views)
    assert views == list(range(256))  # a partition
    assert sorted(len(o.views) for o in orbits) == [4, 4] + [8] * 31  # 0° and 45° are mirror-fixed
    for o in orbits:
        assert o.ops[0] == 0 and len(set(o.views)) == len(o.views)
        assert list(o.ops) == sorted(o.ops)
        th = np.linspace(0, 2 * np.pi, 256, endpoint=False)
        for v, k in zip(o.views, o.ops, strict=True):
            d = np.mod(ops[k].angle(th[o.views[0]]) - th[v] + np.pi, 2 * np.pi) - np.pi
            assert abs(d) < 1e-9
    # 90 views: no 90° rotation (90 is not a multiple of 4), the 180° rotation and mirrors remain
    valid, orbits = view_orbits(np.linspace(0, 2 * np.pi, 90, endpoint=False), ops)
    assert [ops[k].name for k in valid] == ["identity", "rot180", "mirror y", "mirror x"]
    # offset start: mirrors are lost; jitter or repeated angles: nothing is shared
    valid, _ = view_orbits(0.1 + np.linspace(0, 2 * np.pi, 64, endpoint=False), ops)
    assert [ops[k].name for k in valid] == ["identity", "rot90", "rot180", "rot270"]
    jitter = np.linspace(0, 2 * np.pi, 64, endpoint=False) + 1e-6 * np.arange(64)
    assert view_orbits(jitter, ops)[0] == [0]
    assert view_orbits(np.repeat(np.linspace(0, 2 * np.pi, 32, endpoint=False), 2), ops)[0] == [0]


@pytest.mark.parametrize("op", SQUARE_SYMMETRIES, ids=lambda op: op.name)
def test_symmetry_moves_voxels_as_documented(op) -> None:
    """_apply_symmetry (flips / transpose) agrees with the permutation of voxel centres, and the
    mirrored view's geometry matches: (s, t) of the moved voxel at the mapped angle is (±s, t)."""
    n = 6
    perm = voxel_permutation(op, n, n, 1.0, (0.0, 0.0))
    assert perm is not None and np.array_equal(np.sort(perm), np.arange(n * n))
    src = torch.arange(n * n, dtype=torch.float32).reshape(1, n, n)
    moved = _apply_symmetry(src, op).reshape(-1).numpy()
    expected = np.empty(n * n)
    expected[perm] = np.arange(n * n)
    np.testing.assert_array_equal(moved, expected)
    x, y, th = 1.3, -0.4, 0.7
    a, b, c, d = op.matrix
    x2, y2, th2 = a * x + b * y, c * x + d * y, float(op.angle(th))
    s1, t1 = x * math.cos(th) + y * math.sin(th), -x * math.sin(th) + y * math.cos(th)
    s2, t2 = x2 * math.cos(th2) + y2 * math.sin(th2), -x2 * math.sin(th2) + y2 * math.cos(th2)
    assert math.isclose(s2, -s1 if op.reflection else s1, abs_tol=1e-12)
    assert math.isclose(t2, t1, abs_tol=1e-12)
    # grids that an operation does not preserve: off-axis in x (only y -> -y survives), non-square
    assert (voxel_permutation(op, 6, 6, 1.0, (0.0, 0.3)) is None) == (op.name not in ("identity", "mirror y"))
    if op.matrix[1] != 0:  # swaps x and y
        assert voxel_permutation(op, 6, 8, 1.0, (0.0, 0.0)) is None


# --- errors
def test_fdk_parameter_errors(geom: ConeGeometry) -> None:
    p = np.zeros((geom.n_angles, geom.det_rows, geom.det_cols), np.float32)
    with pytest.raises(ValueError, match="filter"):
        fdk_reconstruct(p, geom, (8, 8, 8), VS, filter="butterworth")
    for shape in [(8, 8), (0, 8, 8), (8, -1, 8), (8, 8, 2.5), "abc"]:
        with pytest.raises(ValueError, match="shape"):
            fdk_reconstruct(p, geom, shape, VS)
    for vs in [0.0, -1.0, float("nan"), float("inf"), "x"]:
        with pytest.raises(ValueError, match="voxel_size"):
            fdk_reconstruct(p, geom, (8, 8, 8), vs)
    bad = p.copy()
    bad[3, 4, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fdk_reconstruct(bad, geom, (8, 8, 8), VS)
    with pytest.raises(ValueError, match="does not match geometry"):
        fdk_reconstruct(p[:, :-1], geom, (8, 8, 8), VS)
    with pytest.raises(ValueError, match="does not match geometry"):
        fdk_reconstruct(p[:-1], geom, (8, 8, 8), VS)
    with pytest.raises(ValueError, match="3-dimensional"):
        fdk_reconstruct(p[0], geom, (8, 8, 8), VS)
    with pytest.raises(ValueError, match="center"):
        fdk_reconstruct(p, geom, (8, 8, 8), VS, center=(0.0, 0.0))
    short = ConeGeometry.circular(N_VIEWS, SOD, ODD, geom.det_rows, geom.det_cols, geom.det_pixel, math.pi)
    with pytest.raises(ValueError, match="Parker"):
        fdk_reconstruct(p, short, (8, 8, 8), VS)
    with pytest.raises(ValueError, match="source orbit"):
        fdk_reconstruct(p, geom, (8, 400, 400), VS)


def test_forward_parameter_errors(geom: ConeGeometry) -> None:
    vol = np.zeros((8, 8, 8), np.float32)
    with pytest.raises(ValueError, match="voxel_size"):
        forward_project(vol, geom, -1.0)
    with pytest.raises(ValueError, match="3-dimensional"):
        forward_project(vol[0], geom, VS)
    bad = vol.copy()
    bad[1, 2, 3] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        forward_project(bad, geom, VS)
    with pytest.raises(ValueError, match="geometry"):
        forward_project(vol, {"type": "cone"}, VS)
    with pytest.raises(ValueError, match="numpy array or torch tensor"):
        forward_project([[[0.0]]], geom, VS)


# --- devices / backends
def test_cuda_matches_cpu(geom: ConeGeometry) -> None:
    if not torch.cuda.is_available():
        pytest.skip("CUDA not available: torch.cuda.is_available() is False")
    sph = [SPHERE]
    vol = voxelize((N, N, N), VS, sphere_indicator(sph))
    fp_cpu = forward_project(vol, geom, VS, device="cpu")
    fp_gpu = forward_project(vol, geom, VS, device="cuda")
    assert isinstance(fp_gpu, np.ndarray) and fp_gpu.dtype == np.float32
    np.testing.assert_allclose(fp_gpu, fp_cpu, atol=2e-3 * fp_cpu.max())
    t = forward_project(torch.from_numpy(vol).cuda(), geom, VS)
    assert isinstance(t, torch.Tensor) and t.is_cuda
    rec_cpu = fdk_reconstruct(fp_cpu, geom, (N, N, N), VS, device="cpu")
    rec_gpu = fdk_reconstruct(fp_cpu, geom, (N, N, N), VS, device="cuda")
    assert rec_gpu.dtype == np.float32
    np.testing.assert_allclose(rec_gpu, rec_cpu, atol=2e-3)


def test_dispatch_torch_backend(geom: ConeGeometry) -> None:
    sub = ConeGeometry.for_volume(16, 4 * VS, 24, SOD, ODD)
    p = sphere_chords(sub, [(0.0, 0.0, 0.0, 15.0, 1.0)])
    a = fdk(p, sub, (16, 16, 16), 4 * VS, backend="torch", device="cpu")
    b = fdk_reconstruct(p, sub, (16, 16, 16), 4 * VS, device="cpu")
    np.testing.assert_array_equal(a, b)
    vol = np.ones((16, 16, 16), np.float32)
    np.testing.assert_array_equal(
        project(vol, sub, 4 * VS, backend="torch", device="cpu"),
        forward_project(vol, sub, 4 * VS, device="cpu"),
    )
    with pytest.raises(ValueError, match="backend"):
        fdk(p, sub, (16, 16, 16), 4 * VS, backend="magic")
    if not astra_available():
        with pytest.raises(RuntimeError, match="ASTRA"):
            fdk(p, sub, (16, 16, 16), 4 * VS, backend="astra")
        # auto falls back to torch without touching ASTRA's 3D code
        np.testing.assert_array_equal(fdk(p, sub, (16, 16, 16), 4 * VS, device="cpu"), b)


def test_astra_matches_torch(geom: ConeGeometry) -> None:
    ok, reason = astra_status()
    if not ok:
        pytest.skip(f"astra-toolbox with CUDA not available: {reason}")
    from xrsr_lib.simulate.ct.astra_projector import astra_fdk_reconstruct, astra_forward_project

    center = (VS, -2 * VS, 3 * VS)
    sph = (10.0, -6.0, 4.0, 20.0, 1.0)
    vol = voxelize((N, N, N), VS, sphere_indicator([sph]), center=center)
    fp_t = forward_project(vol, geom, VS, center=center, device="cpu")
    fp_a = astra_forward_project(vol, geom, VS, center=center)
    assert fp_a.shape == fp_t.shape and fp_a.dtype == np.float32
    interior = sphere_ray_distance(geom, sph[:3]) < 0.6 * sph[3]
    rel = np.abs(fp_a[interior] - fp_t[interior]) / fp_t[interior]
    assert rel.max() < 0.03, rel.max()
    exact = sphere_chords(geom, [sph])
    rec_t = fdk_reconstruct(exact, geom, (N, N, N), VS, center=center, device="cpu")
    rec_a = astra_fdk_reconstruct(exact, geom, (N, N, N), VS, center=center)
    assert rec_a.shape == rec_t.shape and rec_a.dtype == np.float32
    zc, yc, xc = _centres((N, N, N), VS, center)
    z, y, x = np.meshgrid(zc, yc, xc, indexing="ij")
    inner = (x - sph[0]) ** 2 + (y - sph[1]) ** 2 + (z - sph[2]) ** 2 < (0.5 * sph[3]) ** 2
    assert abs(rec_a[inner].mean() - rec_t[inner].mean()) < 0.02
    # same orientation: the reconstructions correlate strongly
    assert np.corrcoef(rec_a.ravel(), rec_t.ravel())[0, 1] > 0.95


def test_astra_availability_requires_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CPU-only astra install must not count as available (its 3D calls would SIGFPE)."""
    import sys
    import types

    fake = types.ModuleType("astra")
    fake.use_cuda = lambda: False  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "astra", fake)
    astra_status.cache_clear()
    try:
        ok, reason = astra_status()
        assert not ok and "use_cuda" in reason
        assert not astra_available()
        with pytest.raises(RuntimeError, match="ASTRA"):
            fdk(
                np.zeros((8, 4, 4)),
                ConeGeometry.circular(8, 100.0, 50.0, 4, 4, 1.0),
                (4, 4, 4),
                1.0,
                backend="astra",
            )
    finally:
        astra_status.cache_clear()
