"""Foam phantom with a prescribed void-size distribution (random sequential placement).

Pelt et al.'s generator (:mod:`~xrsr_lib.simulate.phantom.generate`) fills the cylinder greedily,
so its void sizes follow from the packing: few large voids and, at a given count, no small ones.
This generator prescribes the sizes instead and only places them:

1. ``n_voids`` diameters are drawn from a truncated power law, number density
   ``p(d) ∝ d^(-size_exponent)`` on ``[d_min, d_max]`` (inverse CDF of
   :func:`sized_diameter_cdf`; exponent 0 is uniform, 1 log-uniform), and sorted largest first;
2. each void in turn gets uniform random centres, ``x² + y² <= (1 - r)²`` (the void lies fully
   inside the unit cylinder radially) and ``|z| <= zrange``, until one keeps a surface gap of at
   least ``min_gap`` to every void already placed (at most ``max_trials`` centres per void).

Largest first is what makes dense packings reachable: small voids fill the space left between
large ones. The overlap test uses a uniform cell grid in which every placed void is registered in
all cells its box (radius ``r + min_gap / 2``) meets, so a trial only visits the cells its own box
meets (numba kernel; a few thousand voids take well under a second).

Sizes follow the prescribed law exactly (nothing is rejected by size); positions are those of a
random sequential addition, which is uniform only while the packing is far from jamming. Random
sequential addition jams: with a gap of a few percent of the largest diameter and size ratios of
10-16, at a porosity of about 0.5 (the large voids, placed first, block each other). A request
beyond that is a ValueError, not a slow run: each void gets at most ``max_trials`` centres.

The random numbers come from ``numpy.random.default_rng(seed)`` (diameters and the seed of the
kernel's SplitMix64 stream): the output is deterministic by seed. The void list has the format of
:func:`~xrsr_lib.simulate.phantom.generate_foam` (float32 ``(N, 5)`` rows ``(x, y, z, r, c = 0)``
in units of the cylinder radius), so the voxelizer and the analytic projector take it unchanged.
"""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np
from numba import njit
from tqdm.auto import tqdm

from xrsr_lib.simulate.phantom._grids import splitmix_uniform
from xrsr_lib.simulate.phantom.spheres import as_float, as_int

__all__ = ["generate_sized_foam", "sized_diameter_cdf"]

#: Registrations of voids in grid cells allowed before the grid is made coarser (16 bytes each;
#: the ``paper`` profile needs ~0.5 M).
_MAX_ENTRIES = 8_000_000
#: Cells of the grid allowed (8 bytes each; ``paper``: ~0.7 M).
_MAX_CELLS = 8_000_000


# ------------------------------------------------------------------------------ size distribution
def _check_range(diameter_range: object) -> tuple[float, float]:
    """Return ``(d_min, d_max)`` with ``0 < d_min < d_max`` or raise a ValueError naming it."""
    try:
        lo, hi = cast(Any, diameter_range)
    except (TypeError, ValueError):
        raise ValueError(f"diameter_range must be a pair (d_min, d_max), got {diameter_range!r}") from None
    d_min = as_float(lo, "diameter_range")
    d_max = as_float(hi, "diameter_range")
    if d_min <= 0.0:
        raise ValueError(f"diameter_range: d_min must be > 0, got {d_min}")
    if d_min >= d_max:
        raise ValueError(f"diameter_range: d_min must be < d_max, got ({d_min}, {d_max})")
    return d_min, d_max


def _power_cdf(x: np.ndarray, d_min: float, d_max: float, k: float) -> np.ndarray:
    """CDF of the density ``∝ d^(k - 1)`` on ``[d_min, d_max]`` at ``x`` (clipped to the range)."""
    big_l = math.log(d_max / d_min)
    lx = np.log(np.clip(x, d_min, d_max) / d_min)
    kl = k * big_l
    if abs(kl) < 1e-12:
        f = lx / big_l
    elif kl < 1.0:  # also every k < 0: no overflow, expm1 keeps small |k| accurate
        f = np.expm1(k * lx) / math.expm1(kl)
    else:  # large k > 0: scaled by exp(-k L) against overflow
        f = (np.exp(k * (lx - big_l)) - math.exp(-kl)) / -math.expm1(-kl)
    return np.clip(f, 0.0, 1.0)


