"""A volume on disk, read region by region: the input side of out-of-core processing.

:func:`open_volume` gives a :class:`LazyVolume` for every format :func:`~xrsr_lib.io.read_volume`
reads, plus Zarr / OME-Zarr, without reading the data: its shape, dtype and metadata come from
the file's header. :meth:`LazyVolume.read` returns one region as float32. Nothing stays open or
mapped between reads (a ``.npy`` file is memory-mapped for the read and unmapped after it), so the
memory a long pass over a huge file holds is that of one region, and a ``LazyVolume`` pickles to
its path: dask workers re-open it where they run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from xrsr_lib.io.errors import XrsrInputError

__all__ = ["LazyVolume", "open_volume"]


@dataclass(frozen=True)
class LazyVolume:
    """A 3-D volume file, read one region at a time.

    Attributes
    ----------
    path : Path
        The file (or Zarr store).
    dataset : str or None
        HDF5 dataset path.
    shape : (nz, ny, nx)
    dtype : numpy dtype
    metadata : dict
        As :func:`~xrsr_lib.io.read_volume` gives it (``voxel_size_um`` when the file records it).
    """

    path: Path
    dataset: str | None
    shape: tuple[int, int, int]
    dtype: np.dtype
    metadata: dict[str, Any] = field(default_factory=dict)
    fmt: str = "npy"

    @property
    def nbytes(self) -> int:
        """Size of the whole volume in its dtype, bytes."""
        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize

    def read(self, region: tuple[slice, ...] | None = None, *, check_finite: bool = True) -> np.ndarray:
        """One region ``(z, y, x)`` slices (default: all) as a float32 array.

        Raises
        ------
        ValueError
            If the region holds NaN or infinite values (with the file and region named).
        """
        region = region or tuple(slice(0, n) for n in self.shape)
        if self.fmt == "npy":
            mm = np.load(self.path, mmap_mode="r", allow_pickle=False)
            try:
                out = np.array(mm[region], dtype=np.float32)
            finally:
                del mm  # unmap: the pages read do not stay in this process's memory
        elif self.fmt == "hdf5":
            import h5py

            with h5py.File(self.path, "r") as f:
                out = np.asarray(f[self.dataset][region], dtype=np.float32)
        elif self.fmt == "zarr":
            from xrsr_lib.io.omezarr import open_zarr

            arr, _ = open_zarr(self.path)
            out = np.asarray(arr[region], dtype=np.float32)
        else:  # tiff
            out = _read_tiff_region(self.path, region)
        if check_finite and not np.isfinite(out).all():
            where = ",".join(f"{r.start}:{r.stop}" for r in region)
            raise XrsrInputError(f"{self.path}: NaN or infinite values in the region z,y,x = {where}")
        return out


def _read_tiff_region(path: Path, region: tuple[slice, ...]) -> np.ndarray:
    import tifffile

    try:
        mm: np.ndarray = tifffile.memmap(path, mode="r")
    except ValueError:  # compressed or not contiguous: read the pages of the region
        with tifffile.TiffFile(path) as tif:
            pages = range(len(tif.pages))[region[0]]
            return np.stack([tif.pages[i].asarray()[region[1:]] for i in pages]).astype(np.float32)
    try:
        if mm.ndim == 2:
            mm = mm[None]
        return np.array(mm[region], dtype=np.float32)
    finally:
        del mm


def open_volume(path: str | Path, dataset: str | None = None) -> LazyVolume:
    """Open a volume file for region-wise reading (TIFF, HDF5 ``file.h5:/dataset``, ``.npy``, Zarr).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        Unknown format, or data that is not 3-D.
    """
    from xrsr_lib.io.omezarr import open_zarr
    from xrsr_lib.io.volumes import _default_dataset, locate_volume

    p, dataset, fmt = locate_volume(path, dataset)
    if fmt == "zarr":
        arr, zarr_meta = open_zarr(p)
        return LazyVolume(p, None, tuple(arr.shape), np.dtype(arr.dtype), zarr_meta, "zarr")
    meta: dict[str, Any] = {}
    if fmt == "npy":
        mm = np.load(p, mmap_mode="r", allow_pickle=False)
        shape, dtype = mm.shape, mm.dtype
        del mm
    elif fmt == "hdf5":
        import h5py

        from xrsr_lib.io.hdf5 import decode_attr

        dataset = dataset or _default_dataset(p)
        with h5py.File(p, "r") as f:
            if dataset not in f:
                raise XrsrInputError(f"{p}: no dataset {dataset!r}")
            ds = f[dataset]
            shape, dtype = ds.shape, ds.dtype
            meta = {k: decode_attr(v) for k, v in ds.attrs.items()}
    else:
        import tifffile

        from xrsr_lib.io.volumes import _tiff_voxel_size

        with tifffile.TiffFile(p) as tif:
            series = tif.series[0]
            shape, dtype = series.shape, series.dtype
            size = _tiff_voxel_size(tif)
        if size is not None:
            meta["voxel_size_um"] = size
        if len(shape) == 2:
            shape = (1, *shape)
    if len(shape) != 3:
        raise XrsrInputError(f"{p}: the data has {len(shape)} dimensions {tuple(shape)}; a volume (z, y, x) "
                             "has 3")
    shape3 = cast(tuple[int, int, int], tuple(int(n) for n in shape))
    return LazyVolume(p, dataset, shape3, np.dtype(dtype), meta, fmt)
