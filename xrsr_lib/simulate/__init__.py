"""Simulations whose truth is known: foam phantoms, cone-beam CT, nano-CT crack slices, natural images.

- :mod:`~xrsr_lib.simulate.phantom`: Pelt et al.'s foam generator and voxelizer;
- :mod:`~xrsr_lib.simulate.ct`: geometry, exact and voxel projectors, FDK, detector blur and noise;
- :mod:`~xrsr_lib.simulate.nanoct`: nano-CT slices with cracks and their degradation (study B);
- :mod:`~xrsr_lib.simulate.natural`: natural images shipped with scikit-image / matplotlib.
"""

__all__: list[str] = []
