"""Interior (region-of-interest) scans: truncated projections and their FDK.

A scan of a region inside a larger sample sees the sample leave the detector on both sides: the
rows are cut while the sample's path length there is far from zero. Ramp-filtering a cut row
gives the familiar bright rim and cupping. The usual remedy (Ohnesorge et al. 2000, Hsieh et al.
2004) extends every row beyond the detector edge with a smooth continuation that falls to zero;
:func:`extend_truncated_rows` continues each row with the chord of the cylinder that matches its
value and slope at the edge (a round sample's profile outside the field of view), and
:func:`fdk_truncated` reconstructs from the extended rows. The offset cylinder chords of
:func:`cylinder_chords` let the simulation place the sample anywhere on the stage.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.ndimage import gaussian_filter1d

from xrsr_lib.io.validate import check_array, check_int, check_real
from xrsr_lib.simulate.ct.geometry import ConeGeometry
from xrsr_lib.simulate.ct.reconstruct import fdk

__all__ = [
    "cylinder_chords",
    "default_fit_px",
    "extend_truncated_rows",
    "extend_with_prior",
    "fdk_truncated",
    "sample_cylinder",
    "tail_extension",
    "widened",
]


def cylinder_chords(
    geometry: ConeGeometry, radius: float, center_xy: tuple[float, float], supersampling: int = 1
) -> np.ndarray:
    """Chord lengths through the infinite cylinder of ``radius`` about the vertical line ``center_xy``.

    Parameters
    ----------
    geometry : ConeGeometry
    radius : float
        Cylinder radius, µm.
    center_xy : (float, float)
        Position ``(x, y)`` of the cylinder axis in the scanner frame, µm (the rotation axis is at 0).
    supersampling : int
        Sub-rays per detector pixel side (box-averaged).

    Returns
    -------
    ndarray float32 (n_angles, det_rows, det_cols)
    """
    r = check_real(radius, "radius", 0.0, strict=True, unit=" µm")
    ss = check_int(supersampling, "supersampling", 1)
    cx, cy = (float(c) for c in center_xy)
    sod, odd, pix = geometry.source_origin, geometry.origin_detector, geometry.det_pixel
    rows, cols = geometry.det_rows, geometry.det_cols
    u = (np.arange(cols * ss) + 0.5) * (pix / ss) - 0.5 * cols * pix
    v = (np.arange(rows * ss) + 0.5) * (pix / ss) - 0.5 * rows * pix
    out = np.empty((geometry.n_angles, rows, cols), np.float32)
    for a, th in enumerate(geometry.angles):
        st, ct = math.sin(th), math.cos(th)
        sx, sy = sod * st, -sod * ct  # source
        px = -odd * st + u * ct  # detector pixels (x, y), per column
        py = odd * ct + u * st
        dx, dy = px - sx, py - sy
        len2d = np.hypot(dx, dy)
        # distance of the cylinder axis to each ray's trace in the (x, y) plane
        dist = np.abs(dx * (cy - sy) - dy * (cx - sx)) / len2d
        chord2d = 2.0 * np.sqrt(np.maximum(r * r - dist * dist, 0.0))
        chord = chord2d[None, :] * np.sqrt(len2d[None, :] ** 2 + v[:, None] ** 2) / len2d[None, :]
        out[a] = chord.reshape(rows, ss, cols, ss).mean(axis=(1, 3))
    return out


def _edge_fit(p: np.ndarray, t_um: np.ndarray, fit_px: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the value and slope (per µm of ``t``) at the last column of every row.

    A least-squares line through the row's last ``fit_px`` columns (rows smoothed along the row
    index first: it is z).
    """
    tail = gaussian_filter1d(p[..., -fit_px:].astype(np.float64), 1.0, axis=-2, mode="nearest")
    x = t_um[-fit_px:] - t_um[-1]
    xm = x.mean()
    slope = ((tail - tail.mean(-1, keepdims=True)) * (x - xm)).sum(-1) / ((x - xm) ** 2).sum()
    value = tail.mean(-1) - slope * xm
    return np.maximum(value, 0.0), slope


