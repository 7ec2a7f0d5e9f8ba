"""Pore segmentation and per-pore morphometry: the study's workflow, the same for every image.

Every image of the study (ground truth, FDK reconstructions, super-resolution and deconvolution
outputs) is analysed by the same chain of plain functions on arrays::

    image, foam mask
      -> threshold t (Otsu on the foam voxels unless fixed)
      -> pore mask = (image < t) & foam mask
      -> binary closing (fills matrix specks inside pores), kept inside the foam mask
      -> removal of objects smaller than a sphere of ``min_pore_diameter_um`` (noise specks)
      -> separation of touching pores: watershed of the negated (smoothed) Euclidean distance
         transform from h-maxima markers, restricted to the pore mask
      -> edge-kill: pores touching the first or last z slice are dropped (as in study A)
      -> per-pore volume, equivalent diameter, surface (marching cubes), sphericity

Volumes are ``(z, y, x)`` arrays in material-fraction units (matrix ≈ 1, pores ≈ 0, zero outside
the foam cylinder). Lengths are in µm, with an isotropic voxel of ``voxel_size_um``.

Separation
----------
The markers are the maxima of the distance transform whose *dynamic* (how far one descends from
the maximum before reaching a higher one) is at least ``separation_h_voxels``: exactly the
h-maxima. Two touching voids are joined by a neck much narrower than either, so each keeps its
own maximum; a rough (noisy) pore surface only adds shallow maxima, which are merged. Neither the
volume's faces nor the outside of the foam mask count as matrix for the distance transform, so a
pore cut by them keeps the depth of its cut shape. Every connected pore object gets at least one
label (its highest maximum is always a marker).

Foam mask
---------
In blurred or deconvolved images the sample's outer surface is a dark rim just inside the
cylinder, which thresholds as thin "pores": on the 256³ ``cpu`` profile at σ = 3 µm, the full
cylinder (radius 120 µm) adds 13 (DeepNet), 57 (RL) and 90 (RL + NLM) rim fragments to the 161
pores. ``surface_margin_um`` treats an outer shell of the mask as surface: the threshold and the
porosity use only the voxels deeper than the margin; pores are separated inside that inner region
(where the rim cannot link them) and then grow back into the shell by at most the margin, so real
pores reaching into the shell keep their whole shape (a mask simply shrunk by the margin would cut
them, lowering their sphericity: ground-truth mean 0.975 instead of 0.988), while the rest of the
shell, the rim, is dropped. A pore that touches a rim takes the rim voxels within the margin of
it. Only the top and bottom slices edge-kill, so counts stay comparable to the generator's list.

Sphericity
----------
``ψ = π^(1/3) (6 V)^(2/3) / A`` (Wadell), with ``V`` the voxel-count volume and ``A`` the area of
a marching-cubes mesh. A raw mesh of a binary mask is a staircase (ψ ≈ 0.92 for any voxelized
sphere), so each pore's mask is smoothed with a Gaussian of σ = ``surface_smoothing_sigma``
voxels before meshing at level 0.5. Smoothing moves the 0.5 level inward by about σ²/r (small
pores shrink most), which alone would give ψ > 1 for small pores; the mesh is therefore scaled
isotropically until it encloses the pore's voxel-count volume (``A ← A (V / V_mesh)^(2/3)``). The
sphericity is then that of the smoothed surface's *shape*, which the isoperimetric inequality
bounds by 1 for a closed mesh. Measured on supersampled voxelized spheres (σ = 0.8, mean over
random sub-voxel centres): ψ = 0.98 (r = 3 voxels), 0.99 (r = 5 to 20 voxels).

The modules:

- :mod:`~xrsr_lib.config.pores`: :class:`PoreAnalysisConfig`, one set of settings for every image
  (a typed setting, so it lives in ``config/``).
- :mod:`~xrsr_lib.evaluate.pores.segment`: :func:`segment_pores` (threshold, closing, speck
  removal, separation of touching pores, surface shell, edge-kill).
- :mod:`~xrsr_lib.evaluate.pores.properties`: :func:`pore_properties` (volume, diameter, surface,
  sphericity, centroid per pore).
- :mod:`~xrsr_lib.evaluate.pores.analysis`: :func:`analyse_pores` and :class:`PoreAnalysis`, plus
  :func:`porosity`, :func:`pore_recovery`, :func:`relative_error_pct`, :func:`share_below_pct`,
  :func:`size_histogram`, :func:`size_histogram_table` and :func:`sphericity_statistics`.
- :mod:`~xrsr_lib.evaluate.pores.parallel`: :func:`analyse_pores_parallel`, many images in worker
  processes.

Examples
--------
>>> import numpy as np
>>> from xrsr_lib.prepare.masks import cylinder_mask
>>> z, y, x = np.mgrid[:40, :40, :40]
>>> image = np.where((z - 20) ** 2 + (y - 20) ** 2 + (x - 20) ** 2 < 8**2, 0.0, 1.0)
>>> result = analyse_pores(image, cylinder_mask(image.shape, 19))
>>> result.n_pores
1
"""

from xrsr_lib.config.pores import SURFACE_SMOOTHING_SIGMA, PoreAnalysisConfig
from xrsr_lib.evaluate.pores.analysis import (
    SPHERICITY_STATISTICS,
    PoreAnalysis,
    analyse_pores,
    pore_recovery,
    porosity,
    relative_error_pct,
    share_below_pct,
    size_histogram,
    size_histogram_table,
    sphericity_statistics,
)
from xrsr_lib.evaluate.pores.parallel import analyse_pores_parallel
from xrsr_lib.evaluate.pores.properties import PORE_COLUMNS, pore_properties
from xrsr_lib.evaluate.pores.segment import PoreSegmentation, segment_pores

__all__ = [
    "PORE_COLUMNS",
    "SPHERICITY_STATISTICS",
    "SURFACE_SMOOTHING_SIGMA",
    "PoreAnalysis",
    "PoreAnalysisConfig",
    "PoreSegmentation",
    "analyse_pores",
    "analyse_pores_parallel",
    "pore_properties",
    "pore_recovery",
    "porosity",
    "relative_error_pct",
    "share_below_pct",
    "segment_pores",
    "size_histogram",
    "size_histogram_table",
    "sphericity_statistics",
]
