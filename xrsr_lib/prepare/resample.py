"""Resampling a volume onto another scan's grid (another voxel size, pose and extent), slab by slab.

:func:`resample` fills a target grid (shape, voxel size, :class:`~xrsr_lib.prepare.pose.Pose`)
with a source volume (its own voxel size and pose) by cubic-spline (``order=3``) or linear
interpolation. A 3:1 upscale multiplies the voxel count by 27, so the target is filled ``slab``
z-slices at a time into ``out`` (an array or a ``numpy.memmap``), and only the source is held in
memory. Target voxels outside the source get ``cval`` and are ``False`` in the returned mask.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import map_coordinates, spline_filter
from tqdm.auto import tqdm

from xrsr_lib.io.validate import check_array, check_int, check_real
from xrsr_lib.prepare.pose import Pose, grid_points

__all__ = ["resample"]


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
    """The source volume seen on the target grid.

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