def _cylinder_tail(value: np.ndarray, slope: np.ndarray, k_um: np.ndarray) -> np.ndarray:
    """Chord of the cylinder matching ``value`` and ``slope`` at the edge, ``k_um`` beyond it.

    A cylinder chord ``p(t) = 2 sqrt(ρ² - (t - t_c)²)`` with ``p(t_e) = value`` and ``p'(t_e) =
    slope`` has ``d = t_e - t_c = -value · slope / 4`` and ``ρ² = value² / 4 + d²``.
    """
    d = -value * slope / 4.0
    rho2 = value**2 / 4.0 + d**2
    return 2.0 * np.sqrt(np.maximum(rho2[..., None] - (d[..., None] + k_um) ** 2, 0.0))


def default_fit_px(cols: int) -> int:
    """Edge columns the sample's circle is fitted to: a third of the row (at least 6)."""
    return min(max(6, cols // 3), cols)


def _chord_circle(p: np.ndarray, t_um: np.ndarray, fit_px: int) -> tuple[np.ndarray, np.ndarray]:
    """Return radius and centre (in ``t``) of the circle whose chords best match each row's end.

    The chords are fitted to the row's last ``fit_px`` columns (a solid disc:
    ``p² + 4t² = (4ρ² - 4t_c²) + 8 t_c · t``, a line in ``t``).
    """
    y = p[..., -fit_px:].astype(np.float64) ** 2 + 4.0 * t_um[-fit_px:] ** 2
    x = t_um[-fit_px:]
    xm = x.mean()
    slope = ((y - y.mean(-1, keepdims=True)) * (x - xm)).sum(-1) / ((x - xm) ** 2).sum()
    intercept = y.mean(-1) - slope * xm
    tc = slope / 8.0
    rho = np.sqrt(np.maximum(intercept / 4.0 + tc**2, 0.0))
    return rho, tc


def sample_cylinder(
    projections: np.ndarray, geometry: ConeGeometry, fit_px: int | None = None
) -> tuple[float, float, float]:
    """Fit the round sample behind truncated projections: radius and axis ``(x, y)``, µm.

    The sample is modelled as a disc of uniform mean density ``k`` (a foam: its matrix fraction)
    about an axis ``(x, y)``; its chord at distance ``t`` from the rotation axis, at angle ``θ``, is
    ``2k sqrt(ρ² - (t - x cos θ - y sin θ)²)``. The four parameters are fitted by least squares to
    the row-averaged edge columns of every angle (``fit_px`` per side), starting from a solid disc
    fitted row by row. Pooling all angles is robust where single rows are not (a pore crossing the
    edge bends a row).
    """
    from scipy.optimize import least_squares

    p = check_array(projections, "projections", 3, axes="(n_angles, rows, cols)")
    cols = p.shape[2]
    fit_px = min(default_fit_px(cols) if fit_px is None else fit_px, cols)
    t, cone = _detector_coords(geometry, cols, 0)
    flat = (p / cone[None]).mean(axis=1)  # (angles, cols): the pores average out along the rows
    r_right, c_right = _chord_circle(flat, t, fit_px)
    r_left, c_left = _chord_circle(flat[:, ::-1], -t[::-1], fit_px)
    tc0 = np.median(np.stack([c_right, -c_left]), axis=0)
    design = np.stack([np.cos(geometry.angles), np.sin(geometry.angles)], axis=1)
    (cx0, cy0), *_ = np.linalg.lstsq(design, tc0, rcond=None)
    radius0 = float(np.median(np.concatenate([r_right, r_left])))
    cols_used = np.r_[0:fit_px, cols - fit_px : cols]
    data = flat[:, cols_used]
    tt = t[cols_used]

    def residual(x: np.ndarray) -> np.ndarray:
        k, rho, cx, cy = x
        tc = cx * np.cos(geometry.angles) + cy * np.sin(geometry.angles)
        model = 2.0 * k * np.sqrt(np.maximum(rho**2 - (tt[None, :] - tc[:, None]) ** 2, 0.0))
        return (model - data).ravel()

    fit = least_squares(residual, [1.0, radius0, cx0, cy0], x_scale="jac")
    _, radius, cx, cy = fit.x
    return float(abs(radius)), float(cx), float(cy)


def _detector_coords(geometry: ConeGeometry, cols: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the ray distance to the axis ``t`` per column of a detector widened by ``w`` columns.

    ``w`` columns are added on each side. Also returns the cone factor ``(rows, cols + 2w)`` that
    turns in-plane chords into path lengths.
    """
    sod, sdd, pix = geometry.source_origin, geometry.source_detector, geometry.det_pixel
    u = (np.arange(-w, cols + w) - (cols - 1) / 2.0) * pix
    v = geometry.v_coords()
    t = sod * u / np.sqrt(sdd**2 + u**2)
    cone = np.sqrt(sdd**2 + u[None, :] ** 2 + v[:, None] ** 2) / np.sqrt(sdd**2 + u[None, :] ** 2)
    return t, cone


def tail_extension(projections: np.ndarray, geometry: ConeGeometry, max_widths: float = 8.0) -> int:
    """Columns needed on each side to reach the edge of the sample (:func:`sample_cylinder`).

    Capped at ``max_widths`` detector widths; 0 when no row is cut (the edges are at zero).
    """
    p = check_array(projections, "projections", 3, axes="(n_angles, rows, cols)")
    cols = p.shape[2]
    if float(np.max(np.abs(p[:, :, [0, -1]]))) == 0.0:
        return 0
    radius, cx, cy = sample_cylinder(p, geometry)
    t, _ = _detector_coords(geometry, cols, 0)
    reach = radius + math.hypot(cx, cy) - min(abs(t[0]), abs(t[-1]))
    return int(min(max(math.ceil(reach / geometry.pixel_at_isocenter) + 2, 0), max_widths * cols))


def extend_truncated_rows(
    projections: np.ndarray, geometry: ConeGeometry, extension: int, fit_px: int | None = None
) -> np.ndarray:
    """Each detector row continued by ``extension`` columns on both sides, falling smoothly to zero.

    Beyond each edge a row follows the chord profile of the sample's cylinder
    (:func:`sample_cylinder`, fitted to all rows), scaled to the row's own value at the edge: the
    water-cylinder extrapolation of Hsieh et al. (2004) with one cylinder for the whole scan.
    Rows are compared in the ray's distance to the rotation axis, ``t = sod · u / sqrt(sdd² + u²)``,
    with the cone factor ``sqrt(sdd² + u² + v²) / sqrt(sdd² + u²)`` divided out, so a round sample
    on or off the axis is continued exactly in a cone beam.

    Parameters
    ----------
    projections : ndarray (n_angles, rows, cols)
        Path lengths, µm.
    geometry : ConeGeometry
        The scan's geometry (its detector is the measured one).
    extension : int
        Columns added on each side.
    fit_px : int, optional
        Columns at each edge the row's value (and, for the cylinder, slope) is fitted to.

    Returns
    -------
    ndarray float32 (n_angles, rows, cols + 2 · extension)
    """
    p = check_array(projections, "projections", 3, axes="(n_angles, rows, cols)")
    w = check_int(extension, "extension", 0)
    if w == 0:
        return p
    cols = p.shape[2]
    fit_px = min(default_fit_px(cols) if fit_px is None else check_int(fit_px, "fit_px", 2), cols)
    radius, cx, cy = sample_cylinder(p, geometry, fit_px)
    t, cone = _detector_coords(geometry, cols, w)
    tc = cx * np.cos(geometry.angles) + cy * np.sin(geometry.angles)  # chord centre per angle
    chord = 2.0 * np.sqrt(np.maximum(radius**2 - (t[None, :] - tc[:, None]) ** 2, 0.0))  # (angles, cols)
    flat = p / cone[None, :, w : w + cols]
    out = np.empty((p.shape[0], p.shape[1], cols + 2 * w), np.float64)
    out[..., w : w + cols] = flat
    for side, edge, beyond in ((1, w + cols - 1, slice(w + cols, None)), (-1, w, slice(0, w))):
        value, slope = _edge_fit(
            flat if side == 1 else flat[..., ::-1],
            t[w : w + cols] if side == 1 else -t[w : w + cols][::-1],
            min(6, cols),
        )
        at_edge = chord[:, edge][:, None]
        scale = np.where(at_edge > 1e-6 * radius, value / np.maximum(at_edge, 1e-12), 0.0)
        tail = scale[..., None] * chord[:, None, beyond]
        # where the sample's cylinder ends before the edge, fall back to the row's own cylinder
        own = _cylinder_tail(value, slope, np.abs(t[beyond] - t[edge]))
        out[..., beyond] = np.where(at_edge[..., None] > 1e-6 * radius, tail, own)
    return (out * cone[None]).astype(np.float32)


def widened(geometry: ConeGeometry, extension: int) -> ConeGeometry:
    """Return the geometry with ``extension`` more detector columns on each side."""
    return ConeGeometry(
        geometry.source_origin,
        geometry.origin_detector,
        geometry.det_rows,
        geometry.det_cols + 2 * extension,
        geometry.det_pixel,
        geometry.angles,
    )


def extend_with_prior(
    projections: np.ndarray, prior: np.ndarray, extension: int, fit_px: int = 6
) -> np.ndarray:
    """Continue truncated rows by a prior's projections.

    The prior is e.g. the coarse whole-sample scan, reprojected in this scan's geometry on a
    detector ``extension`` columns wider on each side.

    Beyond each edge a row takes the prior's row, scaled so the two agree at the edge (the value
    of each is fitted over ``fit_px`` columns): the prior supplies the shape of the sample outside
    the field of view, the measurement its level.

    Parameters
    ----------
    projections : ndarray (n_angles, rows, cols)
    prior : ndarray (n_angles, rows, cols + 2 · extension)
    extension : int

    Returns
    -------
    ndarray float32 (n_angles, rows, cols + 2 · extension)
    """
    p = check_array(projections, "projections", 3, axes="(n_angles, rows, cols)")
    w = check_int(extension, "extension", 0)
    q = check_array(prior, "prior", 3, axes="(n_angles, rows, cols + 2 · extension)")
    if q.shape != (p.shape[0], p.shape[1], p.shape[2] + 2 * w):
        raise ValueError(
            f"prior has shape {q.shape}; projections {p.shape} with {w} extra columns a side "
            f"need {(p.shape[0], p.shape[1], p.shape[2] + 2 * w)}"
        )
    cols = p.shape[2]
    out = q.astype(np.float64, copy=True)
    out[..., w : w + cols] = p
    edges = (
        (p[..., -fit_px:], q[..., w + cols - fit_px : w + cols], slice(w + cols, None)),
        (p[..., :fit_px], q[..., w : w + fit_px], slice(0, w)),
    )
    for meas, pri, beyond in edges:
        m = gaussian_filter1d(meas.astype(np.float64), 1.0, axis=-2, mode="nearest").mean(-1)
        r = gaussian_filter1d(pri.astype(np.float64), 1.0, axis=-2, mode="nearest").mean(-1)
        scale = np.where(r > 1e-6 * max(float(q.max()), 1e-12), m / np.maximum(r, 1e-12), 0.0)
        out[..., beyond] = q[..., beyond] * scale[..., None]
    return out.astype(np.float32)


def fdk_truncated(
    projections: np.ndarray,
    geometry: ConeGeometry,
    shape: Sequence[int],
    voxel_size: float,
    extension: int | None = None,
    filter: str = "ram-lak",
    device: str | None = None,
    progress: bool = False,
    prior: np.ndarray | None = None,
) -> np.ndarray:
    """FDK of a region-of-interest scan whose rows are truncated (see the module notes).

    Parameters
    ----------
    projections : ndarray (n_angles, rows, cols)
        Line integrals of the truncated scan, µm.
    geometry : ConeGeometry
        Its geometry.
    shape, voxel_size
        The reconstructed region (centred on the rotation axis), voxels and µm.
    extension : int, optional
        Columns added on each side; default :func:`tail_extension` (as far as the fitted tails
        reach; 0 when nothing is cut: plain FDK); with a ``prior``, its extra columns.
    prior : ndarray (n_angles, rows, cols + 2 · extension), optional
        Projections of a prior of the whole sample (a coarse scan) on the widened detector; the
        rows are continued with it (:func:`extend_with_prior`) instead of the fitted cylinder.

    Returns
    -------
    ndarray float32, ``shape``
    """
    if prior is not None:
        ext = (np.shape(prior)[2] - geometry.det_cols) // 2
    elif extension is None:
        ext = tail_extension(projections, geometry)
    else:
        ext = check_int(extension, "extension", 0)
    wide = widened(geometry, ext)
    ext_rows = (
        extend_with_prior(projections, prior, ext)
        if prior is not None
        else extend_truncated_rows(projections, geometry, ext)
    )
    return fdk(ext_rows, wide, shape, voxel_size, filter=filter, device=device, progress=progress)
