"""Resampling a volume onto another scan's grid (another voxel size, pose and extent), slab by slab.

:func:`resample` fills a target grid (shape, voxel size, :class:`~xrsr_lib.prepare.pose.Pose`)
with a source volume (its own voxel size and pose) by cubic-spline (``order=3``) or linear
interpolation. A 3:1 upscale multiplies the voxel count by 27, so the target is filled ``slab``
z-slices at a time into ``out`` (an array or a ``numpy.memmap``), and only the source is held in
memory. Target voxels outside the source get ``cval`` and are ``False`` in the returned mask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.ndimage import map_coordinates, spline_filter
from tqdm.auto import tqdm

from xrsr_lib.io.validate import check_array, check_int, check_real
from xrsr_lib.prepare.pose import Pose, grid_points, region_center_um

if TYPE_CHECKING:
    from xrsr_lib.io.lazy import LazyVolume

__all__ = ["resample", "resample_region"]


def resample(
    source: np.ndarray,
    source_voxel_um: float,
    target_shape: tuple[int, int, int],
    target_voxel_um: float,
    target_pose: Pose,
    source_pose: Pose | None = None,
    order: int = 3,
    cval: float = 0.0,
    slab: int = 16,
    out: np.ndarray | None = None,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Resample the source volume onto the target grid.

    Parameters
    ----------
    source : ndarray (z, y, x)
        The volume to resample (e.g. the coarse whole-sample scan).
    source_voxel_um : float
        Its voxel size, µm.
    target_shape : (nz, ny, nx)
        The target grid.
    target_voxel_um : float
        Its voxel size, µm.
    target_pose, source_pose : Pose
        Where each grid lies in the sample frame (``source_pose`` default: the sample frame itself).
    order : {1, 3}
        Linear or cubic-spline interpolation.
    cval : float
        Value of target voxels outside the source.
    slab : int
        Target z-slices filled at a time.
    out : ndarray, optional
        Where to write (float32, ``target_shape``; a memmap for large targets).

    Returns
    -------
    volume : ndarray float32 ``target_shape``
    inside : ndarray bool ``target_shape``
        Target voxels whose centre lies inside the source's grid.
    """
    src = check_array(source, "source", 3)
    vs = check_real(source_voxel_um, "source_voxel_um", 0.0, strict=True, unit=" µm")
    vt = check_real(target_voxel_um, "target_voxel_um", 0.0, strict=True, unit=" µm")
    if order not in (1, 3):
        raise ValueError(f"order must be 1 (linear) or 3 (cubic spline), got {order!r}")
    shape = tuple(check_int(n, "target_shape", 1) for n in target_shape)
    if len(shape) != 3:
        raise ValueError(f"target_shape must have 3 sides, got {target_shape!r}")
    slab = check_int(slab, "slab", 1)
    source_pose = source_pose or Pose()
    coeffs = spline_filter(src, order=3, mode="mirror", output=np.float32) if order == 3 else src
    if out is None:
        out = np.empty(shape, np.float32)
    elif out.shape != shape:
        raise ValueError(f"out has shape {out.shape}, the target is {shape}")
    inside = np.empty(shape, bool)
    gz, gy, gx = grid_points(shape, vt)
    half = (np.asarray(src.shape) - 1) / 2.0
    for z0 in tqdm(range(0, shape[0], slab), desc="resample", disable=not progress, leave=False):
        z1 = min(shape[0], z0 + slab)
        pts = np.stack(np.meshgrid(gz[z0:z1], gy, gx, indexing="ij"), axis=-1)
        idx = source_pose.to_scan(target_pose.to_sample(pts)) / vs + half  # source voxel indices
        ok = np.all((idx >= -0.5) & (idx <= np.asarray(src.shape) - 0.5), axis=-1)
        vals = map_coordinates(coeffs, np.moveaxis(idx, -1, 0), order=order, mode="mirror", prefilter=False)
        out[z0:z1] = np.where(ok, vals, cval)
        inside[z0:z1] = ok
    return out, inside


def resample_region(
    region: LazyVolume,
    origin_um: tuple[float, float, float] | list[float],
    voxel_size_um: float,
    scan_shape: tuple[int, ...] | list[int],
    scan_voxel_um: float,
    target_shape: tuple[int, int, int],
    target_voxel_um: float,
    target_pose: Pose,
) -> tuple[np.ndarray, np.ndarray]:
    """Resample a region of a scan (on disk, e.g. a prediction) onto another scan's grid.

    Reads only the part of the region under that grid (plus a spline margin).

    ``origin_um``, ``voxel_size_um``: where the region's voxel ``(0, 0, 0)`` lies in its scan's index
    frame and its voxel size (:func:`~xrsr_lib.prepare.pose.region_center_um`; ``xrsr predict``
    records both); ``scan_shape``, ``scan_voxel_um``: that scan's grid; ``target_*``: as
    :func:`resample`, with ``target_pose`` in the scan's frame. Returns :func:`resample`'s volume
    and mask; the mask is all False when the region does not reach the target.
    """
    shape = np.asarray(region.shape)
    centre = np.asarray(
        region_center_um(origin_um, region.shape, voxel_size_um, tuple(scan_shape), scan_voxel_um)
    )
    # the target grid's corners in the region's voxel indices: read only that box (+ margin)
    corners = np.stack(
        np.meshgrid(*[g[[0, -1]] for g in grid_points(target_shape, target_voxel_um)], indexing="ij"), axis=-1
    ).reshape(-1, 3)
    idx = (target_pose.to_sample(corners) - centre) / voxel_size_um + (shape - 1) / 2.0
    lo = np.clip(np.floor(idx.min(0)).astype(int) - 4, 0, shape)
    hi = np.clip(np.ceil(idx.max(0)).astype(int) + 5, 0, shape)
    if np.any(hi - lo < 2):
        return np.zeros(target_shape, np.float32), np.zeros(target_shape, bool)
    box = region.read(tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True)))
    shift = ((lo + hi - 1) / 2.0 - (shape - 1) / 2.0) * voxel_size_um  # box centre - region centre
    box_pose = Pose(0.0, tuple(float(v) for v in centre + shift))  # type: ignore[arg-type]
    return resample(
        box, voxel_size_um, target_shape, target_voxel_um, target_pose, source_pose=box_pose, order=3
    )
