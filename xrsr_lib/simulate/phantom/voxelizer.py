"""Voxelizer of the foam phantom: material fraction per voxel of a cell-centred grid.

Each voxel is sampled at ``s³`` midpoint sub-points (``supersampling``); voxels that no void
surface or cylinder wall cuts are exact without sampling. Numba kernels, parallel over z slices.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from xrsr_lib.simulate.phantom.spheres import as_float, as_int, check_spheres

__all__ = ["voxelize"]


@njit(cache=True)
def _cylinder_map(ny, nx, vs, cy, cx, offs, radius):
    """Fraction of each (y, x) voxel column's sub-samples inside the cylinder x² + y² <= R²."""
    s = offs.shape[0]
    e = offs[-1]  # largest sub-sample offset from the voxel centre
    out = np.empty((ny, nx))
    r2 = radius * radius
    for iy in range(ny):
        y = (iy - (ny - 1) / 2.0) * vs + cy
        for ix in range(nx):
            x = (ix - (nx - 1) / 2.0) * vs + cx
            ax = abs(x)
            ay = abs(y)
            far2 = (ax + e) ** 2 + (ay + e) ** 2
            near2 = max(ax - e, 0.0) ** 2 + max(ay - e, 0.0) ** 2
            if far2 <= r2:
                out[iy, ix] = 1.0
            elif near2 > r2:
                out[iy, ix] = 0.0
            else:
                cnt = 0
                for ky in range(s):
                    yy = y + offs[ky]
                    for kx in range(s):
                        xx = x + offs[kx]
                        if xx * xx + yy * yy <= r2:
                            cnt += 1
                out[iy, ix] = cnt / (s * s)
    return out


@njit(cache=True, parallel=True)
def _voxelize_kernel(spheres, zsorted, nz, ny, nx, vs, cz, cy, cx, offs, radius):
    """Material fraction per voxel; ``spheres`` (x, y, z, r) sorted by z (``zsorted`` = their z)."""
    s = offs.shape[0]
    e = offs[-1]
    inv_s3 = 1.0 / (s * s * s)
    r2cyl = radius * radius
    cyl = _cylinder_map(ny, nx, vs, cy, cx, offs, radius)
    out = np.empty((nz, ny, nx), dtype=np.float32)
    nsph = spheres.shape[0]
    rmax = 0.0
    for j in range(nsph):
        rmax = max(rmax, spheres[j, 3])
    for iz in prange(nz):
        z = (iz - (nz - 1) / 2.0) * vs + cz
        sl = cyl.copy()
        j0 = np.searchsorted(zsorted, z - e - rmax, side="left")
        j1 = np.searchsorted(zsorted, z + e + rmax, side="right")
        for j in range(j0, j1):
            sx = spheres[j, 0]
            sy = spheres[j, 1]
            sz = spheres[j, 2]
            r = spheres[j, 3]
            gz = max(abs(z - sz) - e, 0.0)
            if gz >= r:
                continue
            fz = abs(z - sz) + e
            # voxel index ranges whose sub-sample boxes can meet the sphere
            ix0 = max(0, int(math.ceil((sx - r - e - cx) / vs + (nx - 1) / 2.0)))
            ix1 = min(nx - 1, int(math.floor((sx + r + e - cx) / vs + (nx - 1) / 2.0)))
            iy0 = max(0, int(math.ceil((sy - r - e - cy) / vs + (ny - 1) / 2.0)))
            iy1 = min(ny - 1, int(math.floor((sy + r + e - cy) / vs + (ny - 1) / 2.0)))
            r2 = r * r
            for iy in range(iy0, iy1 + 1):
                y = (iy - (ny - 1) / 2.0) * vs + cy
                dy = abs(y - sy)
                gy = max(dy - e, 0.0)
                for ix in range(ix0, ix1 + 1):
                    c = cyl[iy, ix]
                    if c == 0.0:
                        continue
                    x = (ix - (nx - 1) / 2.0) * vs + cx
                    dx = abs(x - sx)
                    gx = max(dx - e, 0.0)
                    if gx * gx + gy * gy + gz * gz >= r2:
                        continue  # no sub-sample inside the sphere
                    if c == 1.0 and (dx + e) ** 2 + (dy + e) ** 2 + fz * fz < r2:
                        sl[iy, ix] -= 1.0  # every sub-sample inside the sphere
                        continue
                    cnt = 0
                    for kz in range(s):
                        dz2 = (z + offs[kz] - sz) ** 2
                        for ky in range(s):
                            yy = y + offs[ky]
                            dyz2 = dz2 + (yy - sy) ** 2
                            if dyz2 >= r2:
                                continue
                            for kx in range(s):
                                xx = x + offs[kx]
                                if dyz2 + (xx - sx) ** 2 < r2 and (c == 1.0 or xx * xx + yy * yy <= r2cyl):
                                    cnt += 1
                    sl[iy, ix] -= cnt * inv_s3
        for iy in range(ny):
            for ix in range(nx):
                out[iz, iy, ix] = min(max(sl[iy, ix], 0.0), 1.0)
    return out


