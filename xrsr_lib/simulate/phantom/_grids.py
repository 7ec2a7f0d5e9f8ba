"""Numba building blocks of the foam generator (:mod:`~xrsr_lib.simulate.phantom.generate`).

* the SplitMix64 random stream (state ``rng[0]``) and uniform points in the cylinder;
* the candidate cell grid: doubly linked lists per cell, renumbered in cell order;
* the max-tree over the grid cells (leaf = largest ``a`` of the cell's candidates);
* nearest-surface queries over the multi-level void grids;
* the open-cell list and the draw of a uniform point in free matrix.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__: list[str] = []

_SM_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_SM_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_SM_MUL2 = np.uint64(0x94D049BB133111EB)
_INV_2_53 = 1.0 / 9007199254740992.0
_BRUTE_FORCE_VOIDS = 128  # below this many voids, nearest-surface queries scan all voids


# ------------------------------------------------------------------------------ RNG (SplitMix64)
@njit(cache=True)
def splitmix_uniform(rng: np.ndarray) -> float:
    """Return a uniform double in [0, 1) and advance the SplitMix64 state ``rng[0]``."""
    rng[0] += _SM_GAMMA
    z = rng[0]
    z = (z ^ (z >> np.uint64(30))) * _SM_MUL1
    z = (z ^ (z >> np.uint64(27))) * _SM_MUL2
    z = z ^ (z >> np.uint64(31))
    return float(z >> np.uint64(11)) * _INV_2_53


@njit(cache=True)
def random_point(rng: np.ndarray, zrange: float) -> tuple[float, float, float]:
    """Uniform point in the cylinder x² + y² <= 1, |z| <= zrange."""
    while True:
        x = 2.0 * splitmix_uniform(rng) - 1.0
        y = 2.0 * splitmix_uniform(rng) - 1.0
        if x * x + y * y <= 1.0:
            break
    z = zrange * (2.0 * splitmix_uniform(rng) - 1.0)
    return x, y, z


# ------------------------------------------------------------------------------ grids
@njit(cache=True)
def _cell_index(v: float, origin: float, cell: float, n: int) -> int:
    i = int(math.floor((v - origin) / cell))
    return min(max(i, 0), n - 1)


@njit(cache=True)
def cell_box(px, py, pz, ext, origin, g, nx, ny, nz):
    """Return the inclusive cell-index ranges ``(ix0, ix1, iy0, iy1, iz0, iz1)`` near p.

    The cells of a grid of cell side ``g`` (``nx × ny × nz`` cells from ``origin``) that hold points
    within ``ext`` of p: the box that both grid walks (void queries, candidate updates) scan, each
    pruning its cells by :func:`axis_gap`, and that :func:`close_covered_cells` scans.
    """
    return (
        _cell_index(px - ext, origin[0], g, nx),
        _cell_index(px + ext, origin[0], g, nx),
        _cell_index(py - ext, origin[1], g, ny),
        _cell_index(py + ext, origin[1], g, ny),
        _cell_index(pz - ext, origin[2], g, nz),
        _cell_index(pz + ext, origin[2], g, nz),
    )


@njit(cache=True)
def axis_gap(v: float, lo: float, hi: float) -> float:
    """Distance from ``v`` to the interval [lo, hi] (0 inside)."""
    if v < lo:
        return lo - v
    if v > hi:
        return v - hi
    return 0.0


# ------------------------------------------------------------------------------ candidate grid
@njit(cache=True)
def flat_cell(x, y, z, origin, g, dims):
    """Flat (z, y, x)-ordered index of the grid cell holding point (x, y, z)."""
    ix = _cell_index(x, origin[0], g, dims[0])
    iy = _cell_index(y, origin[1], g, dims[1])
    iz = _cell_index(z, origin[2], g, dims[2])
    return (iz * dims[1] + iy) * dims[0] + ix


@njit(cache=True)
def link(clink, chead, i, c):
    """Insert candidate ``i`` at the head of cell ``c``'s list (clink rows: next, prev, cell)."""
    clink[i, 0] = chead[c]
    clink[i, 1] = -1
    clink[i, 2] = c
    if chead[c] >= 0:
        clink[chead[c], 1] = i
    chead[c] = i


