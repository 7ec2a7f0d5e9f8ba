"""Foam phantoms: Pelt, Hendriksen & Batenburg (2022)'s generator, and one with prescribed sizes.

The phantom is an infinite cylinder of matrix material ``x² + y² <= 1`` (the cylinder radius is
the unit of length, matrix attenuation 1) from which non-overlapping spherical voids (attenuation
0) are removed. Void centres lie in ``|z| <= zrange``; voids may stick out past it in ``z``.

Void lists are float32 arrays ``(N, 5)`` of rows ``(x, y, z, r, c)`` in placement order, with
``c = 0`` (the void attenuation); :func:`spheres_to_flat` / :func:`spheres_from_flat` convert to
and from the ``foam_ct_phantom`` package's flat ``5N`` layout. Both generators write this format,
so the voxelizer and the analytic projector take either.

The modules:

- :mod:`~xrsr_lib.simulate.phantom.generate`: :func:`generate_foam`, Pelt's greedy packing (the
  numba placement loop in :mod:`~xrsr_lib.simulate.phantom._packing`; the cell grids, max-tree and
  nearest-void queries in :mod:`~xrsr_lib.simulate.phantom._grids`); the void sizes follow from
  the packing.
- :mod:`~xrsr_lib.simulate.phantom.sized`: :func:`generate_sized_foam`, voids with diameters drawn
  from a truncated power law (:func:`sized_diameter_cdf`), placed largest first by random
  sequential addition with a minimum gap.
- :mod:`~xrsr_lib.simulate.phantom.voxelizer`: :func:`voxelize`, material fraction per voxel.
- :mod:`~xrsr_lib.simulate.phantom.statistics`: :func:`void_statistics` of a void list.
- :mod:`~xrsr_lib.simulate.phantom.spheres`: void-list validation and the flat layout.
"""

from xrsr_lib.simulate.phantom.generate import generate_foam
from xrsr_lib.simulate.phantom.sized import generate_sized_foam, sized_diameter_cdf
from xrsr_lib.simulate.phantom.spheres import spheres_from_flat, spheres_to_flat
from xrsr_lib.simulate.phantom.statistics import void_statistics
from xrsr_lib.simulate.phantom.voxelizer import voxelize

__all__ = [
    "generate_foam",
    "generate_sized_foam",
    "sized_diameter_cdf",
    "spheres_from_flat",
    "spheres_to_flat",
    "void_statistics",
    "voxelize",
]
