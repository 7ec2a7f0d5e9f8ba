"""Exact (analytic) cone-beam projections of a foam phantom.

The phantom is an infinite cylinder of material ``x² + y² <= R²`` (axis ``z``) from which
non-overlapping spherical voids are removed. A projection value is the length of material
crossed by the ray from the source to a detector (sub)pixel centre:

    p = chord(cylinder) - Σ_voids chord(void),     chord(sphere) = 2 √(r² - d²)

with ``d`` the distance of the void centre to the ray. Every ray is treated as the full line
through the source and the detector point (voids must lie in front of the source, which
always holds for a phantom inside the field of view). Geometry follows
:class:`xrsr_lib.simulate.ct.geometry.ConeGeometry` exactly.

Void lists are float arrays of shape ``(N, 5)`` with rows ``(x, y, z, r, c)`` in the length
unit of the geometry (µm); ``c`` (the void's attenuation in the original foam_ct_phantom
package) is ignored here: voids are empty.

Relation to foam_ct_phantom (Pelt et al.)
-----------------------------------------
``foam_ct_phantom`` rotates the voids by its angle ``α`` (``x' = x cos α - y sin α``,
``y' = x sin α + y cos α``), puts the source at ``x' = -sod`` and the flat detector at
``x' = sdd - sod``, with detector columns along ``+y'`` and rows along ``+z``. In our frame its
source sits at ``(-sod cos α, sod sin α, 0)`` and its column axis is ``(sin α, cos α, 0)``,
which is our geometry at ``θ = 3π/2 - α`` with the column axis reversed (``u_pelt = -u``).
Hence a foam_ct_phantom cone projection equals ours at ``θ = 3π/2 - α`` with the detector
columns flipped (rows, pixel centring and supersampling are identical). Use
:func:`pelt_angles_to_xrsr`, :func:`pelt_cone_geometry` and :func:`pelt_projections_to_xrsr`.
"""

from __future__ import annotations

import math
import operator

import numpy as np
from numba import get_num_threads, njit, prange

from xrsr_lib.simulate.ct.geometry import ConeGeometry

__all__ = [
    "pelt_angles_to_xrsr",
    "pelt_cone_geometry",
    "pelt_projections_to_xrsr",
    "project_cylinder",
    "project_foam",
    "project_spheres",
]


# ---------------------------------------------------------------------------- validation
def _check_spheres(spheres: np.ndarray) -> np.ndarray:
    """Return the void list as contiguous float64 ``(N, 4)`` = (x, y, z, r)."""
    arr = np.asarray(spheres)
    if arr.ndim != 2 or arr.shape[1] != 5:
        raise ValueError(
            f"spheres must be an array of shape (N, 5) with rows (x, y, z, r, c), got shape {arr.shape}"
        )
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"spheres must be a real numeric array, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr[:, :4], dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("spheres contains non-finite values (NaN or inf) in x, y, z or r")
    if arr.shape[0] and np.any(arr[:, 3] < 0):
        raise ValueError("spheres radii (column 3) must be >= 0")
    return arr


def _check_supersampling(supersampling: int) -> int:
    if isinstance(supersampling, bool):
        raise ValueError(f"supersampling must be an integer >= 1, got {supersampling!r}")
    try:
        s = operator.index(supersampling)
    except TypeError:
        raise ValueError(f"supersampling must be an integer >= 1, got {supersampling!r}") from None
    if s < 1:
        raise ValueError(f"supersampling must be an integer >= 1, got {s}")
    return s


def _check_geometry(geometry: ConeGeometry) -> ConeGeometry:
    if not isinstance(geometry, ConeGeometry):
        raise ValueError(f"geometry must be a ConeGeometry, got {type(geometry).__name__}")
    return geometry


def _check_radius(radius: float) -> float:
    try:
        r = float(radius)
    except (TypeError, ValueError):
        raise ValueError(f"cylinder_radius must be a positive finite number, got {radius!r}") from None
    if not (math.isfinite(r) and r > 0):
        raise ValueError(f"cylinder_radius must be a positive finite number, got {radius!r}")
    return r