def _log_power_integral(k: float, big_l: float) -> float:
    """``log((e^(k L) - 1) / k)`` (``log L`` at k = 0), without overflow or cancellation."""
    kl = k * big_l
    if abs(kl) < 1e-12:
        return math.log(big_l)
    if kl > 0:
        return kl + math.log(-math.expm1(-kl)) - math.log(k)
    return math.log(-math.expm1(kl)) - math.log(-k)


def sized_diameter_cdf(
    d: float | np.ndarray,
    diameter_range: tuple[float, float],
    size_exponent: float,
    half_height: float | None = None,
) -> np.ndarray:
    """Cumulative distribution of the void diameters of :func:`generate_sized_foam`.

    The number density is ``p(d) ∝ d^(-a)`` on ``[d_min, d_max]`` (``a = size_exponent``), so
    with ``k = 1 - a``::

        F(d) = (d^k - d_min^k) / (d_max^k - d_min^k)      (a != 1)
        F(d) = ln(d / d_min) / ln(d_max / d_min)          (a == 1, log-uniform)

    evaluated in a form without cancellation or overflow (continuous in ``a`` through 1).

    With ``half_height = h``, the distribution of the voids lying fully inside ``|z| < h`` (those
    an edge-killed segmentation of a volume of height ``2h`` finds whole): a centre uniform in
    ``|z| <= zrange`` (``zrange >= h``) keeps a void of diameter ``d`` inside with probability
    ``(h - d/2) / zrange``, so small voids are slightly over-represented::

        F_h(d) = (h F(d) - m F'(d) / 2) / (h - m / 2)

    with ``m`` the mean diameter and ``F'`` the CDF of exponent ``a - 1`` (the density ``d p(d)``).

    Parameters
    ----------
    d : float or array_like
        Diameters, in the unit of ``diameter_range`` (µm, or cylinder radii); values outside the
        range give 0 or 1.
    diameter_range : tuple of float
        ``(d_min, d_max)``, ``0 < d_min < d_max``, same unit as ``d``.
    size_exponent : float
        ``a``: 0 uniform, 1 log-uniform, larger values favour small voids (any finite value).
    half_height : float, optional
        Half the height of the volume, same unit, ``> d_max / 2``; None: all voids.

    Returns
    -------
    numpy.ndarray
        ``F(d)`` in [0, 1] (float64, the shape of ``d``): the fraction of voids (by count) with a
        diameter <= ``d``.
    """
    d_min, d_max = _check_range(diameter_range)
    k = 1.0 - as_float(size_exponent, "size_exponent")
    x = np.asarray(d, dtype=np.float64)
    f = _power_cdf(x, d_min, d_max, k)
    if half_height is None:
        return f
    h = as_float(half_height, "half_height")
    if h <= d_max / 2.0:
        raise ValueError(f"half_height must exceed the largest radius {d_max / 2.0}, got {h}")
    big_l = math.log(d_max / d_min)
    mean = d_min * math.exp(_log_power_integral(k + 1.0, big_l) - _log_power_integral(k, big_l))
    f1 = _power_cdf(x, d_min, d_max, k + 1.0)
    return np.clip((h * f - 0.5 * mean * f1) / (h - 0.5 * mean), 0.0, 1.0)


def _diameter_quantile(u: np.ndarray, d_min: float, d_max: float, size_exponent: float) -> np.ndarray:
    """Inverse of :func:`sized_diameter_cdf`: the diameters at cumulative fractions ``u`` in [0, 1]."""
    k = 1.0 - size_exponent
    big_l = math.log(d_max / d_min)
    kl = k * big_l
    with np.errstate(divide="ignore", over="ignore"):  # u -> 1 with steep k < 0: lx -> inf, clipped
        if abs(kl) < 1e-12:
            lx = u * big_l
        elif kl < 1.0:
            lx = np.log1p(u * math.expm1(kl)) / k
        else:
            lx = big_l + np.log(u + (1.0 - u) * math.exp(-kl)) / k
        return np.clip(d_min * np.exp(lx), d_min, d_max)


# ------------------------------------------------------------------------------ placement kernel
@njit(cache=True)
def _axis_cells(lo: float, hi: float, origin: float, cell: float, n: int) -> tuple[int, int]:
    """Index range (inclusive, clamped to the grid) of the cells meeting ``[lo, hi]`` on one axis."""
    i0 = min(max(int(math.floor((lo - origin) / cell)), 0), n - 1)
    i1 = min(max(int(math.floor((hi - origin) / cell)), 0), n - 1)
    return i0, i1


