"""Symmetries of a circular scan that let FDK backprojection share one sampling grid between views.

A voxel at ``(x, y)`` seen from angle ``θ`` projects to the detector through its coordinates in the
rotated frame, ``s = x cos θ + y sin θ`` (along the detector columns, ``u = s · sdd / (sod + t)``) and
``t = -x sin θ + y cos θ`` (along the central ray); its detector row is ``z · sdd / (sod + t)``.
Every element ``g`` of the symmetry group of the square (rotations by multiples of 90°, mirrors
across the axes and diagonals) maps a voxel ``P`` to ``g P`` and a view ``θ`` to ``g(θ)`` so that

* a rotation by ``α`` keeps ``(s, t)``: ``g(θ) = θ + α``;
* a mirror across the line at angle ``β`` gives ``(-s, t)``: ``g(θ) = 2β - π - θ``; sampling the
  detector at ``-u`` is sampling the column-flipped projection at ``u`` (the detector is centred).

So when ``g`` maps the voxel grid onto itself (a volume centred on the rotation axis; square in
``x, y`` for the 90° rotations and the diagonal mirrors) and the set of view angles onto itself, the
backprojection of view ``g(θ)`` at voxel ``g P`` reads the detector (column-flipped for a mirror) at
exactly the position that view ``θ`` reads for voxel ``P``, with the same distance weight. The views
fall into orbits of up to 8 that are backprojected with one grid (:func:`view_orbits`); results are
identical to view-by-view backprojection up to float round-off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["PlaneSymmetry", "SQUARE_SYMMETRIES", "ViewOrbit", "view_orbits", "voxel_permutation"]

# Views are matched when their angles agree to this (radians): ~1e-5 detector pixel at 1000 pixels
# from the axis, below the float32 resolution of the sampling grid.
ANGLE_TOLERANCE = 1e-8


@dataclass(frozen=True)
class PlaneSymmetry:
    """An element of the symmetry group of the square acting on ``(x, y)`` and on view angles.

    Parameters
    ----------
    name : str
        Label, e.g. ``"rot90"`` or ``"mirror x"``.
    matrix : tuple of int
        ``(a, b, c, d)``: ``(x, y) -> (a x + b y, c x + d y)``.
    reflection : bool
        True for a mirror (detector columns are flipped, ``u -> -u``).
    offset : float
        Angle map, radians: ``θ -> offset + θ`` (rotation) or ``θ -> offset - θ`` (mirror).
    """

    name: str
    matrix: tuple[int, int, int, int]
    reflection: bool
    offset: float

    def angle(self, theta: np.ndarray) -> np.ndarray:
        """Image of view angles ``theta`` (radians, not wrapped)."""
        theta = np.asarray(theta, dtype=np.float64)
        return self.offset - theta if self.reflection else self.offset + theta


# Identity first: orbit members are listed in this order.
SQUARE_SYMMETRIES: tuple[PlaneSymmetry, ...] = (
    PlaneSymmetry("identity", (1, 0, 0, 1), False, 0.0),
    PlaneSymmetry("rot90", (0, -1, 1, 0), False, 0.5 * math.pi),
    PlaneSymmetry("rot180", (-1, 0, 0, -1), False, math.pi),
    PlaneSymmetry("rot270", (0, 1, -1, 0), False, 1.5 * math.pi),
    PlaneSymmetry("mirror y", (1, 0, 0, -1), True, -math.pi),  # y -> -y (line at β = 0)
    PlaneSymmetry("mirror x=y", (0, 1, 1, 0), True, -0.5 * math.pi),  # β = 45°
    PlaneSymmetry("mirror x", (-1, 0, 0, 1), True, 0.0),  # x -> -x (β = 90°)
    PlaneSymmetry("mirror x=-y", (0, -1, -1, 0), True, 0.5 * math.pi),  # β = 135°
)


def voxel_permutation(
    op: PlaneSymmetry, ny: int, nx: int, voxel_size: float, center_yx: tuple[float, float]
) -> np.ndarray | None:
    """Flat index ``iy * nx + ix`` of ``op`` applied to every voxel centre of an ``(ny, nx)`` slice.

    Parameters
    ----------
    op : PlaneSymmetry
        The symmetry.
    ny, nx : int
        Slice shape (voxels).
    voxel_size : float
        Voxel edge, µm.
    center_yx : tuple of float
        Physical ``(y, x)`` of the slice centre, µm.

    Returns
    -------
    numpy.ndarray or None
        int64 array of length ``ny * nx`` (a permutation), or None when ``op`` does not map the voxel
        grid onto itself.
    """
    cy, cx = center_yx
    iy, ix = np.meshgrid(np.arange(ny, dtype=np.float64), np.arange(nx, dtype=np.float64), indexing="ij")
    x = (ix.ravel() - (nx - 1) / 2.0) * voxel_size + cx
    y = (iy.ravel() - (ny - 1) / 2.0) * voxel_size + cy
    a, b, c, d = op.matrix
    fx = (a * x + b * y - cx) / voxel_size + (nx - 1) / 2.0
    fy = (c * x + d * y - cy) / voxel_size + (ny - 1) / 2.0
    jx, jy = np.rint(fx), np.rint(fy)
    if np.max(np.abs(fx - jx), initial=0.0) > 1e-6 or np.max(np.abs(fy - jy), initial=0.0) > 1e-6:
        return None
    if jx.min() < 0 or jx.max() > nx - 1 or jy.min() < 0 or jy.max() > ny - 1:
        return None
    return (jy.astype(np.int64) * nx + jx.astype(np.int64)).astype(np.int64)


@dataclass(frozen=True)
class ViewOrbit:
    """Views backprojected with one sampling grid: that of ``views[0]`` (the representative).

    ``views[k]`` is the image of the representative under ``ops[k]`` (an index into the list of
    symmetries passed to :func:`view_orbits`); ``ops[0]`` is the identity.
    """

    views: tuple[int, ...]
    ops: tuple[int, ...]


def _match_angles(angles: np.ndarray, targets: np.ndarray, tol: float) -> np.ndarray | None:
    """Index of the angle equal (mod 2π, within ``tol``) to each target, or None if one has none."""
    two_pi = 2.0 * math.pi
    a = np.mod(angles, two_pi)
    order = np.argsort(a, kind="stable")
    s = a[order]
    t = np.mod(targets, two_pi)
    hi = np.searchsorted(s, t) % s.size
    lo = (hi - 1) % s.size
    best = np.empty(t.size, dtype=np.int64)
    dist = np.empty(t.size)
    for cand in (lo, hi):
        d = np.abs(s[cand] - t)
        d = np.minimum(d, two_pi - d)
        take = (cand is lo) | (d < dist)
        best = np.where(take, cand, best)
        dist = np.where(take, d, dist)
    if np.max(dist, initial=0.0) > tol:
        return None
    return order[best]


def view_orbits(
    angles: np.ndarray, ops: list[PlaneSymmetry], tol: float = ANGLE_TOLERANCE
) -> tuple[list[int], list[ViewOrbit]]:
    """Partition the views into orbits under the symmetries that map the angle set onto itself.

    Parameters
    ----------
    angles : numpy.ndarray
        View angles, radians.
    ops : list of PlaneSymmetry
        Candidate symmetries (already known to map the voxel grid onto itself); ``ops[0]`` must be
        the identity. The valid ones must form a group (any subgroup-closed subset of
        :data:`SQUARE_SYMMETRIES` intersected with the angle set's symmetries does).
    tol : float
        Angle tolerance, radians.

    Returns
    -------
    valid : list of int
        Indices into ``ops`` of the symmetries of the angle set.
    orbits : list of ViewOrbit
        Each view appears in exactly one orbit; the orbits' ``ops`` index ``ops``.
    """
    th = np.asarray(angles, dtype=np.float64).reshape(-1)
    n = th.size
    identity = [ViewOrbit((i,), (0,)) for i in range(n)]
    if n < 2 or not ops or ops[0].matrix != (1, 0, 0, 1) or ops[0].reflection:
        return [0], identity
    s = np.sort(np.mod(th, 2.0 * math.pi))
    gaps = np.diff(np.concatenate([s, [s[0] + 2.0 * math.pi]]))
    if gaps.min() <= 10.0 * tol:  # repeated angles: matching would be ambiguous
        return [0], identity
    valid, match = [], {}
    for k, op in enumerate(ops):
        m = _match_angles(th, op.angle(th), tol)
        if m is not None and np.unique(m).size == n:
            valid.append(k)
            match[k] = m
    if len(valid) == 1:
        return valid, identity
    assigned = np.zeros(n, dtype=bool)
    orbits = []
    for i in range(n):
        if assigned[i]:
            continue
        views, used = [], []
        for k in valid:
            j = int(match[k][i])
            if j not in views:
                views.append(j)
                used.append(k)
        if assigned[views].any():  # not a group action (cannot happen for a subgroup); be safe
            return [0], identity
        assigned[views] = True
        orbits.append(ViewOrbit(tuple(views), tuple(used)))
    return valid, orbits
