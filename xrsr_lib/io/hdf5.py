"""Pelt-compatible HDF5: volumes, projections, void lists and tables (TIFF export for other tools).

The HDF5 layout follows Pelt et al.'s ``foam_ct_phantom`` so files stay interoperable:
``spheres`` (flat 5N float32: x, y, z, r, c per void), ``volume`` (nz, ny, nx), ``projs``
(n_angles, rows, cols). Parameters are stored as attributes; nested values as JSON strings.
HDF5 opens in Python (h5py), MATLAB (``h5read``), Fiji (HDF5 plugin), Avizo and Dragonfly, keeps
the parameters next to the data, and compresses losslessly in chunks.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from xrsr_lib.io.validate import check_volume

__all__ = [
    "PROJECTIONS",
    "SPHERES",
    "TABLE",
    "VOLUME",
    "decode_attr",
    "export_tiff",
    "read_array",
    "read_attrs",
    "read_projections",
    "read_spheres",
    "read_table",
    "read_pelt_volume",
    "write_array",
    "write_projections",
    "write_spheres",
    "write_table",
    "write_pelt_volume",
]

VOLUME = "volume"
PROJECTIONS = "projs"
SPHERES = "spheres"


def _encode_attr(value: Any) -> Any:
    if isinstance(value, dict | list | tuple):
        return json.dumps(value)
    if value is None:
        return "null"
    return value


def decode_attr(value: Any) -> Any:
    """Decode an HDF5 attribute as written by :func:`write_array`.

    JSON strings go back to lists and dicts, numpy scalars to Python ones.
    """
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str) and value[:1] in "[{" or value == "null":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_array(path: str | Path, name: str, data: np.ndarray, attrs: dict[str, Any] | None = None) -> None:
    """Write one dataset (chunked, gzip level 4) with attributes to a new HDF5 file."""
    data = np.asarray(data)
    chunks = None
    if data.ndim >= 2 and data.size > 4096:
        chunks = (1,) * (data.ndim - 2) + tuple(min(s, 256) for s in data.shape[-2:])
    with h5py.File(path, "w") as f:
        f.attrs["FILE_VERSION"] = 1.0
        ds = f.create_dataset(
            name,
            data=data,
            chunks=chunks,
            compression="gzip" if chunks else None,
            compression_opts=4 if chunks else None,
            shuffle=bool(chunks),
        )
        for k, v in (attrs or {}).items():
            ds.attrs[k] = _encode_attr(v)


@contextlib.contextmanager
def _dataset(path: str | Path, name: str) -> Iterator[h5py.Dataset | h5py.Group]:
    """Open ``path`` and yield its dataset (or group) ``name``.

    Errors name the file or the dataset when either is missing.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    with h5py.File(path, "r") as f:
        if name not in f:
            raise KeyError(f"{path} has no dataset {name!r} (has: {', '.join(f.keys())})")
        yield f[name]


def read_array(path: str | Path, name: str) -> tuple[np.ndarray, dict[str, Any]]:
    """Read a dataset and its attributes. Raises a clear error if the file or dataset is missing."""
    with _dataset(path, name) as ds:
        return ds[()], {k: decode_attr(v) for k, v in ds.attrs.items()}


def read_attrs(path: str | Path, name: str = VOLUME) -> dict[str, Any]:
    """Return the attributes of a dataset, without reading its data."""
    with _dataset(path, name) as ds:
        return {k: decode_attr(v) for k, v in ds.attrs.items()}


def write_pelt_volume(path: str | Path, volume: np.ndarray, attrs: dict[str, Any] | None = None) -> None:
    """Write a (nz, ny, nx) float32 volume as the dataset ``volume`` of a new file (Pelt's layout).

    For any volume format (TIFF, HDF5 with a voxel size, NPY, OME-Zarr) use
    :func:`xrsr_lib.io.volumes.write_volume`.
    """
    write_array(path, VOLUME, check_volume(volume), attrs)


