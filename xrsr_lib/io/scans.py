"""One input layer for scans: a path or an array, a voxel size or none -> a checked volume and its size.

:func:`read_scan` is how the facade (:class:`~xrsr_lib.recovery.Recovery`,
:func:`~xrsr_lib.recovery.register_scans`) and the ``xrsr`` command take a user's volume: a file
is read (:func:`~xrsr_lib.io.volumes.read_volume`, any format) and its voxel size resolved by the
one rule of :func:`~xrsr_lib.io.voxels.resolve_voxel_size` (the size given, else the file's, else
a ``fallback_um`` such as the size a pose file recorded; anisotropic or missing sizes refused); an
array needs its size given. Every fault of the input is an
:class:`~xrsr_lib.io.errors.XrsrInputError` carrying the parameter it came through, which the
command maps to its option (``lres_voxel_um`` -> ``--lres-voxel``).

Examples
--------
>>> import numpy as np
>>> from xrsr_lib.io import read_scan
>>> vol, voxel = read_scan(np.zeros((4, 5, 6)), "lres", 9.0)
>>> vol.dtype, voxel
(dtype('float32'), 9.0)
>>> read_scan(np.zeros((4, 5, 6)), "lres")
Traceback (most recent call last):
...
xrsr_lib.io.errors.XrsrInputError: lres is an array; give lres_voxel_um
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, overload

import numpy as np

from xrsr_lib.io.errors import XrsrInputError
from xrsr_lib.io.raw import RawSpec
from xrsr_lib.io.validate import check_array
from xrsr_lib.io.volumes import read_volume
from xrsr_lib.io.voxels import resolve_voxel_size

__all__ = ["ScanLike", "read_scan"]

#: What a scan argument may be: a volume file (any format of :func:`read_volume`) or an array.
ScanLike = np.ndarray | str | Path


@overload
def read_scan(
    value: Any,
    name: str,
    voxel_um: float | None = None,
    *,
    fallback_um: float | None = None,
    voxel_parameter: str | None = None,
    raw: RawSpec | None = None,
    need_voxel: Literal[True] = True,
) -> tuple[np.ndarray, float]: ...


@overload
def read_scan(
    value: Any,
    name: str,
    voxel_um: float | None = None,
    *,
    fallback_um: float | None = None,
    voxel_parameter: str | None = None,
    raw: RawSpec | None = None,
    need_voxel: Literal[False],
) -> tuple[np.ndarray, None]: ...


def read_scan(
    value: Any,
    name: str,
    voxel_um: float | None = None,
    *,
    fallback_um: float | None = None,
    voxel_parameter: str | None = None,
    raw: RawSpec | None = None,
    need_voxel: bool = True,
) -> tuple[np.ndarray, float | None]:
    """Return a user's scan as a float32 (z, y, x) volume, and its voxel size (µm).

    Parameters
    ----------
    value : path or array-like
        A volume file (``file.h5:/dataset`` selects an HDF5 dataset) or the volume itself.
    name : str
        The parameter the scan came through (``"lres"``, ``"reference"``): the
        :attr:`~xrsr_lib.io.errors.XrsrInputError.parameter` of a fault of the data, and the
        name of an array in messages (a file is named by its path).
    voxel_um : float, optional
        The voxel size the user gave, µm; it overrides the file's (anisotropic files are refused
        even so: the grid would be wrong).
    fallback_um : float, optional
        The size to use when neither ``voxel_um`` nor the file gives one (a size xrsr recorded,
        e.g. in a pose file), µm.
    voxel_parameter : str, optional
        The parameter a voxel size is given through, named in the messages and carried by the
        errors; default ``f"{name}_voxel_um"``.
    raw : RawSpec, optional
        Layout of a headerless raw file (:mod:`~xrsr_lib.io.raw`).
    need_voxel : bool
        Resolve the voxel size; with False the size is neither read nor checked and None is
        returned (a volume on a grid the caller already knows).

    Returns
    -------
    volume : ndarray (z, y, x), float32
        Finite values.
    voxel_size_um : float or None
        > 0 µm (None when ``need_voxel`` is False).

    Raises
    ------
    XrsrInputMissing
        A file that does not exist (also a ``FileNotFoundError``).
    XrsrInputError
        An unreadable or unknown file, an HDF5 dataset the file lacks, data that is not a finite
        3-D volume (parameter ``name``), or a voxel size that is missing, anisotropic or not > 0
        (parameter ``voxel_parameter``).
    """
    voxel_parameter = voxel_parameter or f"{name}_voxel_um"
    is_file = isinstance(value, str | Path)
    meta: dict[str, Any] = {}
    if is_file:
        try:
            vol, meta = read_volume(value, raw=raw)  # a missing file or one holding no volume: named
        except KeyError as err:  # file.h5:/dataset names a dataset the file does not have
            raise XrsrInputError(str(err).strip("'\""), parameter=name) from None
    else:
        vol = value
    try:
        vol = check_array(vol, str(value) if is_file else name)
    except ValueError as err:  # the user's data: NaN, not 3-D, empty
        raise XrsrInputError(str(err), parameter=name) from None
    if not need_voxel:
        return vol, None
    if voxel_um is None and "voxel_size_um" not in meta and "voxel_size_zyx_um" not in meta:
        voxel_um = fallback_um
    if is_file:
        return vol, resolve_voxel_size(meta, value, voxel_um, voxel_parameter)
    if voxel_um is None:
        raise XrsrInputError(f"{name} is an array; give {voxel_parameter}", parameter=voxel_parameter)
    if not float(voxel_um) > 0:
        raise XrsrInputError(f"{voxel_parameter} must be > 0 µm, got {voxel_um}", parameter=voxel_parameter)
    return vol, float(voxel_um)
