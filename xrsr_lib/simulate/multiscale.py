"""A simulated multiscale acquisition: one sample, scanned at three voxel sizes.

The sample (:func:`bimodal_pores`) is a foam cylinder with large pores everywhere and small pores
in its core. :func:`simulate_scan` scans it like an XRM: the stage brings the scan's region of
interest onto the rotation axis (the sample frame's point ``c`` goes to the axis, and the sample
is turned by ``φ`` about it), the exact projector integrates the cylinder (offset from the axis)
minus the pores, the detector blurs, photons are counted, the truncated rows are extended and FDK
reconstructs the region; finally the scan's own grey scale (gain and offset) is applied.

Frames: the *sample frame* is that of the ``lres`` scan (axis z, origin on the cylinder axis). A
scan's *pose* ``(φ, c)`` maps its own grid to the sample frame: the voxel at scanner position
``p`` (its grid is centred on the rotation axis) lies at ``Rz(φ) · p + c``. The true pose of each
scan and the pose its stage recorded (``c`` off by ``stage_error_um``, ``φ`` unknown, so 0) are
returned with it, for the registration to be tested against. Positions are ``(z, y, x)`` in µm.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from scipy.spatial import cKDTree

from xrsr_lib.config.multiscale import MultiscaleConfig, MultiscaleSampleConfig, ScanConfig
from xrsr_lib.simulate.ct.analytic import project_spheres
from xrsr_lib.simulate.ct.degrade import degrade_projections
from xrsr_lib.simulate.ct.geometry import ConeGeometry, rotate_z
from xrsr_lib.simulate.ct.truncation import cylinder_chords, fdk_truncated, tail_extension, widened
from xrsr_lib.simulate.phantom import voxelize

log = logging.getLogger(__name__)

__all__ = [
    "SimulatedScan",
    "bimodal_pores",
    "exact_phantom",
    "scan_geometry",
    "simulate_scan",
    "to_scan_frame",
]


def bimodal_pores(cfg: MultiscaleSampleConfig) -> np.ndarray:
    """Non-overlapping spherical pores ``(N, 5)`` rows ``(x, y, z, r, 0)`` in µm, sample frame.

    Large pores (radii uniform in ``large_radius_um``) anywhere in the cylinder with ``|z| <=
    pore_zrange_um``, then small pores (``small_radius_um``) within ``small_core_radius_um`` of the
    centre; each candidate is kept when it lies inside the cylinder and keeps ``min_gap_um`` of
    matrix to every pore placed before (largest first, as Pelt's generator does). Deterministic
    by ``cfg.seed``.
    """
    rng = np.random.default_rng(cfg.seed)
    placed: list[np.ndarray] = []
    r_max = cfg.large_radius_um[1]
    R = cfg.cylinder_radius_um

    def place(n: int, radii: tuple[float, float], reach: float, zr: float) -> None:
        rs = np.sort(rng.uniform(radii[0], radii[1], n))[::-1]
        centres = np.array([p[:3] for p in placed]) if placed else np.empty((0, 3))
        tree = cKDTree(centres) if len(centres) else None
        radius_of = np.array([p[3] for p in placed]) if placed else np.empty(0)
        new: list[np.ndarray] = []
        for r in rs:
            for _ in range(200):  # attempts per pore
                rho = reach * math.sqrt(rng.uniform())
                ang = rng.uniform(0, 2 * math.pi)
                x, y, z = rho * math.cos(ang), rho * math.sin(ang), rng.uniform(-zr, zr)
                if math.hypot(x, y) + r + cfg.min_gap_um > R:
                    continue
                c = np.array([x, y, z])
                if tree is not None:
                    near = tree.query_ball_point(c, r + r_max + cfg.min_gap_um)
                    if any(np.linalg.norm(centres[i] - c) < r + radius_of[i] + cfg.min_gap_um for i in near):
                        continue
                if any(np.linalg.norm(q[:3] - c) < r + q[3] + cfg.min_gap_um for q in new):
                    continue
                new.append(np.array([x, y, z, r]))
                break
        placed.extend(new)

    place(cfg.n_large, cfg.large_radius_um, R, cfg.pore_zrange_um)
    core = min(cfg.small_core_radius_um, R)
    place(cfg.n_small, cfg.small_radius_um, core, min(core, cfg.pore_zrange_um))
    if not placed:
        return np.zeros((0, 5))
    arr = np.array(placed)
    return np.column_stack([arr, np.zeros(len(arr))])


def to_scan_frame(
    spheres_xyzr: np.ndarray, angle_deg: float, center_zyx: tuple[float, float, float]
) -> np.ndarray:
    """Pores moved from the sample frame into a scan's frame: ``p = Rz(-φ) · (x - c)``."""
    s = np.array(spheres_xyzr, dtype=np.float64, copy=True)
    if len(s) == 0:
        return s
    zyx = s[:, [2, 1, 0]] - np.asarray(center_zyx, dtype=np.float64)
    zyx = rotate_z(zyx, -angle_deg)
    s[:, 0], s[:, 1], s[:, 2] = zyx[:, 2], zyx[:, 1], zyx[:, 0]
    return s


def scan_geometry(cfg: MultiscaleConfig, scan: ScanConfig) -> ConeGeometry:
    """Return the cone-beam geometry of a scan.

    Its detector just sees its region (so rows are truncated whenever the sample is wider), source
    and detector ``source_origin_factor`` half-widths away.
    """
    half = scan.n_voxels * scan.voxel_size_um / 2
    d = cfg.source_origin_factor * half
    d = max(d, 4.0 * (cfg.sample.cylinder_radius_um + math.hypot(*scan.roi_center_um[1:])))
    return ConeGeometry.for_volume(scan.n_voxels, scan.voxel_size_um, scan.n_angles, d, d)


def exact_phantom(
    spheres_xyzr: np.ndarray,
    cylinder_radius_um: float,
    angle_deg: float,
    center_zyx: tuple[float, float, float],
    n_voxels: int,
    voxel_size_um: float,
    supersampling: int = 2,
) -> np.ndarray:
    """Voxelize the exact sample (material fraction) on a scan's grid, pose ``(φ, c)``.

    Pores are voxelized exactly with ``supersampling``³ sub-samples; the cylinder (off the axis in
    the scan frame) by the same sub-sampling. Voxels cut by both a pore and the cylinder surface
    take the product of the two fractions.
    """
    sph = to_scan_frame(spheres_xyzr, angle_deg, center_zyx)
    shape = (n_voxels,) * 3
    pores = voxelize(sph, shape, voxel_size_um, supersampling=supersampling, cylinder_radius=1e12)
    axis = rotate_z(-np.asarray(center_zyx, dtype=np.float64), -angle_deg)
    ss = supersampling
    fine = (np.arange(n_voxels * ss) + 0.5) / ss - n_voxels / 2
    fine = fine * voxel_size_um
    inside = ((fine[:, None] - axis[1]) ** 2 + (fine[None, :] - axis[2]) ** 2) <= cylinder_radius_um**2
    cyl = inside.reshape(n_voxels, ss, n_voxels, ss).mean(axis=(1, 3)).astype(np.float32)
    return pores * cyl[None]


@dataclass
class SimulatedScan:
    """A reconstructed scan, in its own grey scale, with its true and recorded pose."""

    name: str
    volume: np.ndarray
    voxel_size_um: float
    true_pose: dict[str, Any]
    recorded_pose: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)


