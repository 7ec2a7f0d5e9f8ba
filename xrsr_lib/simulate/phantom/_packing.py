"""Numba kernels of the greedy void packing of :func:`~xrsr_lib.simulate.phantom.generate.generate_foam`.

:func:`place_voids` runs the placement loop (random sequential then greedy phase) on the state
arrays that :mod:`~xrsr_lib.simulate.phantom.generate` allocates; it updates the candidates near
each new void (:func:`_update_near`) and redraws those a void swallows (:func:`_replace_candidate`).
The grid, tree and random-stream building blocks are in :mod:`~xrsr_lib.simulate.phantom._grids`.
Lengths are in units of the cylinder radius.
"""

from __future__ import annotations

import math

from numba import njit

from xrsr_lib.simulate.phantom._grids import (
    axis_gap,
    cell_box,
    cell_max,
    close_covered_cells,
    draw_free_candidate,
    flat_cell,
    link,
    random_point,
    resort,
    splitmix_uniform,
    tree_build,
    tree_set,
    unlink,
)

__all__: list[str] = []


# ------------------------------------------------------------------------------ main kernel
@njit(cache=True)
def place_voids(
    n_target,
    params,
    cdims,
    rng,
    istate,
    cand,
    clink,
    chead,
    tree,
    voids,
    vnext,
    vhead,
    lev_off,
    lev_dims,
    lev_geom,
    lev_count,
    open_cells,
    open_pos,
):
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
                resort(cand, clink, chead)
                tree_build(tree, cand, clink)
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
            k = min(int(splitmix_uniform(rng) * count), count - 1)
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
        slot = lev_off[lev] + flat_cell(px, py, pz, origin, lev_geom[lev, 0], lev_dims[lev])
        vnext[nv] = vhead[slot]
        vhead[slot] = nv
        lev_count[lev] += 1
        istate[0] = nv + 1
        close_covered_cells(px, py, pz, r, params, cdims, istate, open_cells, open_pos)
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
                        _replace_candidate(
                            i,
                            r,
                            params,
                            cdims,
                            rng,
                            istate,
                            cand,
                            clink,
                            chead,
                            tree,
                            voids,
                            vnext,
                            vhead,
                            lev_off,
                            lev_dims,
                            lev_geom,
                            lev_count,
                            open_cells,
                        )
                if cand[i, 3] > maxsize:
                    count += 1
            istate[3] = count
            if istate[1] == 1:
                tree_build(tree, cand, clink)
        else:
            _update_near(
                px,
                py,
                pz,
                r,
                r + amax,
                params,
                cdims,
                rng,
                istate,
                cand,
                clink,
                chead,
                tree,
                voids,
                vnext,
                vhead,
                lev_off,
                lev_dims,
                lev_geom,
                lev_count,
                open_cells,
                open_pos,
            )
            if istate[2] > ncand // 4:
                resort(cand, clink, chead)
                istate[2] = 0
    return 0


@njit(cache=True)
def _update_near(
    px,
    py,
    pz,
    r,
    ext,
    params,
    cdims,
    rng,
    istate,
    cand,
    clink,
    chead,
    tree,
    voids,
    vnext,
    vhead,
    lev_off,
    lev_dims,
    lev_geom,
    lev_count,
    open_cells,
    open_pos,
):
    """Update the candidates within ``ext`` of a new void (centre p, radius r) via the cell grid.

    The cell walk is :func:`~xrsr_lib.simulate.phantom._grids._scan_level`'s, written out on
    purpose: one shared walk (a numba generator, or walks folding a visitor function over the
    cells) made the generator 15-100 % slower, as this visit needs all the state arrays.
    """
    gc = params[2]
    origin = params[3:6]
    nx = cdims[0]
    ny = cdims[1]
    nz = cdims[2]
    ix0, ix1, iy0, iy1, iz0, iz1 = cell_box(px, py, pz, ext, origin, gc, nx, ny, nz)
    for iz in range(iz0, iz1 + 1):
        gz = axis_gap(pz, origin[2] + iz * gc, origin[2] + (iz + 1) * gc)
        for iy in range(iy0, iy1 + 1):
            gy = axis_gap(py, origin[1] + iy * gc, origin[1] + (iy + 1) * gc)
            gzy = gz * gz + gy * gy
            row = (iz * ny + iy) * nx
            for ix in range(ix0, ix1 + 1):
                c = row + ix
                i = chead[c]
                if i < 0:
                    continue
                gx = axis_gap(px, origin[0] + ix * gc, origin[0] + (ix + 1) * gc)
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
                            _replace_candidate(
                                i,
                                r,
                                params,
                                cdims,
                                rng,
                                istate,
                                cand,
                                clink,
                                chead,
                                tree,
                                voids,
                                vnext,
                                vhead,
                                lev_off,
                                lev_dims,
                                lev_geom,
                                lev_count,
                                open_cells,
                            )
                    i = nxt
                if changed:
                    tree_set(tree, c, cell_max(cand, clink, chead, c))


@njit(cache=True)
def _replace_candidate(
    i,
    cap,
    params,
    cdims,
    rng,
    istate,
    cand,
    clink,
    chead,
    tree,
    voids,
    vnext,
    vhead,
    lev_off,
    lev_dims,
    lev_geom,
    lev_count,
    open_cells,
):
    """Move candidate ``i`` to a fresh random point in free matrix (cell lists and tree updated)."""
    gc = params[2]
    origin = params[3:6]
    unlink(clink, chead, i)
    x, y, z, a, ndraw = draw_free_candidate(
        rng,
        params,
        cdims,
        open_cells,
        istate[6],
        cap,
        istate[0],
        voids,
        vnext,
        vhead,
        lev_off,
        lev_dims,
        lev_geom,
        lev_count,
    )
    cand[i, 0] = x
    cand[i, 1] = y
    cand[i, 2] = z
    cand[i, 3] = a
    c = flat_cell(x, y, z, origin, gc, cdims)
    link(clink, chead, i, c)
    istate[2] += 1
    istate[4] += 1
    istate[5] += ndraw
    if istate[1] == 1:
        half = tree.shape[0] // 2
        if a > tree[half + c]:
            tree_set(tree, c, a)


@njit(cache=True)
def init_candidates(rng, params, cdims, cand, clink, chead):
    """Draw the initial candidate pool (no voids yet: ``a`` is the wall distance)."""
    zrange = params[1]
    gc = params[2]
    origin = params[3:6]
    for i in range(cand.shape[0]):
        x, y, z = random_point(rng, zrange)
        cand[i, 0] = x
        cand[i, 1] = y
        cand[i, 2] = z
        cand[i, 3] = 1.0 - math.sqrt(x * x + y * y)
        clink[i, 2] = flat_cell(x, y, z, origin, gc, cdims)
    resort(cand, clink, chead)
