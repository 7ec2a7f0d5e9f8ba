"""Files: volumes in the formats users have, Pelt-compatible HDF5, the parameter-keyed cache.

- :mod:`~xrsr_lib.io.volumes`: :func:`read_volume` / :func:`write_volume` (TIFF, HDF5 any
  dataset, NPY, Zarr, folders of slices, MetaImage / NRRD / NIfTI; read only: ZEISS ``.txm``, raw
  and ``.vgi``), format from the file name, atomic writes.
- :mod:`~xrsr_lib.io.lazy`: :func:`~xrsr_lib.io.lazy.open_volume`, every format region by region
  (format modules :mod:`~xrsr_lib.io.tiff`, :mod:`~xrsr_lib.io.slices`, :mod:`~xrsr_lib.io.itk`,
  :mod:`~xrsr_lib.io.raw`, :mod:`~xrsr_lib.io.txm`); :mod:`~xrsr_lib.io.info` what a file holds.
- :mod:`~xrsr_lib.io.voxels`: the voxel-size rule (anisotropic or missing sizes refused).
- :mod:`~xrsr_lib.io.scans`: :func:`read_scan`, the one input layer of the facade and the ``xrsr``
  command (a file or an array -> a checked volume and its voxel size).
- :mod:`~xrsr_lib.io.hdf5`: Pelt et al.'s ``foam_ct_phantom`` layout (``volume``, ``projs``,
  ``spheres``) and tables, used by the cache.
- :mod:`~xrsr_lib.io.cache`: every heavy artifact keyed by the parameters that made it.
- :mod:`~xrsr_lib.io.validate`: the one array validator of the library.
"""

from xrsr_lib.io.cache import Cache, atomic_path, param_key, write_json_atomic
from xrsr_lib.io.hdf5 import (
    export_tiff,
    read_array,
    read_attrs,
    read_projections,
    read_spheres,
    read_table,
    write_array,
    write_projections,
    write_spheres,
    write_table,
)
from xrsr_lib.io.scans import read_scan
from xrsr_lib.io.validate import check_array, check_same_shape, check_volume
from xrsr_lib.io.volumes import read_volume, volume_format, writable_format, write_volume

__all__ = [
    "Cache",
    "atomic_path",
    "check_array",
    "check_same_shape",
    "check_volume",
    "export_tiff",
    "param_key",
    "read_array",
    "read_attrs",
    "read_projections",
    "read_scan",
    "read_spheres",
    "read_table",
    "read_volume",
    "volume_format",
    "writable_format",
    "write_array",
    "write_json_atomic",
    "write_projections",
    "write_spheres",
    "write_table",
    "write_volume",
]