def voxelize(
    spheres: np.ndarray,
    shape: tuple[int, int, int],
    voxel_size: float,
    center: tuple[float, float, float] = (0.0, 0.0, 0.0),
    supersampling: int = 2,
    cylinder_radius: float = 1.0,
) -> np.ndarray:
    """Voxelize a foam phantom: material fraction per voxel of a cell-centred grid.

    Parameters
    ----------
    spheres : numpy.ndarray
        Void list ``(N, 5)`` rows ``(x, y, z, r, c)`` (``c`` is ignored: voids are empty). Voids
        must not overlap (as produced by :func:`generate_foam`).
    shape : tuple of int
        Grid shape ``(nz, ny, nx)``.
    voxel_size : float
        Voxel edge length (> 0), in the phantom's unit (the cylinder radius of the generator).
    center : tuple of float
        Grid centre ``(cx, cy, cz)``; voxel ``ix`` has centre ``x = (ix - (nx - 1) / 2) * voxel_size + cx``
        (likewise y, z).
    supersampling : int
        ``s >= 1``: each voxel is sampled at ``s³`` midpoint sub-points, offsets
        ``((k + 0.5) / s - 0.5) * voxel_size``. Voxels not cut by a surface are exact without sampling.
    cylinder_radius : float
        Radius ``R > 0`` of the matrix cylinder ``x² + y² <= R²`` (0 outside).

    Returns
    -------
    numpy.ndarray
        float32 ``(nz, ny, nx)``: fraction of sub-samples in matrix (1 matrix, 0 void or outside).
    """
    arr = check_spheres(spheres)
    if not isinstance(shape, tuple | list) or len(shape) != 3:
        raise ValueError(f"shape must be a tuple of 3 positive ints (nz, ny, nx), got {shape!r}")
    nz, ny, nx = (as_int(n, "shape", 1) for n in shape)
    voxel_size = as_float(voxel_size, "voxel_size")
    if voxel_size <= 0:
        raise ValueError(f"voxel_size must be > 0, got {voxel_size}")
    if not isinstance(center, tuple | list) or len(center) != 3:
        raise ValueError(f"center must be a tuple of 3 floats (cx, cy, cz), got {center!r}")
    cx, cy, cz = (as_float(c, "center") for c in center)
    supersampling = as_int(supersampling, "supersampling", 1)
    cylinder_radius = as_float(cylinder_radius, "cylinder_radius")
    if cylinder_radius <= 0:
        raise ValueError(f"cylinder_radius must be > 0, got {cylinder_radius}")
    order = np.argsort(arr[:, 2], kind="stable")
    sph = np.ascontiguousarray(arr[order, :4])
    offs = ((np.arange(supersampling) + 0.5) / supersampling - 0.5) * voxel_size
    return _voxelize_kernel(
        sph, np.ascontiguousarray(sph[:, 2]), nz, ny, nx, voxel_size, cz, cy, cx, offs, cylinder_radius
    )