def simulate_scan(
    cfg: MultiscaleConfig,
    scan: ScanConfig,
    spheres_xyzr: np.ndarray,
    device: str | None = None,
    progress: bool = False,
    prior: tuple[np.ndarray, float] | None = None,
) -> SimulatedScan:
    """Scan the sample: exact projections, detector blur and noise, truncation-aware FDK, grey scale.

    ``prior = (volume, voxel_um)``: a coarse scan of the whole sample (its air at 0) placed with the
    *recorded* pose; its projections continue the truncated rows (:func:`extend_with_prior`).
    Without it the rows follow the fitted sample cylinder.

    Returns
    -------
    SimulatedScan
        ``volume`` float32 ``(n, n, n)`` in the scan's grey values (``intensity_scale`` ·
        material fraction + ``intensity_offset``); poses as ``{"angle_deg", "center_um"}``.
    """
    geo = scan_geometry(cfg, scan)
    phi, c = scan.rotation_deg, cast(tuple[float, float, float], tuple(float(v) for v in scan.roi_center_um))
    sph = to_scan_frame(spheres_xyzr, phi, c)
    axis = rotate_z(-np.asarray(c), -phi)  # the cylinder axis in the scan frame (z, y, x)
    ss = cfg.detector_supersampling
    log.info(
        "scan %s: %d³ voxels of %.3g µm, %d projections of %d×%d px, %d pores",
        scan.name,
        scan.n_voxels,
        scan.voxel_size_um,
        geo.n_angles,
        geo.det_rows,
        geo.det_cols,
        len(sph),
    )
    path = cylinder_chords(geo, cfg.sample.cylinder_radius_um, (axis[2], axis[1]), ss)
    if len(sph):
        path -= project_spheres(sph, geo, ss, progress=progress)
    seed = np.random.SeedSequence(cfg.noise_seed, spawn_key=(sum(map(ord, scan.name)),))
    noisy = degrade_projections(path, scan.blur_px, cfg.attenuation_per_um, scan.photons, seed)
    truncated = bool(np.max(path[:, :, [0, -1]]) > 0)
    recorded = tuple(float(a + e) for a, e in zip(c, scan.stage_error_um, strict=True))
    ext = tail_extension(noisy, geo) if (truncated and scan.truncation_correction) else 0
    prior_proj = None
    if prior is not None and ext > 0:
        from xrsr_lib.simulate.ct.reconstruct import project

        # wide enough for the whole prior volume (its circumscribed circle) seen from this scan
        reach = prior[0].shape[2] * prior[1] / math.sqrt(2) + math.hypot(*recorded[1:])
        ext = max(ext, math.ceil(reach / geo.pixel_at_isocenter - geo.det_cols / 2) + 2)
        prior_proj = cast(
            np.ndarray,
            project(
                np.ascontiguousarray(prior[0], np.float32),
                widened(geo, ext),
                prior[1],
                center=tuple(-v for v in recorded),
                device=device,
            ),
        )
    vol = fdk_truncated(
        noisy,
        geo,
        (scan.n_voxels,) * 3,
        scan.voxel_size_um,
        ext,
        device=device,
        progress=progress,
        prior=prior_proj,
    )
    vol = (vol * scan.intensity_scale + scan.intensity_offset).astype(np.float32)
    return SimulatedScan(
        scan.name,
        vol,
        scan.voxel_size_um,
        true_pose={"angle_deg": float(phi), "center_um": list(c)},
        recorded_pose={"angle_deg": 0.0, "center_um": list(recorded)},
        info={
            "truncated": truncated,
            "det_cols": geo.det_cols,
            "extension_cols": ext,
            "truncation": "none" if ext == 0 else ("prior" if prior_proj is not None else "cylinder"),
            "source_origin_um": geo.source_origin,
        },
    )