# ---------------------------------------------------------------------------- kernels
@njit(cache=True)
def _index_range(lo: float, hi: float, half: float, fp: float, n: int) -> tuple[int, int]:
    """Fine-pixel indices whose centres ``(k + 0.5) fp - half`` may lie in ``[lo, hi]`` (1 px margin)."""
    flo = (lo + half) / fp - 0.5
    fhi = (hi + half) / fp - 0.5
    flo = min(max(flo, -2.0), n + 1.0)
    fhi = min(max(fhi, -2.0), n + 1.0)
    k0 = max(int(math.ceil(flo)) - 1, 0)
    k1 = min(int(math.floor(fhi)) + 1, n - 1)
    return k0, k1


@njit(cache=True)
def _shadow_bounds(cw: float, ct: float, r: float, sdd: float) -> tuple[float, float]:
    """Interval of detector coordinates hit by the tangent cone, projected on one detector axis.

    ``cw`` is the depth of the sphere centre along the central ray from the source and ``ct``
    its transverse offset along the detector axis. Projecting rays and sphere orthogonally onto
    the (central ray, axis) plane can only shrink distances, so the 2D tangent lines from the
    source bound the shadow conservatively. Requires ``cw > r`` (source outside the sphere).
    """
    rho = math.sqrt(cw * cw + ct * ct)
    half_angle = math.asin(min(r / rho, 1.0))
    centre = math.atan2(ct, cw)
    lo_angle = centre - half_angle
    hi_angle = centre + half_angle
    lim = 0.5 * math.pi - 1e-9
    lo = -math.inf if lo_angle <= -lim else sdd * math.tan(lo_angle)
    hi = math.inf if hi_angle >= lim else sdd * math.tan(hi_angle)
    return lo, hi


