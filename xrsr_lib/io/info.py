"""What a volume file holds, read from its header and a sample: the answer of ``xrsr info PATH``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from xrsr_lib.io.lazy import open_volume
from xrsr_lib.io.raw import RawSpec

__all__ = ["volume_info"]

#: Slices read for the value range (evenly spaced, whole slices).
SAMPLE_SLICES = 5


def _chunking(lazy: Any) -> str:
    fmt = lazy.fmt
    if fmt == "zarr":
        from xrsr_lib.io.omezarr import open_zarr

        arr, _ = open_zarr(lazy.path)
        return f"zarr chunks {tuple(int(c) for c in arr.chunks)}"
    if fmt == "hdf5":
        import h5py

        with h5py.File(lazy.path, "r") as f:
            chunks = f[lazy.dataset].chunks
        return f"hdf5 chunks {chunks}" if chunks else "hdf5 contiguous"
    if fmt == "npy":
        return "contiguous (memory-mapped)"
    if fmt == "raw":
        return "contiguous raw (memory-mapped)"
    if fmt == "slices":
        return f"one file per z slice ({lazy.shape[0]} files)"
    if fmt == "txm":
        return "one OLE stream per z slice"
    if fmt == "itk":
        streaming = lazy.metadata.get("streaming")
        return "regions streamed from disk" if streaming else "compressed: decompressed whole for each region"
    return "one page per z slice"


def volume_info(
    path: str | Path, raw: RawSpec | None = None, sample_slices: int = SAMPLE_SLICES
) -> dict[str, Any]:
    """Format, shape, dtype, voxel size, chunking and the value range of a sample of a volume.

    Parameters
    ----------
    path : path or str
        Anything :func:`~xrsr_lib.io.lazy.open_volume` opens.
    raw : RawSpec, optional
        Layout of a headerless raw file.
    sample_slices : int
        Whole z slices read (evenly spaced) for the value range.

    Returns
    -------
    dict
        ``path``, ``format``, ``shape`` (z, y, x), ``dtype``, ``size_mib``, ``voxel_size_um`` (None
        when the file records none or anisotropic sizes), ``voxel_size_zyx_um``, ``voxel_note``,
        ``chunking``, ``sample``: ``slices`` read, ``min``, ``max``, ``mean``, ``finite`` (whether
        every sampled value is finite); for OME-Zarr ``levels`` and, when the result has a trust
        map, ``trust`` (its path).

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`~xrsr_lib.io.lazy.open_volume`.
    """
    lazy = open_volume(path, raw=raw)
    meta = lazy.metadata
    nz = lazy.shape[0]
    zs = sorted({int(round(z)) for z in np.linspace(0, nz - 1, min(sample_slices, nz))})
    lo, hi, total, count, finite = np.inf, -np.inf, 0.0, 0, True
    for z in zs:
        plane = lazy.read_native((slice(z, z + 1), slice(None), slice(None)))
        values = plane.astype(np.float64, copy=False)
        ok = np.isfinite(values)
        finite = finite and bool(ok.all())
        if ok.any():
            lo, hi = min(lo, float(values[ok].min())), max(hi, float(values[ok].max()))
            total, count = total + float(values[ok].sum()), count + int(ok.sum())
    zyx = meta.get("voxel_size_zyx_um")
    size = meta.get("voxel_size_um")
    if size is not None:
        note = "from the file" + (f" ({meta['voxel_size_source']})" if "voxel_size_source" in meta else "")
    elif zyx is not None:
        note = "anisotropic: xrsr refuses it until resampled to one size"
    else:
        note = "not recorded: give --voxel"
    return {
        "path": str(path),
        "format": lazy.fmt,
        "shape": list(lazy.shape),
        "dtype": str(lazy.dtype),
        "size_mib": round(lazy.nbytes / 2**20, 3),
        "voxel_size_um": size,
        "voxel_size_zyx_um": zyx,
        "voxel_note": note,
        "chunking": _chunking(lazy),
        "sample": {
            "slices": zs,
            "min": lo if count else None,
            "max": hi if count else None,
            "mean": total / count if count else None,
            "finite": finite,
        },
        **({"levels": meta["levels"]} if "levels" in meta else {}),
        **(
            {"trust": str(Path(lazy.path) / "trust")}
            if lazy.fmt == "zarr" and (Path(lazy.path) / "trust").is_dir()
            else {}
        ),
    }
