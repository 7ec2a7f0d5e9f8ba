"""Foam phantom generator and voxelizer (re-implementation of Pelt, Hendriksen & Batenburg 2022).

The phantom is an infinite cylinder of matrix material ``x² + y² <= 1`` (the cylinder radius is
the unit of length, matrix attenuation 1) from which non-overlapping spherical voids (attenuation
0) are removed. Void centres lie in ``|z| <= zrange``; voids may stick out past it in ``z``.

Algorithm (as in the ``foam_ct_phantom`` package, MIT)
------------------------------------------------------
A fixed-size pool of ``int(ntrials_per_unit * zrange)`` candidate points, uniform in the cylinder,
is kept. Every candidate stores ``a = min(1 - ρ, min_j(|p - c_j| - r_j))``, the radius of the
largest void that fits at it. Each step places one void:

* while some candidate has ``a > maxsize``, one of those is picked uniformly at random and a void
  of radius exactly ``maxsize`` is placed there (random sequential phase);
* otherwise the candidate with the largest ``a`` gets a void of radius ``a`` (it touches its
  nearest void or the wall).

The candidates' ``a`` are updated with the new void; candidates that fall inside it are replaced
by fresh random points in free matrix (rejection sampling), so the pool size stays constant.

This implementation keeps the same process but makes each step cheap:

* candidates live in a uniform cell grid (doubly linked lists, periodically renumbered in cell
  order for memory locality), so a new void of radius ``r`` only visits the candidates within
  ``r + a_max`` (``a`` can only change where ``|p - c| - r < a``);
* a max-tree over the grid cells (leaf = largest ``a`` in the cell) gives the greedy choice;
* a multi-level cell grid over the voids (level ``l`` holds radii in ``(h_l / 2, h_l]``,
  ``h_l = maxsize / 2**l``) gives the exact nearest-surface distance of a new candidate;
* replacement points are proposed uniformly over the grid cells not yet entirely inside a void,
  then rejected if inside a void, which is still exactly uniform over the free matrix;
* the random sequential phase (about a hundred steps) scans all candidates.

The random number generator is a SplitMix64 stream seeded by ``seed``: the output is
deterministic, and statistically (not bitwise) equivalent to the original package's.

Void lists are float32 arrays ``(N, 5)`` of rows ``(x, y, z, r, c)`` in placement order, with
``c = 0`` (the void attenuation); :func:`spheres_to_flat` / :func:`spheres_from_flat` convert to
and from the package's flat ``5N`` layout.
"""

from __future__ import annotations

import math
import operator
from typing import NamedTuple

import numpy as np
from numba import njit, prange
from tqdm.auto import tqdm

__all__ = ["generate_foam", "spheres_from_flat", "spheres_to_flat", "void_statistics", "voxelize"]

_SM_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_SM_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_SM_MUL2 = np.uint64(0x94D049BB133111EB)
_INV_2_53 = 1.0 / 9007199254740992.0
_BRUTE_FORCE_VOIDS = 128  # below this many voids, nearest-surface queries scan all voids


# ------------------------------------------------------------------------------ helpers
def _as_int(value: object, name: str, minimum: int) -> int:
    """Return ``value`` as an int ``>= minimum`` or raise a ValueError naming ``name``."""
    if isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    try:
        ivalue = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if ivalue < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {ivalue}")
    return int(ivalue)


def _as_float(value: object, name: str) -> float:
    """Return ``value`` as a finite float or raise a ValueError naming ``name``."""
    try:
        fvalue = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(fvalue):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return fvalue