@njit(cache=True)
def unlink(clink, chead, i):
    nxt = clink[i, 0]
    prv = clink[i, 1]
    if prv >= 0:
        clink[prv, 0] = nxt
    else:
        chead[clink[i, 2]] = nxt
    if nxt >= 0:
        clink[nxt, 1] = prv


@njit(cache=True)
def resort(cand, clink, chead):
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
        link(clink, chead, k, new_cell[k])


# ------------------------------------------------------------------------------ max tree over cells
@njit(cache=True)
def tree_set(tree, c, value):
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
def cell_max(cand, clink, chead, c):
    """Largest ``a`` of the candidates in cell ``c`` (-1 when empty)."""
    m = -1.0
    i = chead[c]
    while i >= 0:
        if cand[i, 3] > m:
            m = cand[i, 3]
        i = clink[i, 0]
    return m


@njit(cache=True)
def tree_build(tree, cand, clink):
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
    ix0, ix1, iy0, iy1, iz0, iz1 = cell_box(px, py, pz, ext, origin, g, nx, ny, nz)
    for iz in range(iz0, iz1 + 1):
        gz = axis_gap(pz, origin[2] + iz * g, origin[2] + (iz + 1) * g)
        for iy in range(iy0, iy1 + 1):
            gy = axis_gap(py, origin[1] + iy * g, origin[1] + (iy + 1) * g)
            gzy = gz * gz + gy * gy
            row = off + (iz * ny + iy) * nx
            for ix in range(ix0, ix1 + 1):
                j = vhead[row + ix]
                if j < 0:
                    continue
                gx = axis_gap(px, origin[0] + ix * g, origin[0] + (ix + 1) * g)
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
def _min_void_distance(
    px, py, pz, best, nvoids, voids, vnext, vhead, lev_off, lev_dims, lev_geom, lev_count, origin
):
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
            best = _scan_level(
                px,
                py,
                pz,
                best,
                lev_geom[lev, 1],
                lev,
                voids,
                vnext,
                vhead,
                lev_off,
                lev_dims,
                lev_geom,
                origin,
            )
            if best < 0.0:
                return best
    # pass 2: every cell that can hold a void surface closer than the current bound
    for lev in range(nlev):
        if lev_count[lev] > 0:
            best = _scan_level(
                px,
                py,
                pz,
                best,
                best + lev_geom[lev, 1],
                lev,
                voids,
                vnext,
                vhead,
                lev_off,
                lev_dims,
                lev_geom,
                origin,
            )
    return best


@njit(cache=True)
def _random_open_point(rng, params, cdims, open_cells, n_open):
    """Uniform point in the cylinder slab restricted to the open (not fully void) grid cells."""
    zrange = params[1]
    gc = params[2]
    while True:
        k = min(int(splitmix_uniform(rng) * n_open), n_open - 1)
        c = open_cells[k]
        ix = c % cdims[0]
        iy = (c // cdims[0]) % cdims[1]
        iz = c // (cdims[0] * cdims[1])
        x = params[3] + (ix + splitmix_uniform(rng)) * gc
        y = params[4] + (iy + splitmix_uniform(rng)) * gc
        z = params[5] + (iz + splitmix_uniform(rng)) * gc
        if x * x + y * y <= 1.0 and abs(z) <= zrange:
            return x, y, z


@njit(cache=True)
def close_covered_cells(px, py, pz, r, params, cdims, istate, open_cells, open_pos):
    """Drop the grid cells lying entirely inside the void (centre p, radius r) from the open list."""
    gc = params[2]
    if r * r <= 0.75 * gc * gc:  # a cell's half diagonal exceeds r: no cell fits inside
        return
    origin = params[3:6]
    ix0, ix1, iy0, iy1, iz0, iz1 = cell_box(px, py, pz, r, origin, gc, cdims[0], cdims[1], cdims[2])
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
def draw_free_candidate(
    rng,
    params,
    cdims,
    open_cells,
    n_open,
    cap,
    nvoids,
    voids,
    vnext,
    vhead,
    lev_off,
    lev_dims,
    lev_geom,
    lev_count,
):
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
            a = _min_void_distance(
                x, y, z, start, nvoids, voids, vnext, vhead, lev_off, lev_dims, lev_geom, lev_count, origin
            )
            if a < start or start >= wall:
                break
            c *= 2.0  # nothing closer than the cap: search farther
        if a >= 0.0:
            return x, y, z, a, ndraw