@njit(cache=True)
def _place_sized(
    radii,
    start,
    stop,
    zrange,
    gap,
    max_trials,
    rng,
    cell,
    dims,
    head,
    entry_void,
    entry_next,
    n_entries,
    stamp,
    n_stamp,
    out,
):
    """Place voids ``start .. stop - 1`` (radii given, largest first); state lives in the arrays.

    A void is placed at the first of up to ``max_trials`` uniform centres whose gap to every
    placed void is >= ``gap``; each placed void is registered in every grid cell its box of
    half-width ``r + gap / 2`` meets (linked lists ``head`` / ``entry_next``). Returns ``-1`` when
    all were placed, else the index of the void that found no room.
    """
    half_gap = 0.5 * gap
    ox = -1.0 - half_gap
    oz = -zrange - 1.0 - half_gap
    nx = dims[0]
    ny = dims[1]
    nz = dims[2]
    for i in range(start, stop):
        r = radii[i]
        e = r + half_gap
        rr = 1.0 - r
        placed = False
        for _ in range(max_trials):
            rho = rr * math.sqrt(splitmix_uniform(rng))
            theta = 2.0 * math.pi * splitmix_uniform(rng)
            z = zrange * (2.0 * splitmix_uniform(rng) - 1.0)
            x = rho * math.cos(theta)
            y = rho * math.sin(theta)
            n_stamp[0] += 1
            t = n_stamp[0]
            ix0, ix1 = _axis_cells(x - e, x + e, ox, cell, nx)
            iy0, iy1 = _axis_cells(y - e, y + e, ox, cell, ny)
            iz0, iz1 = _axis_cells(z - e, z + e, oz, cell, nz)
            ok = True
            for iz in range(iz0, iz1 + 1):
                for iy in range(iy0, iy1 + 1):
                    row = (iz * ny + iy) * nx
                    for ix in range(ix0, ix1 + 1):
                        k = head[row + ix]
                        while k >= 0:
                            j = entry_void[k]
                            if stamp[j] != t:
                                stamp[j] = t
                                lim = r + out[j, 3] + gap
                                d2 = (x - out[j, 0]) ** 2 + (y - out[j, 1]) ** 2 + (z - out[j, 2]) ** 2
                                if d2 < lim * lim:
                                    ok = False
                                    break
                            k = entry_next[k]
                        if not ok:
                            break
                    if not ok:
                        break
                if not ok:
                    break
            if ok:
                out[i, 0] = x
                out[i, 1] = y
                out[i, 2] = z
                out[i, 3] = r
                for iz in range(iz0, iz1 + 1):
                    for iy in range(iy0, iy1 + 1):
                        row = (iz * ny + iy) * nx
                        for ix in range(ix0, ix1 + 1):
                            k = n_entries[0]
                            entry_void[k] = i
                            entry_next[k] = head[row + ix]
                            head[row + ix] = k
                            n_entries[0] = k + 1
                placed = True
                break
        if not placed:
            return i
    return -1


def _grid(radii: np.ndarray, zrange: float, gap: float) -> tuple[float, np.ndarray, int]:
    """Cell size, cell counts (nx, ny, nz) and the bound on registrations of the overlap grid.

    The grid covers the boxes of all voids, ``[-1 - g/2, 1 + g/2]²`` × ``[-zrange - 1 - g/2,
    zrange + 1 + g/2]``. Cells about the smallest void box: a small trial visits a few cells of a
    few entries; a large void is registered in many cells, but large voids are few. The cells are
    made coarser while the grid or the registrations would exceed the memory bounds.
    """
    extent = np.array([2.0 + gap, 2.0 + gap, 2.0 * zrange + 2.0 + gap])
    cell = max(2.0 * float(radii.min()) + gap, float(np.prod(extent) / _MAX_CELLS) ** (1.0 / 3.0))
    while True:
        dims = np.maximum(1, np.ceil(extent / cell)).astype(np.int64)
        per_axis = np.floor((2.0 * radii + gap) / cell).astype(np.int64) + 2
        entries = int(np.sum(np.prod(np.minimum(per_axis[:, None], dims[None, :]), axis=1)))
        if (entries <= _MAX_ENTRIES and int(np.prod(dims)) <= _MAX_CELLS) or np.all(dims == 1):
            return cell, dims, entries
        cell *= 1.5


