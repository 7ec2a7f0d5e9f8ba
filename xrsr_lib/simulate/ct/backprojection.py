"""Voxel-driven FDK backprojection of filtered views grouped in orbits of the square's symmetries.

Views related by a symmetry of the voxel grid and of the angle set (see
:mod:`xrsr_lib.simulate.ct.view_symmetry`) read the detector at the same positions: they are sampled
as channels of one 2D ``grid_sample`` call sharing one grid and one distance weight, accumulated in
the voxel order of their symmetry and moved into place once per slab of slices.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from xrsr_lib.simulate.ct._helpers import axis_coords, chunk, index_batches, progress_bar
from xrsr_lib.simulate.ct.geometry import ConeGeometry
from xrsr_lib.simulate.ct.view_symmetry import SQUARE_SYMMETRIES, PlaneSymmetry, ViewOrbit, voxel_permutation

# Bytes of per-orbit sampling tables (column, row slope, weight per voxel column) held at once.
_ORBIT_TABLE_BYTES = 1 << 26


def grid_symmetries(ny: int, nx: int, vs: float, center_yx: tuple[float, float]) -> list[PlaneSymmetry]:
    """Symmetries of the square (identity first) that map the ``(ny, nx)`` voxel grid onto itself."""
    return [SQUARE_SYMMETRIES[0]] + [
        op for op in SQUARE_SYMMETRIES[1:] if voxel_permutation(op, ny, nx, vs, center_yx) is not None
    ]


def _apply_symmetry(t: torch.Tensor, op: PlaneSymmetry) -> torch.Tensor:
    """Return ``t`` (``(..., ny, nx)`` slices) with voxel ``(iy, ix)`` moved to where ``op`` maps it.

    The slices are centred on the rotation axis (square when ``op`` swaps ``x`` and ``y``); ``op``
    maps voxel centres. A strided view for the identity and for a pure transpose, otherwise a
    flipped copy.
    """
    a, b, c, d = op.matrix
    if b == 0:  # x' = a x, y' = d y
        dims = [dim for dim, sign in ((-2, d), (-1, a)) if sign < 0]
    else:  # x' = b y, y' = c x: transpose, then flip
        t = t.transpose(-1, -2)
        dims = [dim for dim, sign in ((-2, c), (-1, b)) if sign < 0]
    return t.flip(dims) if dims else t


def backproject_orbits(
    q: torch.Tensor,
    geometry: ConeGeometry,
    orbits: list[ViewOrbit],
    ops: list[PlaneSymmetry],
    valid: list[int],
    shape: tuple[int, int, int],
    vs: float,
    c: tuple[float, float, float],
    progress: bool,
) -> torch.Tensor:
    """Voxel-driven FDK backprojection of filtered, angle-weighted views grouped in orbits.

    ``q`` holds the views in orbit order (mirrored views already column-flipped). For orbit ``o`` with
    representative angle ``θ``, voxel ``p`` and slice ``z`` the detector position is
    ``(u, v) = (s, z) · sdd / L`` with ``s = x cos θ + y sin θ``, ``L = sod - x sin θ + y cos θ``, and
    the sample is weighted by ``(sod / L)²``; channel ``k`` of the orbit contributes that sample to
    voxel ``ops[o.ops[k]](p)``. It is accumulated at ``p`` in the slot of that symmetry (one slot per
    entry of ``valid``, the symmetries of the scan), and each slot is moved into the volume by its
    symmetry once per slab.

    Returns
    -------
    torch.Tensor
        ``(nz, ny * nx)`` float32 volume (1/µm).
    """
    dev = q.device
    nz, ny, nx = shape
    rows, cols = geometry.det_rows, geometry.det_cols
    sod, sdd, pix = geometry.source_origin, geometry.source_detector, geometry.det_pixel
    n_pix = ny * nx
    slot = {k: i for i, k in enumerate(valid)}
    slot_ops = [ops[k] for k in valid]
    n_slots = len(slot_ops)
    f64, f32 = torch.float64, torch.float32
    zf = torch.as_tensor(axis_coords(nz, vs, c[0]), dtype=f32, device=dev)
    yc = torch.as_tensor(axis_coords(ny, vs, c[1]), dtype=f64, device=dev)
    xc = torch.as_tensor(axis_coords(nx, vs, c[2]), dtype=f64, device=dev)
    yy, xx = torch.meshgrid(yc, xc, indexing="ij")
    xx, yy = xx.reshape(-1), yy.reshape(-1)
    starts = np.cumsum([0] + [len(o.views) for o in orbits])
    c_max = max(len(o.views) for o in orbits)

    # grid_sample parallelises over its batch only: split each slab of slices into `split` batches
    # (one per thread) that share the orbit's views (expanded, stride 0).
    split = max(1, torch.get_num_threads()) if dev.type == "cpu" else 1
    nzc = max(1, chunk(dev) // (c_max * n_pix))
    nzc = min(nz, max(split, (nzc // split) * split))
    # The per-orbit tables (normalised column g_u, normalised row per unit z a_v, distance weight w;
    # float32 per voxel column) are built for a batch of orbits at a time (bounded memory), then every
    # slab of slices is swept for that batch.
    per_batch = max(1, _ORBIT_TABLE_BYTES // (3 * 4 * n_pix))
    batches = index_batches(len(orbits), per_batch)
    slabs = [(z0, min(nz, z0 + nzc)) for z0 in range(0, nz, nzc)]
    vol = torch.zeros((nz, n_pix), dtype=f32, device=dev)
    grid_buf = torch.empty((nzc * n_pix * 2,), dtype=f32, device=dev)
    acc_buf = torch.empty((n_slots * nzc * n_pix,), dtype=f32, device=dev)
    bar = progress_bar(len(batches) * len(slabs), progress, "FDK backprojection")
    for ob in batches:
        g_u = torch.empty((len(ob), n_pix), dtype=f32, device=dev)
        a_v, w = torch.empty_like(g_u), torch.empty_like(g_u)
        for k, i in enumerate(ob):
            th = float(geometry.angles[orbits[i].views[0]])
            st, ct = math.sin(th), math.cos(th)
            L = sod - xx * st + yy * ct  # source -> voxel, projected on the central ray
            mag = sdd / L
            g_u[k] = (xx * ct + yy * st) * mag * (2.0 / (cols * pix))  # s = x cos θ + y sin θ along u
            a_v[k] = mag * (2.0 / (rows * pix))
            w[k] = (sod / L) ** 2
        for z0, z1 in slabs:
            nzs = z1 - z0
            sp = next(d for d in range(min(split, nzs), 0, -1) if nzs % d == 0)  # batches of h slices
            h = nzs // sp
            # Planar grid (x and y planes contiguous: grid_sample reads them without de-interleaving).
            planes = grid_buf[: nzs * n_pix * 2].view(sp, 2, h, n_pix)
            grid = planes.permute(0, 2, 3, 1)
            acc = acc_buf[: n_slots * nzs * n_pix].view(sp, n_slots, h, n_pix)
            if len(orbits[ob.start].views) < n_slots:  # else the first orbit fills every slot
                acc.zero_()
            zs = zf[z0:z1].view(sp, h, 1)
            for k, i in enumerate(ob):
                o = orbits[i]
                planes[:, 0].copy_(g_u[k].expand(sp, h, n_pix))
                torch.mul(zs, a_v[k], out=planes[:, 1])
                cq = len(o.views)
                img = q[starts[i] : starts[i] + cq].unsqueeze(0).expand(sp, cq, rows, cols)
                samp = F.grid_sample(img, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
                sl = [slot[op] for op in o.ops]
                if k == 0 and cq == n_slots:  # sl == [0, 1, ...]: first write of the slab
                    torch.mul(samp, w[k], out=acc)
                elif sl == list(range(sl[0], sl[0] + cq)):
                    acc[:, sl[0] : sl[0] + cq].addcmul_(samp, w[k])
                else:
                    for j, s_ in enumerate(sl):
                        acc[:, s_].addcmul_(samp[:, j], w[k])
            dst = vol[z0:z1].view(sp, h, ny, nx)
            for s_, op in enumerate(slot_ops):
                dst.add_(_apply_symmetry(acc[:, s_].view(sp, h, ny, nx), op))
            bar.update(1)
    bar.close()
    return vol
