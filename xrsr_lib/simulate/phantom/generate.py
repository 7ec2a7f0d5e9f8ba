"""Foam phantom generator (re-implementation of Pelt, Hendriksen & Batenburg 2022).

The phantom is described in :mod:`xrsr_lib.simulate.phantom`: an infinite unit cylinder of matrix
from which non-overlapping spherical voids are removed, void centres in ``|z| <= zrange``.

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

The void list is float32 ``(N, 5)``, rows ``(x, y, z, r, c)`` in placement order (see
:mod:`xrsr_lib.simulate.phantom.spheres`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from tqdm.auto import tqdm

from xrsr_lib.simulate.phantom._packing import init_candidates, place_voids
from xrsr_lib.simulate.phantom.spheres import as_float, as_int

__all__ = ["generate_foam"]


class _FoamState(NamedTuple):
    """Arrays of a generator run (see :func:`~xrsr_lib.simulate.phantom._packing.place_voids`); resumable."""

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
    init_candidates(rng, params, cdims, cand, clink, chead)
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

    return _FoamState(
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


def _advance(state: _FoamState, n_target: int) -> None:
    """Place voids until ``n_target`` voids exist."""
    if place_voids(n_target, *state) != 0:
        raise RuntimeError(f"no room left for more voids after {int(state.istate[0])} voids")


def _grid_dims(cell: float, zrange: float) -> np.ndarray:
    """Cell counts (nx, ny, nz) covering [-1, 1]² × [-zrange, zrange]."""
    return np.array(
        [
            max(1, math.ceil(2.0 / cell)),
            max(1, math.ceil(2.0 / cell)),
            max(1, math.ceil(2.0 * zrange / cell)),
        ],
        dtype=np.int64,
    )


def generate_foam(
    seed: int,
    nspheres_per_unit: int = 100000,
    ntrials_per_unit: int = 1000000,
    maxsize: float = 0.2,
    zrange: float = 1.5,
    progress: bool = True,
) -> np.ndarray:
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
    seed = as_int(seed, "seed", 0)
    if seed >= 2**64:
        raise ValueError(f"seed must be < 2**64, got {seed}")
    nspheres_per_unit = as_int(nspheres_per_unit, "nspheres_per_unit", 1)
    ntrials_per_unit = as_int(ntrials_per_unit, "ntrials_per_unit", 1)
    maxsize = as_float(maxsize, "maxsize")
    if not 0.0 < maxsize < 1.0:
        raise ValueError(f"maxsize must be in (0, 1), got {maxsize}")
    zrange = as_float(zrange, "zrange")
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