# ------------------------------------------------------------------------------ public generator
def generate_sized_foam(
    seed: int,
    n_voids: int,
    diameter_range: tuple[float, float],
    size_exponent: float,
    zrange: float,
    min_gap: float = 0.0,
    max_trials: int = 100_000,
    progress: bool = False,
) -> np.ndarray:
    """Generate a foam phantom (void list) whose void diameters follow a truncated power law.

    See the module notes for the process. Lengths are in units of the cylinder radius (the
    cylinder is ``x² + y² <= 1``).

    Parameters
    ----------
    seed : int
        Seed (>= 0) of ``numpy.random.default_rng``; equal seeds give identical phantoms.
    n_voids : int
        Number of voids (>= 1).
    diameter_range : tuple of float
        ``(d_min, d_max)`` of the void diameters, cylinder radii; ``0 < d_min < d_max < 2``.
    size_exponent : float
        Number density ``∝ d^(-size_exponent)`` (0 uniform, 1 log-uniform; any finite value).
    zrange : float
        Void centres lie in ``|z| <= zrange`` (> 0), cylinder radii; voids may stick out past it.
    min_gap : float
        Smallest surface-to-surface distance between two voids (>= 0), cylinder radii. The gap to
        the cylinder wall is not constrained (a void may touch it).
    max_trials : int
        Random centres tried per void (>= 1) before the request is declared too dense.
    progress : bool
        Show a tqdm progress bar (nothing is printed when False).

    Returns
    -------
    numpy.ndarray
        float32 ``(n_voids, 5)`` rows ``(x, y, z, r, c)``, largest void first, ``c = 0``.

    Raises
    ------
    ValueError
        On a bad argument (the message names it), or when a void finds no room within
        ``max_trials`` centres (the message names ``n_voids``, ``min_gap`` and ``max_trials``).
    """
    seed = as_int(seed, "seed", 0)
    n_voids = as_int(n_voids, "n_voids", 1)
    d_min, d_max = _check_range(diameter_range)
    if d_max >= 2.0:
        raise ValueError(f"diameter_range: d_max must be < 2 (the cylinder's diameter), got {d_max}")
    size_exponent = as_float(size_exponent, "size_exponent")
    zrange = as_float(zrange, "zrange")
    if zrange <= 0.0:
        raise ValueError(f"zrange must be > 0, got {zrange}")
    min_gap = as_float(min_gap, "min_gap")
    if min_gap < 0.0:
        raise ValueError(f"min_gap must be >= 0, got {min_gap}")
    max_trials = as_int(max_trials, "max_trials", 1)

    rng = np.random.default_rng(seed)
    diameters = np.sort(_diameter_quantile(rng.random(n_voids), d_min, d_max, size_exponent))[::-1]
    radii = np.ascontiguousarray(diameters / 2.0)
    kernel_rng = np.array([rng.integers(0, 2**63)], dtype=np.uint64)

    cell, dims, n_entries_max = _grid(radii, zrange, min_gap)
    head = np.full(int(np.prod(dims)), -1, dtype=np.int64)
    entry_void = np.empty(n_entries_max, dtype=np.int64)
    entry_next = np.empty(n_entries_max, dtype=np.int64)
    n_entries = np.zeros(1, dtype=np.int64)
    stamp = np.full(n_voids, -1, dtype=np.int64)
    n_stamp = np.zeros(1, dtype=np.int64)
    out = np.zeros((n_voids, 4))

    chunk = max(1, n_voids // 100)
    with tqdm(total=n_voids, disable=not progress, desc="sized foam", unit="void") as bar:
        for start in range(0, n_voids, chunk):
            stop = min(n_voids, start + chunk)
            failed = _place_sized(
                radii,
                start,
                stop,
                zrange,
                min_gap,
                max_trials,
                kernel_rng,
                cell,
                dims,
                head,
                entry_void,
                entry_next,
                n_entries,
                stamp,
                n_stamp,
                out,
            )
            if failed >= 0:
                raise ValueError(
                    f"too dense: void {failed + 1} of n_voids={n_voids} (diameter {diameters[failed]:.4g}) "
                    f"found no room within max_trials={max_trials} random centres (min_gap={min_gap:g}); "
                    "lower n_voids, the diameters or min_gap, or raise max_trials"
                )
            bar.update(stop - start)
    spheres = np.zeros((n_voids, 5), dtype=np.float32)
    spheres[:, :4] = out
    return spheres