def _check_spheres(spheres: np.ndarray) -> np.ndarray:
    """Validate a void list and return it as contiguous float64 ``(N, 5)``."""
    arr = np.asarray(spheres)
    if arr.ndim != 2 or arr.shape[1] != 5:
        raise ValueError(f"spheres must have shape (N, 5) (x, y, z, r, c), got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"spheres must be numeric, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("spheres must contain only finite values")
    if np.any(arr[:, 3] < 0):
        raise ValueError("spheres radii (column 3) must be >= 0")
    return arr


def spheres_to_flat(spheres: np.ndarray) -> np.ndarray:
    """Convert an ``(N, 5)`` void list to foam_ct_phantom's flat float32 ``(5N,)`` layout."""
    return _check_spheres(spheres).astype(np.float32).ravel()


def spheres_from_flat(flat: np.ndarray) -> np.ndarray:
    """Convert foam_ct_phantom's flat ``(5N,)`` layout (x, y, z, r, c per void) to ``(N, 5)`` float32."""
    arr = np.asarray(flat)
    if arr.ndim != 1 or arr.size % 5 != 0:
        raise ValueError(f"flat must be 1-D with a length divisible by 5, got shape {arr.shape}")
    return _check_spheres(arr.reshape(-1, 5)).astype(np.float32)


# ------------------------------------------------------------------------------ RNG (SplitMix64)
@njit(cache=True)
def _uniform(rng: np.ndarray) -> float:
    """Return a uniform double in [0, 1) and advance the SplitMix64 state ``rng[0]``."""
    rng[0] += _SM_GAMMA
    z = rng[0]
    z = (z ^ (z >> np.uint64(30))) * _SM_MUL1
    z = (z ^ (z >> np.uint64(27))) * _SM_MUL2
    z = z ^ (z >> np.uint64(31))
    return float(z >> np.uint64(11)) * _INV_2_53


@njit(cache=True)
def _random_point(rng: np.ndarray, zrange: float) -> tuple[float, float, float]:
    """Uniform point in the cylinder x² + y² <= 1, |z| <= zrange."""
    while True:
        x = 2.0 * _uniform(rng) - 1.0
        y = 2.0 * _uniform(rng) - 1.0
        if x * x + y * y <= 1.0:
            break
    z = zrange * (2.0 * _uniform(rng) - 1.0)
    return x, y, z


# ------------------------------------------------------------------------------ grids
@njit(cache=True)
def _cell_index(v: float, origin: float, cell: float, n: int) -> int:
    i = int(math.floor((v - origin) / cell))
    return min(max(i, 0), n - 1)


@njit(cache=True)
def _axis_gap(v: float, lo: float, hi: float) -> float:
    """Distance from ``v`` to the interval [lo, hi] (0 inside)."""
    if v < lo:
        return lo - v
    if v > hi:
        return v - hi
    return 0.0


# ------------------------------------------------------------------------------ candidate grid
@njit(cache=True)
def _flat_cell(x, y, z, origin, g, dims):
    """Flat (z, y, x)-ordered index of the grid cell holding point (x, y, z)."""
    ix = _cell_index(x, origin[0], g, dims[0])
    iy = _cell_index(y, origin[1], g, dims[1])
    iz = _cell_index(z, origin[2], g, dims[2])
    return (iz * dims[1] + iy) * dims[0] + ix


@njit(cache=True)
def _link(clink, chead, i, c):
    """Insert candidate ``i`` at the head of cell ``c``'s list (clink rows: next, prev, cell)."""
    clink[i, 0] = chead[c]
    clink[i, 1] = -1
    clink[i, 2] = c
    if chead[c] >= 0:
        clink[chead[c], 1] = i
    chead[c] = i


@njit(cache=True)
def _unlink(clink, chead, i):
    nxt = clink[i, 0]
    prv = clink[i, 1]
    if prv >= 0:
        clink[prv, 0] = nxt
    else:
        chead[clink[i, 2]] = nxt
    if nxt >= 0:
        clink[nxt, 1] = prv


@njit(cache=True)
def _resort(cand, clink, chead):
    """Renumber candidates in cell order (memory locality) and rebuild the cell lists."""
    n = cand.shape[0]
    ncell = chead.shape[0]
    start = np.zeros(ncell + 1, dtype=np.int64)
    for i in range(n):
        start[clink[i, 2] + 1] += 1
    for c in range(ncell):
        start[c + 1] += start[c]
    new_cand = np.empty_like(cand)
    new_cell = np.empty(n, dtype=np.int64)
    for i in range(n):
        c = clink[i, 2]
        k = start[c]
        start[c] = k + 1
        new_cand[k] = cand[i]
        new_cell[k] = c
    cand[:] = new_cand
    chead[:] = -1
    for k in range(n - 1, -1, -1):  # reverse order keeps each list in increasing slot order
        _link(clink, chead, k, new_cell[k])


# ------------------------------------------------------------------------------ max tree over cells
@njit(cache=True)
def _tree_set(tree, c, value):
    """Set leaf ``c`` of the max-tree (leaves at ``P + c``, ``P = len(tree) // 2``) and fix parents."""
    k = tree.shape[0] // 2 + c
    tree[k] = value
    while k > 1:
        k >>= 1
        m = max(tree[2 * k], tree[2 * k + 1])
        if tree[k] == m:
            break
        tree[k] = m


@njit(cache=True)
def _cell_max(cand, clink, chead, c):
    """Largest ``a`` of the candidates in cell ``c`` (-1 when empty)."""
    m = -1.0
    i = chead[c]
    while i >= 0:
        if cand[i, 3] > m:
            m = cand[i, 3]
        i = clink[i, 0]
    return m


@njit(cache=True)
def _tree_build(tree, cand, clink):
    """Rebuild the whole max-tree from the candidates."""
    half = tree.shape[0] // 2
    tree[:] = -1.0
    for i in range(cand.shape[0]):
        k = half + clink[i, 2]
        if cand[i, 3] > tree[k]:
            tree[k] = cand[i, 3]
    for k in range(half - 1, 0, -1):
        tree[k] = max(tree[2 * k], tree[2 * k + 1])


# ------------------------------------------------------------------------------ void queries
@njit(cache=True)
def _scan_level(px, py, pz, best, ext, lev, voids, vnext, vhead, lev_off, lev_dims, lev_geom, origin):
    """Min of ``best`` and the surface distances of level ``lev`` voids in cells within ``ext``."""
    g = lev_geom[lev, 0]
    h = lev_geom[lev, 1]
    nx = lev_dims[lev, 0]
    ny = lev_dims[lev, 1]
    nz = lev_dims[lev, 2]
    off = lev_off[lev]
    ix0 = _cell_index(px - ext, origin[0], g, nx)
    ix1 = _cell_index(px + ext, origin[0], g, nx)
    iy0 = _cell_index(py - ext, origin[1], g, ny)
    iy1 = _cell_index(py + ext, origin[1], g, ny)
    iz0 = _cell_index(pz - ext, origin[2], g, nz)
    iz1 = _cell_index(pz + ext, origin[2], g, nz)
    for iz in range(iz0, iz1 + 1):
        gz = _axis_gap(pz, origin[2] + iz * g, origin[2] + (iz + 1) * g)
        for iy in range(iy0, iy1 + 1):
            gy = _axis_gap(py, origin[1] + iy * g, origin[1] + (iy + 1) * g)
            gzy = gz * gz + gy * gy
            row = off + (iz * ny + iy) * nx
            for ix in range(ix0, ix1 + 1):
                j = vhead[row + ix]
                if j < 0:
                    continue
                gx = _axis_gap(px, origin[0] + ix * g, origin[0] + (ix + 1) * g)
                lim = best + h
                if gzy + gx * gx >= lim * lim:
                    continue
                while j >= 0:
                    dist2 = (px - voids[j, 0]) ** 2 + (py - voids[j, 1]) ** 2 + (pz - voids[j, 2]) ** 2
                    lim = best + voids[j, 3]
                    if dist2 < lim * lim:
                        best = min(best, math.sqrt(dist2) - voids[j, 3])
                        if best < 0.0:
                            return best
                    j = vnext[j]
    return best


@njit(cache=True)
def _min_void_distance(px, py, pz, best, nvoids, voids, vnext, vhead, lev_off, lev_dims, lev_geom,
                       lev_count, origin):
    """Return ``min(best, min_j(|p - c_j| - r_j))``; stops early once the result is negative."""
    if nvoids <= _BRUTE_FORCE_VOIDS:
        for j in range(nvoids):
            dist2 = (px - voids[j, 0]) ** 2 + (py - voids[j, 1]) ** 2 + (pz - voids[j, 2]) ** 2
            lim = best + voids[j, 3]
            if dist2 < lim * lim:
                best = min(best, math.sqrt(dist2) - voids[j, 3])
                if best < 0.0:
                    return best
        return best
    nlev = lev_off.shape[0]
    # pass 1: the cells that can hold a void containing p (cheap bound, fast rejection)
    for lev in range(nlev):
        if lev_count[lev] > 0:
            best = _scan_level(px, py, pz, best, lev_geom[lev, 1], lev, voids, vnext, vhead, lev_off,
                               lev_dims, lev_geom, origin)
            if best < 0.0:
                return best
    # pass 2: every cell that can hold a void surface closer than the current bound
    for lev in range(nlev):
        if lev_count[lev] > 0:
            best = _scan_level(px, py, pz, best, best + lev_geom[lev, 1], lev, voids, vnext, vhead,
                               lev_off, lev_dims, lev_geom, origin)
    return best


@njit(cache=True)
def _random_open_point(rng, params, cdims, open_cells, n_open):
    """Uniform point in the cylinder slab restricted to the open (not fully void) grid cells."""
    zrange = params[1]
    gc = params[2]
    while True:
        k = min(int(_uniform(rng) * n_open), n_open - 1)
        c = open_cells[k]
        ix = c % cdims[0]
        iy = (c // cdims[0]) % cdims[1]
        iz = c // (cdims[0] * cdims[1])
        x = params[3] + (ix + _uniform(rng)) * gc
        y = params[4] + (iy + _uniform(rng)) * gc
        z = params[5] + (iz + _uniform(rng)) * gc
        if x * x + y * y <= 1.0 and abs(z) <= zrange:
            return x, y, z


@njit(cache=True)
def _close_covered_cells(px, py, pz, r, params, cdims, istate, open_cells, open_pos):
    """Drop the grid cells lying entirely inside the void (centre p, radius r) from the open list."""
    gc = params[2]
    if r * r <= 0.75 * gc * gc:  # a cell's half diagonal exceeds r: no cell fits inside
        return
    origin = params[3:6]
    ix0 = _cell_index(px - r, origin[0], gc, cdims[0])
    ix1 = _cell_index(px + r, origin[0], gc, cdims[0])
    iy0 = _cell_index(py - r, origin[1], gc, cdims[1])
    iy1 = _cell_index(py + r, origin[1], gc, cdims[1])
    iz0 = _cell_index(pz - r, origin[2], gc, cdims[2])
    iz1 = _cell_index(pz + r, origin[2], gc, cdims[2])
    for iz in range(iz0, iz1 + 1):
        fz = max(abs(origin[2] + iz * gc - pz), abs(origin[2] + (iz + 1) * gc - pz))
        for iy in range(iy0, iy1 + 1):
            fy = max(abs(origin[1] + iy * gc - py), abs(origin[1] + (iy + 1) * gc - py))
            for ix in range(ix0, ix1 + 1):
                fx = max(abs(origin[0] + ix * gc - px), abs(origin[0] + (ix + 1) * gc - px))
                if fx * fx + fy * fy + fz * fz >= r * r:
                    continue
                c = (iz * cdims[1] + iy) * cdims[0] + ix
                k = open_pos[c]
                if k >= 0:  # swap-remove from the open list
                    last = open_cells[istate[6] - 1]
                    open_cells[k] = last
                    open_pos[last] = k
                    open_pos[c] = -1
                    istate[6] -= 1


@njit(cache=True)
def _draw_free_candidate(rng, params, cdims, open_cells, n_open, cap, nvoids, voids, vnext, vhead, lev_off,
                         lev_dims, lev_geom, lev_count):
    """Draw a uniform point in free matrix; return (x, y, z, a, number of draws) with its exact ``a``.

    Proposals are uniform over the open grid cells (cells entirely inside a void hold no free
    matrix), then rejected when inside a void: the accepted point is uniform in free matrix.
    """
    origin = params[3:6]
    ndraw = 0
    while True:
        ndraw += 1
        x, y, z = _random_open_point(rng, params, cdims, open_cells, n_open)
        wall = 1.0 - math.sqrt(x * x + y * y)
        c = max(cap, 1e-9) if nvoids > _BRUTE_FORCE_VOIDS else wall
        while True:
            start = min(wall, c)
            a = _min_void_distance(x, y, z, start, nvoids, voids, vnext, vhead, lev_off, lev_dims,
                                   lev_geom, lev_count, origin)
            if a < start or start >= wall:
                break
            c *= 2.0  # nothing closer than the cap: search farther
        if a >= 0.0:
            return x, y, z, a, ndraw


# ------------------------------------------------------------------------------ main kernel
@njit(cache=True)
def _place_voids(n_target, params, cdims, rng, istate, cand, clink, chead, tree,
                 voids, vnext, vhead, lev_off, lev_dims, lev_geom, lev_count, open_cells, open_pos):
    """Place voids until ``istate[0] == n_target``; all state lives in the arrays (resumable).

    ``params`` = [maxsize, zrange, candidate cell size, origin x, y, z]; ``istate`` = [voids placed,
    phase (0 random sequential, 1 greedy), replacements since the last re-sort, number of candidates
    with a > maxsize or -1 when unknown, total replacements, total random draws, number of open
    cells]. Returns 0, or 1
    when no candidate has room left for a void.
    """
    maxsize = params[0]
    origin = params[3:6]
    ncand = cand.shape[0]
    while istate[0] < n_target:
        nv = istate[0]
        # ---- choose the next void
        amax = -1.0
        count = 0
        if istate[1] == 0:
            if istate[3] < 0:
                for i in range(ncand):
                    if cand[i, 3] > maxsize:
                        count += 1
            else:
                count = istate[3]  # counted during the previous linear update
            if count == 0:
                _resort(cand, clink, chead)
                _tree_build(tree, cand, clink)
                istate[1] = 1
                istate[2] = 0
        if istate[1] == 1:
            amax = tree[1]
            if amax > maxsize:
                for i in range(ncand):
                    if cand[i, 3] > maxsize:
                        count += 1
        linear = count > 0
        if linear:  # random sequential step: uniform among candidates with a > maxsize
            k = min(int(_uniform(rng) * count), count - 1)
            chosen = -1
            for i in range(ncand):
                if cand[i, 3] > maxsize:
                    if k == 0:
                        chosen = i
                        break
                    k -= 1
            r = maxsize
        else:  # greedy step: the candidate with the largest a
            k = 1
            half = tree.shape[0] // 2
            while k < half:
                k = 2 * k if tree[2 * k] >= tree[2 * k + 1] else 2 * k + 1
            chosen = chead[k - half]
            while cand[chosen, 3] != amax:
                chosen = clink[chosen, 0]
            r = amax
        if r <= 0.0:
            return 1
        px = cand[chosen, 0]
        py = cand[chosen, 1]
        pz = cand[chosen, 2]
        # ---- store the void in its level grid
        voids[nv, 0] = px
        voids[nv, 1] = py
        voids[nv, 2] = pz
        voids[nv, 3] = r
        lev = 0
        while lev < lev_off.shape[0] - 1 and r <= lev_geom[lev + 1, 1]:
            lev += 1
        slot = lev_off[lev] + _flat_cell(px, py, pz, origin, lev_geom[lev, 0], lev_dims[lev])
        vnext[nv] = vhead[slot]
        vhead[slot] = nv
        lev_count[lev] += 1
        istate[0] = nv + 1
        _close_covered_cells(px, py, pz, r, params, cdims, istate, open_cells, open_pos)
        # ---- update the candidates (replace those inside the new void)
        if linear:
            count = 0
            for i in range(ncand):
                dist2 = (cand[i, 0] - px) ** 2 + (cand[i, 1] - py) ** 2 + (cand[i, 2] - pz) ** 2
                lim = r + cand[i, 3]
                d = math.sqrt(dist2) - r if dist2 < lim * lim else cand[i, 3]
                if d < cand[i, 3]:
                    if d >= 0.0:
                        cand[i, 3] = d
                    else:
                        _replace_candidate(i, r, params, cdims, rng, istate, cand, clink, chead, tree,
                                           voids, vnext, vhead, lev_off, lev_dims, lev_geom, lev_count,
                                           open_cells)
                if cand[i, 3] > maxsize:
                    count += 1
            istate[3] = count
            if istate[1] == 1:
                _tree_build(tree, cand, clink)
        else:
            _update_near(px, py, pz, r, r + amax, params, cdims, rng, istate, cand, clink, chead, tree,
                         voids, vnext, vhead, lev_off, lev_dims, lev_geom, lev_count, open_cells, open_pos)
            if istate[2] > ncand // 4:
                _resort(cand, clink, chead)
                istate[2] = 0
    return 0


@njit(cache=True)
def _update_near(px, py, pz, r, ext, params, cdims, rng, istate, cand, clink, chead, tree,
                 voids, vnext, vhead, lev_off, lev_dims, lev_geom, lev_count, open_cells, open_pos):
    """Update the candidates within ``ext`` of a new void (centre p, radius r) via the cell grid."""
    gc = params[2]
    origin = params[3:6]
    nx = cdims[0]
    ny = cdims[1]
    nz = cdims[2]
    ix0 = _cell_index(px - ext, origin[0], gc, nx)
    ix1 = _cell_index(px + ext, origin[0], gc, nx)
    iy0 = _cell_index(py - ext, origin[1], gc, ny)
    iy1 = _cell_index(py + ext, origin[1], gc, ny)
    iz0 = _cell_index(pz - ext, origin[2], gc, nz)
    iz1 = _cell_index(pz + ext, origin[2], gc, nz)
    for iz in range(iz0, iz1 + 1):
        gz = _axis_gap(pz, origin[2] + iz * gc, origin[2] + (iz + 1) * gc)
        for iy in range(iy0, iy1 + 1):
            gy = _axis_gap(py, origin[1] + iy * gc, origin[1] + (iy + 1) * gc)
            gzy = gz * gz + gy * gy
            row = (iz * ny + iy) * nx
            for ix in range(ix0, ix1 + 1):
                c = row + ix
                i = chead[c]
                if i < 0:
                    continue
                gx = _axis_gap(px, origin[0] + ix * gc, origin[0] + (ix + 1) * gc)
                if gzy + gx * gx >= ext * ext:
                    continue
                changed = False
                while i >= 0:
                    nxt = clink[i, 0]
                    dist2 = (cand[i, 0] - px) ** 2 + (cand[i, 1] - py) ** 2 + (cand[i, 2] - pz) ** 2
                    lim = r + cand[i, 3]
                    d = math.sqrt(dist2) - r if dist2 < lim * lim else cand[i, 3]
                    if d < cand[i, 3]:
                        changed = True
                        if d >= 0.0:
                            cand[i, 3] = d
                        else:
                            _replace_candidate(i, r, params, cdims, rng, istate, cand, clink, chead, tree,
                                               voids, vnext, vhead, lev_off, lev_dims, lev_geom, lev_count,
                                               open_cells)
                    i = nxt
                if changed:
                    _tree_set(tree, c, _cell_max(cand, clink, chead, c))


@njit(cache=True)
def _replace_candidate(i, cap, params, cdims, rng, istate, cand, clink, chead, tree,
                       voids, vnext, vhead, lev_off, lev_dims, lev_geom, lev_count, open_cells):
    """Move candidate ``i`` to a fresh random point in free matrix (cell lists and tree updated)."""
    gc = params[2]
    origin = params[3:6]
    _unlink(clink, chead, i)
    x, y, z, a, ndraw = _draw_free_candidate(rng, params, cdims, open_cells, istate[6], cap, istate[0], voids,
                                             vnext, vhead, lev_off, lev_dims, lev_geom, lev_count)
    cand[i, 0] = x
    cand[i, 1] = y
    cand[i, 2] = z
    cand[i, 3] = a
    c = _flat_cell(x, y, z, origin, gc, cdims)
    _link(clink, chead, i, c)
    istate[2] += 1
    istate[4] += 1
    istate[5] += ndraw
    if istate[1] == 1:
        half = tree.shape[0] // 2
        if a > tree[half + c]:
            _tree_set(tree, c, a)


@njit(cache=True)
def _init_candidates(rng, params, cdims, cand, clink, chead):
    """Draw the initial candidate pool (no voids yet: ``a`` is the wall distance)."""
    zrange = params[1]
    gc = params[2]
    origin = params[3:6]
    for i in range(cand.shape[0]):
        x, y, z = _random_point(rng, zrange)
        cand[i, 0] = x
        cand[i, 1] = y
        cand[i, 2] = z
        cand[i, 3] = 1.0 - math.sqrt(x * x + y * y)
        clink[i, 2] = _flat_cell(x, y, z, origin, gc, cdims)
    _resort(cand, clink, chead)


class _FoamState(NamedTuple):
    """Arrays of a generator run (see :func:`_place_voids`); resumable between kernel calls."""

    params: np.ndarray
    cdims: np.ndarray
    rng: np.ndarray
    istate: np.ndarray
    cand: np.ndarray
    clink: np.ndarray
    chead: np.ndarray
    tree: np.ndarray
    voids: np.ndarray
    vnext: np.ndarray
    vhead: np.ndarray
    lev_off: np.ndarray
    lev_dims: np.ndarray
    lev_geom: np.ndarray
    lev_count: np.ndarray
    open_cells: np.ndarray
    open_pos: np.ndarray


def _new_state(seed: int, n_voids: int, n_cand: int, maxsize: float, zrange: float) -> _FoamState:
    """Allocate the generator state and draw the initial candidate pool."""
    box = 4.0 * 2.0 * zrange
    rng = np.array([seed], dtype=np.uint64)
    # candidate grid: about one cell per candidate
    gc = (box / n_cand) ** (1.0 / 3.0)
    params = np.array([maxsize, zrange, gc, -1.0, -1.0, -zrange])
    cdims = _grid_dims(gc, zrange)
    ncells = int(np.prod(cdims))
    chead = np.full(ncells, -1, dtype=np.int64)
    cand = np.empty((n_cand, 4))
    clink = np.empty((n_cand, 3), dtype=np.int64)
    _init_candidates(rng, params, cdims, cand, clink, chead)
    tree = np.full(2 * (1 << max(0, (ncells - 1).bit_length())), -1.0)
    # void grids: level l holds radii in (h_l / 2, h_l], h_l = maxsize / 2**l; the last level holds
    # all smaller radii. Cells are >= g_min (about 8 cells per void in all) to bound memory.
    g_min = (box / (8.0 * n_voids)) ** (1.0 / 3.0)
    nlev = 1 + max(0, math.ceil(math.log2(maxsize / g_min)))
    rmax = np.array([maxsize / 2.0**lev for lev in range(nlev)])
    lev_geom = np.stack([np.maximum(rmax, g_min), rmax], axis=1)
    lev_dims = np.stack([_grid_dims(g, zrange) for g in lev_geom[:, 0]])
    lev_ncells = np.prod(lev_dims, axis=1)
    lev_off = np.concatenate([[0], np.cumsum(lev_ncells)[:-1]]).astype(np.int64)
    vhead = np.full(int(lev_ncells.sum()), -1, dtype=np.int64)
    lev_count = np.zeros(nlev, dtype=np.int64)
    voids = np.empty((n_voids, 4))
    vnext = np.empty(n_voids, dtype=np.int64)
    # open cells: candidate-grid cells meeting the cylinder that are not yet entirely void
    centres = [(np.arange(n) + 0.5) * gc + o for n, o in zip(cdims, params[3:6], strict=True)]
    near_x = np.maximum(np.abs(centres[0]) - gc / 2, 0.0)
    near_y = np.maximum(np.abs(centres[1]) - gc / 2, 0.0)
    meets = (near_y[:, None] ** 2 + near_x[None, :] ** 2 <= 1.0).ravel()
    open_cells = np.flatnonzero(np.tile(meets, int(cdims[2]))).astype(np.int64)
    open_pos = np.full(ncells, -1, dtype=np.int64)
    open_pos[open_cells] = np.arange(open_cells.size)
    istate = np.array([0, 0, 0, -1, 0, 0, open_cells.size], dtype=np.int64)

    return _FoamState(params, cdims, rng, istate, cand, clink, chead, tree, voids, vnext, vhead, lev_off,
                      lev_dims, lev_geom, lev_count, open_cells, open_pos)


def _advance(state: _FoamState, n_target: int) -> None:
    """Place voids until ``n_target`` voids exist."""
    if _place_voids(n_target, *state) != 0:
        raise RuntimeError(f"no room left for more voids after {int(state.istate[0])} voids")


def _grid_dims(cell: float, zrange: float) -> np.ndarray:
    """Cell counts (nx, ny, nz) covering [-1, 1]² × [-zrange, zrange]."""
    return np.array([max(1, math.ceil(2.0 / cell)), max(1, math.ceil(2.0 / cell)),
                     max(1, math.ceil(2.0 * zrange / cell))], dtype=np.int64)


def generate_foam(seed: int, nspheres_per_unit: int = 100000, ntrials_per_unit: int = 1000000,
                  maxsize: float = 0.2, zrange: float = 1.5, progress: bool = True) -> np.ndarray:
    """Generate a foam phantom (void list) as in foam_ct_phantom's ``generate``.

    Parameters
    ----------
    seed : int
        Seed (>= 0) of the random stream; equal seeds give identical phantoms.
    nspheres_per_unit : int
        Voids per unit length of cylinder; ``int(nspheres_per_unit * zrange)`` voids are placed.
    ntrials_per_unit : int
        Candidate points per unit length; the pool holds ``int(ntrials_per_unit * zrange)`` points,
        which must exceed the number of voids.
    maxsize : float
        Largest void radius, in (0, 1) (units of the cylinder radius).
    zrange : float
        Void centres lie in ``|z| <= zrange`` (> 0).
    progress : bool
        Show a tqdm progress bar (nothing is printed when False).

    Returns
    -------
    numpy.ndarray
        float32 ``(N, 5)`` rows ``(x, y, z, r, c)`` in placement order (largest first), ``c = 0``.
    """
    seed = _as_int(seed, "seed", 0)
    if seed >= 2**64:
        raise ValueError(f"seed must be < 2**64, got {seed}")
    nspheres_per_unit = _as_int(nspheres_per_unit, "nspheres_per_unit", 1)
    ntrials_per_unit = _as_int(ntrials_per_unit, "ntrials_per_unit", 1)
    maxsize = _as_float(maxsize, "maxsize")
    if not 0.0 < maxsize < 1.0:
        raise ValueError(f"maxsize must be in (0, 1), got {maxsize}")
    zrange = _as_float(zrange, "zrange")
    if zrange <= 0.0:
        raise ValueError(f"zrange must be > 0, got {zrange}")
    n_voids = int(nspheres_per_unit * zrange)
    n_cand = int(ntrials_per_unit * zrange)
    if n_voids < 1:
        raise ValueError(f"nspheres_per_unit * zrange must give at least one void, got {n_voids}")
    if n_cand <= n_voids:
        raise ValueError(f"ntrials_per_unit must give more candidates ({n_cand}) than voids ({n_voids})")

    state = _new_state(seed, n_voids, n_cand, maxsize, zrange)
    chunk = max(1, n_voids // 100)
    with tqdm(total=n_voids, disable=not progress, desc="foam", unit="void") as bar:
        while state.istate[0] < n_voids:
            before = int(state.istate[0])
            _advance(state, min(n_voids, before + chunk))
            bar.update(int(state.istate[0]) - before)
    out = np.zeros((n_voids, 5), dtype=np.float32)
    out[:, :4] = state.voids
    return out


# ------------------------------------------------------------------------------ voxelization
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


def voxelize(spheres: np.ndarray, shape: tuple[int, int, int], voxel_size: float,
             center: tuple[float, float, float] = (0.0, 0.0, 0.0), supersampling: int = 2,
             cylinder_radius: float = 1.0) -> np.ndarray:
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
    arr = _check_spheres(spheres)
    if not isinstance(shape, tuple | list) or len(shape) != 3:
        raise ValueError(f"shape must be a tuple of 3 positive ints (nz, ny, nx), got {shape!r}")
    nz, ny, nx = (_as_int(n, "shape", 1) for n in shape)
    voxel_size = _as_float(voxel_size, "voxel_size")
    if voxel_size <= 0:
        raise ValueError(f"voxel_size must be > 0, got {voxel_size}")
    if not isinstance(center, tuple | list) or len(center) != 3:
        raise ValueError(f"center must be a tuple of 3 floats (cx, cy, cz), got {center!r}")
    cx, cy, cz = (_as_float(c, "center") for c in center)
    supersampling = _as_int(supersampling, "supersampling", 1)
    cylinder_radius = _as_float(cylinder_radius, "cylinder_radius")
    if cylinder_radius <= 0:
        raise ValueError(f"cylinder_radius must be > 0, got {cylinder_radius}")
    order = np.argsort(arr[:, 2], kind="stable")
    sph = np.ascontiguousarray(arr[order, :4])
    offs = ((np.arange(supersampling) + 0.5) / supersampling - 0.5) * voxel_size
    return _voxelize_kernel(sph, np.ascontiguousarray(sph[:, 2]), nz, ny, nx, voxel_size, cz, cy, cx, offs,
                            cylinder_radius)


def void_statistics(spheres: np.ndarray, half_height: float) -> dict[str, float]:
    """Count and size statistics of the voids that lie fully inside ``|z| < half_height``.

    These are the voids an edge-killed segmentation of the volume can find whole (voids cut by
    the top or bottom slice are excluded, as in study A). Lengths in the unit of ``spheres``.

    Parameters
    ----------
    spheres : ndarray, shape (N, 5)
        Void list (x, y, z, r, c).
    half_height : float
        Half the height of the imaged volume, centred on z = 0.

    Returns
    -------
    dict
        ``n_voids`` (all generated), ``n_inside``, diameter min/median/max and the 5/95 %
        quantiles of the voids inside, and ``volume_fraction_d25_70``: the share of their pore
        volume in voids of 25-70 diameter units (µm when the list is in µm).
    """
    s = _check_spheres(spheres).astype(np.float64)
    h = _as_float(half_height, "half_height")
    if h <= 0:
        raise ValueError(f"half_height must be > 0, got {h}")
    inside = np.abs(s[:, 2]) + s[:, 3] < h
    d = 2.0 * s[inside, 3]
    if d.size == 0:
        return {"n_voids": float(len(s)), "n_inside": 0.0}
    vol = d**3
    q05, q50, q95 = np.quantile(d, [0.05, 0.5, 0.95])
    return {
        "n_voids": float(len(s)),
        "n_inside": float(d.size),
        "diameter_min": float(d.min()),
        "diameter_q05": float(q05),
        "diameter_median": float(q50),
        "diameter_q95": float(q95),
        "diameter_max": float(d.max()),
        "volume_fraction_d25_70": float(vol[(d >= 25) & (d <= 70)].sum() / vol.sum()),
    }