def read_pelt_volume(path: str | Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Read the dataset ``volume`` of a file in Pelt's layout and its attributes.

    For any volume file (and ``file.h5:/dataset``) use :func:`xrsr_lib.io.volumes.read_volume`.
    """
    return read_array(path, VOLUME)


def write_projections(path: str | Path, projs: np.ndarray, attrs: dict[str, Any] | None = None) -> None:
    """Write a (n_angles, rows, cols) float32 projection stack; geometry goes in ``attrs``."""
    write_array(path, PROJECTIONS, check_volume(projs, "projections"), attrs)


def read_projections(path: str | Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Read a projection stack written by :func:`write_projections`.

    Returns
    -------
    projections : numpy.ndarray
        The (n_angles, rows, cols) stack as stored (float32).
    attrs : dict
        Its attributes (the geometry), decoded by :func:`decode_attr`.
    """
    return read_array(path, PROJECTIONS)


def write_spheres(path: str | Path, spheres: np.ndarray, attrs: dict[str, Any] | None = None) -> None:
    """Write a void list (N, 5) as Pelt's flat ``spheres`` dataset."""
    arr = np.asarray(spheres, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != 5:
        raise ValueError(f"spheres must have shape (N, 5), got {arr.shape}")
    write_array(path, SPHERES, arr.reshape(-1), attrs)


def read_spheres(path: str | Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Read a void list as (N, 5) float32 (x, y, z, r, c)."""
    flat, attrs = read_array(path, SPHERES)
    if flat.ndim != 1 or flat.size % 5:
        raise ValueError(f"{path}: 'spheres' must be a flat array of 5N values, got shape {flat.shape}")
    return flat.reshape(-1, 5).astype(np.float32, copy=False), attrs


def export_tiff(path: str | Path, volume: np.ndarray, voxel_size_um: float | None = None) -> None:
    """Save a volume as a multi-page float32 ImageJ TIFF (for Fiji, Avizo, Dragonfly)."""
    import tifffile

    vol = check_volume(volume)
    kwargs: dict[str, Any] = {"imagej": True, "metadata": {"axes": "ZYX"}}
    if voxel_size_um is not None:
        kwargs["resolution"] = (1.0 / voxel_size_um, 1.0 / voxel_size_um)
        kwargs["metadata"].update({"spacing": voxel_size_um, "unit": "um"})
    tifffile.imwrite(path, vol, **kwargs)


TABLE = "table"


def write_table(path: str | Path, table: Any, attrs: dict[str, Any] | None = None) -> None:
    """Write a table (a pandas DataFrame of numeric or string columns) to a new HDF5 file.

    Each column becomes a dataset in the group ``table``; the column order and ``attrs`` are kept
    as attributes of the group, so :func:`read_table` returns the same frame.
    """
    import pandas as pd

    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table must be a pandas DataFrame, got {type(table).__name__}")
    with h5py.File(path, "w") as f:
        f.attrs["FILE_VERSION"] = 1.0
        g = f.create_group(TABLE)
        g.attrs["columns"] = json.dumps([str(c) for c in table.columns])
        for col in table.columns:
            values = table[col].to_numpy()
            if values.dtype == object or values.dtype.kind in "US" or str(table[col].dtype) == "string":
                g.create_dataset(str(col), data=np.asarray([str(v) for v in values], dtype="S"))
                g[str(col)].attrs["text"] = True
            elif values.dtype.kind in "biuf":
                g.create_dataset(str(col), data=values)
            else:
                raise ValueError(f"column {col!r} has unsupported dtype {values.dtype}")
        for k, v in (attrs or {}).items():
            g.attrs[k] = _encode_attr(v)


def read_table(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """Read a table written by :func:`write_table` as ``(DataFrame, attrs)``."""
    import pandas as pd

    with _dataset(path, TABLE) as g:
        columns = json.loads(g.attrs["columns"])
        data = {}
        for c in columns:
            ds = g[c]
            values = ds[()]
            if ds.attrs.get("text", False):
                values = np.asarray([v.decode() for v in values], dtype=object)
            data[c] = values
        attrs = {k: decode_attr(v) for k, v in g.attrs.items() if k != "columns"}
    return pd.DataFrame(data, columns=columns), attrs