@njit(parallel=True, cache=True)
def _spheres_kernel(
    spheres: np.ndarray,
    angles: np.ndarray,
    sod: float,
    odd: float,
    rows: int,
    cols: int,
    pix: float,
    ss: int,
    base: np.ndarray,
    sign: float,
    out: np.ndarray,
) -> None:
    """``out[a] = base + sign * mean_{sub-pixels} Σ_spheres chord`` for every angle ``a``."""
    n_ang = angles.shape[0]
    n_sph = spheres.shape[0]
    sdd = sod + odd
    sdd2 = sdd * sdd
    fp = pix / ss
    half_u = 0.5 * cols * pix
    half_v = 0.5 * rows * pix
    rows_f = rows * ss
    cols_f = cols * ss
    scale = sign / (ss * ss)
    for a in prange(n_ang):
        st = math.sin(angles[a])
        ct = math.cos(angles[a])
        buf = np.zeros((rows, cols), dtype=np.float64)
        for q in range(n_sph):
            r = spheres[q, 3]
            if r <= 0.0:
                continue
            r2 = r * r
            # centre relative to the source, in the (w, u, v) frame (w = central ray direction)
            cx = spheres[q, 0] - sod * st
            cy = spheres[q, 1] + sod * ct
            cv = spheres[q, 2]
            cw = -st * cx + ct * cy
            cu = ct * cx + st * cy
            if cw + r <= 0.0:
                continue  # entirely behind the source
            if cw > r:
                u_lo, u_hi = _shadow_bounds(cw, cu, r, sdd)
                v_lo, v_hi = _shadow_bounds(cw, cv, r, sdd)
                j0, j1 = _index_range(u_lo, u_hi, half_u, fp, cols_f)
                i0, i1 = _index_range(v_lo, v_hi, half_v, fp, rows_f)
            else:  # source inside or grazing the sphere: visit the whole detector
                j0, j1 = 0, cols_f - 1
                i0, i1 = 0, rows_f - 1
            # per row, |c x d|² - r² |d|² = qa u² + qb u + qc; the hit columns lie between its roots
            qa = cv * cv + cw * cw - r2
            for i in range(i0, i1 + 1):
                b = (i + 0.5) * fp - half_v
                py = cv * sdd - cw * b
                py2 = py * py
                base_d2 = sdd2 + b * b
                bi = i // ss
                k0, k1 = j0, j1
                if qa > 0.0:
                    qb = -2.0 * cu * (b * cv + sdd * cw)
                    qc = cu * cu * base_d2 + py2 - r2 * base_d2
                    disc = qb * qb - 4.0 * qa * qc
                    if disc < 0.0:
                        disc = 0.0  # keep a 1-px window around the tangent point; the exact test decides
                    sq = math.sqrt(disc)
                    inv2a = 0.5 / qa
                    lo, hi = _index_range((-qb - sq) * inv2a, (-qb + sq) * inv2a, half_u, fp, cols_f)
                    k0 = max(k0, lo)
                    k1 = min(k1, hi)
                for j in range(k0, k1 + 1):
                    u = (j + 0.5) * fp - half_u
                    # |c x d|² / |d|² with d = (sdd, u, b) in the (w, u, v) frame
                    px = cu * b - cv * u
                    pz = cw * u - cu * sdd
                    dist2 = (px * px + py2 + pz * pz) / (base_d2 + u * u)
                    if dist2 < r2:
                        buf[bi, j // ss] += 2.0 * math.sqrt(r2 - dist2)
        for i in range(rows):
            for j in range(cols):
                out[a, i, j] = base[i, j] + scale * buf[i, j]


def _fine_coords(n: int, pix: float, ss: int) -> np.ndarray:
    """Sub-pixel centres ``(k + 0.5) pix / ss - n pix / 2`` of an ``ss``× finer detector axis."""
    return (np.arange(n * ss, dtype=np.float64) + 0.5) * (pix / ss) - 0.5 * n * pix


def _cylinder_image(geometry: ConeGeometry, radius: float, ss: int) -> np.ndarray:
    """Cylinder chord (float64, box-averaged over ``ss``² sub-pixels); identical for every angle."""
    sod, sdd = geometry.source_origin, geometry.source_detector
    u = _fine_coords(geometry.det_cols, geometry.det_pixel, ss)[None, :]
    v = _fine_coords(geometry.det_rows, geometry.det_pixel, ss)[:, None]
    len2d_sq = sdd * sdd + u * u
    # source at (-sod, 0) in the (w, u) plane; distance of the axis to the ray's 2D trace
    dist2 = (sod * u) ** 2 / len2d_sq
    inside = np.maximum(radius * radius - dist2, 0.0)
    chord = 2.0 * np.sqrt(inside) * np.sqrt((len2d_sq + v * v) / len2d_sq)
    rows, cols = geometry.det_rows, geometry.det_cols
    return chord.reshape(rows, ss, cols, ss).mean(axis=(1, 3))


def _run(
    spheres: np.ndarray,
    geometry: ConeGeometry,
    ss: int,
    base: np.ndarray,
    sign: float,
    progress: bool,
    desc: str,
) -> np.ndarray:
    angles = np.ascontiguousarray(geometry.angles, dtype=np.float64)
    out = np.empty((angles.size, geometry.det_rows, geometry.det_cols), dtype=np.float32)
    args = (
        float(geometry.source_origin),
        float(geometry.origin_detector),
        int(geometry.det_rows),
        int(geometry.det_cols),
        float(geometry.det_pixel),
        int(ss),
        np.ascontiguousarray(base, dtype=np.float64),
        float(sign),
    )
    if not progress:
        _spheres_kernel(spheres, angles, *args, out)
        return out
    from tqdm.auto import tqdm

    nthr = max(1, get_num_threads())
    chunk = max(nthr, -(-angles.size // 20))
    chunk = -(-chunk // nthr) * nthr
    with tqdm(total=angles.size, desc=desc, unit="proj") as bar:
        for a0 in range(0, angles.size, chunk):
            a1 = min(a0 + chunk, angles.size)
            _spheres_kernel(spheres, angles[a0:a1], *args, out[a0:a1])
            bar.update(a1 - a0)
    return out


# ---------------------------------------------------------------------------- public API
def project_spheres(
    spheres: np.ndarray, geometry: ConeGeometry, supersampling: int = 1, progress: bool = False
) -> np.ndarray:
    """Sum of the chord lengths of every ray through a set of spheres.

    Parameters
    ----------
    spheres : numpy.ndarray
        ``(N, 5)`` rows ``(x, y, z, r, c)`` in the geometry's length unit; ``c`` is ignored.
    geometry : ConeGeometry
        Acquisition geometry (see :mod:`xrsr_lib.simulate.ct.geometry` for the convention).
    supersampling : int
        Rays per detector pixel along each axis; the ``s × s`` sub-pixel values (centres at
        ``((k + 0.5) / s - 0.5) * det_pixel`` from the pixel centre) are box-averaged.
    progress : bool
        Show a tqdm progress bar over chunks of angles.

    Returns
    -------
    numpy.ndarray
        float32 ``(n_angles, det_rows, det_cols)``; chords are computed in float64.
    """
    geometry = _check_geometry(geometry)
    sph = _check_spheres(spheres)
    ss = _check_supersampling(supersampling)
    base = np.zeros((geometry.det_rows, geometry.det_cols), dtype=np.float64)
    return _run(sph, geometry, ss, base, 1.0, progress, "sphere projections")


def project_cylinder(geometry: ConeGeometry, radius: float, supersampling: int = 1) -> np.ndarray:
    """Chord length through the infinite cylinder ``x² + y² <= radius²`` (axis ``z``).

    Parameters
    ----------
    geometry : ConeGeometry
        Acquisition geometry.
    radius : float
        Cylinder radius in the geometry's length unit (> 0).
    supersampling : int
        Rays per detector pixel along each axis (box-averaged).

    Returns
    -------
    numpy.ndarray
        float32 ``(n_angles, det_rows, det_cols)``; identical for every angle because the
        cylinder is rotationally symmetric about the rotation axis.
    """
    geometry = _check_geometry(geometry)
    radius = _check_radius(radius)
    ss = _check_supersampling(supersampling)
    img = _cylinder_image(geometry, radius, ss).astype(np.float32)
    return np.ascontiguousarray(np.broadcast_to(img, (geometry.n_angles, *img.shape)))


def project_foam(
    spheres: np.ndarray,
    geometry: ConeGeometry,
    cylinder_radius: float = 1.0,
    supersampling: int = 1,
    progress: bool = False,
) -> np.ndarray:
    """Material path length through a foam phantom: cylinder chord minus void chords.

    Parameters
    ----------
    spheres : numpy.ndarray
        ``(N, 5)`` void list ``(x, y, z, r, c)``; voids must not overlap (``c`` is ignored).
    geometry : ConeGeometry
        Acquisition geometry.
    cylinder_radius : float
        Radius of the material cylinder, same unit as the voids and the geometry.
    supersampling : int
        Rays per detector pixel along each axis (box-averaged).
    progress : bool
        Show a tqdm progress bar over chunks of angles.

    Returns
    -------
    numpy.ndarray
        float32 ``(n_angles, det_rows, det_cols)``, accumulated in float64 before rounding.
    """
    geometry = _check_geometry(geometry)
    sph = _check_spheres(spheres)
    radius = _check_radius(cylinder_radius)
    ss = _check_supersampling(supersampling)
    base = _cylinder_image(geometry, radius, ss)
    return _run(sph, geometry, ss, base, -1.0, progress, "foam projections")


# ---------------------------------------------------------------------------- foam_ct_phantom
def pelt_angles_to_xrsr(angles: np.ndarray) -> np.ndarray:
    """Convert foam_ct_phantom cone-beam angles ``α`` to our ``θ = (3π/2 - α) mod 2π``.

    Our projection at ``θ`` equals foam_ct_phantom's at ``α`` with the detector columns
    reversed (see :func:`pelt_projections_to_xrsr`); rows are not flipped.
    """
    a = np.asarray(angles, dtype=np.float64)
    return np.mod(1.5 * np.pi - a, 2.0 * np.pi)


def pelt_projections_to_xrsr(projs: np.ndarray) -> np.ndarray:
    """Reverse the detector columns of foam_ct_phantom projections ``(..., ny, nx)``."""
    return np.asarray(projs)[..., ::-1]


def pelt_cone_geometry(
    angles: np.ndarray, sod: float, odd: float, nx: int, ny: int, pixsize: float
) -> ConeGeometry:
    """Our :class:`ConeGeometry` equivalent to a foam_ct_phantom ``ConeGeometry``.

    Parameters are foam_ct_phantom's (``pixsize`` at the detector, ``nx`` columns, ``ny`` rows);
    projections made with it match ``pelt_projections_to_xrsr(pelt_projs)``.
    """
    return ConeGeometry(float(sod), float(odd), int(ny), int(nx), float(pixsize), pelt_angles_to_xrsr(angles))
