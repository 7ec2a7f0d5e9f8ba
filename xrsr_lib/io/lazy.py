"""A volume on disk, read region by region: the input side of out-of-core processing.

:func:`open_volume` gives a :class:`LazyVolume` for every format :func:`~xrsr_lib.io.read_volume`
reads (TIFF, HDF5, ``.npy``, Zarr / OME-Zarr, a folder or glob of 2-D slices, MetaImage / NRRD /
NIfTI, ZEISS ``.txm``, raw files with a :class:`~xrsr_lib.io.raw.RawSpec` or a VGStudio ``.vgi``;
docs/formats.md) without reading the data: its shape, dtype and metadata come from the file's
header. :meth:`LazyVolume.read` returns one region as float32. Nothing stays open or
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
from xrsr_lib.io.raw import RawSpec

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
    #: What the format's reader needs besides the path: the slice files of a folder; the data
    #: file, dtype and offset of a raw volume.
    source: tuple[Any, ...] = ()

    def __str__(self) -> str:
        """Return the file path (what messages name)."""
        return str(self.path)

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
        region = self._full(region)
        out = self.read_native(region).astype(np.float32, copy=False)
        if check_finite and not np.isfinite(out).all():
            where = ",".join(f"{r.start}:{r.stop}" for r in region)
            raise XrsrInputError(f"{self.path}: NaN or infinite values in the region z,y,x = {where}")
        return out

    def _full(self, region: tuple[slice, ...] | None) -> tuple[slice, ...]:
        if region is None:
            return tuple(slice(0, n) for n in self.shape)
        return tuple(slice(*r.indices(n)[:2]) for r, n in zip(region, self.shape, strict=True))

    def read_native(self, region: tuple[slice, ...] | None = None) -> np.ndarray:
        """One region ``(z, y, x)`` (default: all) in the file's own dtype."""
        region = self._full(region)
        if self.fmt == "npy":
            mm = np.load(self.path, mmap_mode="r", allow_pickle=False)
            try:
                return np.array(mm[region])
            finally:
                del mm  # unmap: the pages read do not stay in this process's memory
        if self.fmt == "hdf5":
            import h5py

            with h5py.File(self.path, "r") as f:
                return np.asarray(f[self.dataset][region])
        if self.fmt == "zarr":
            from xrsr_lib.io.omezarr import open_zarr

            arr, _ = open_zarr(self.path)
            return np.asarray(arr[region])
        if self.fmt == "slices":
            from xrsr_lib.io.slices import read_slices_region

            return read_slices_region(self.source, region)
        if self.fmt == "itk":
            from xrsr_lib.io.itk import read_itk_region

            return read_itk_region(self.path, region)
        if self.fmt == "raw":
            from xrsr_lib.io.raw import RawSpec, read_raw_region

            data, dtype, offset = self.source
            return read_raw_region(data, RawSpec(self.shape, dtype, offset), region)
        if self.fmt == "txm":
            from xrsr_lib.io.txm import read_txm_region

            return read_txm_region(self.path, self.shape, self.dtype, region)
        from xrsr_lib.io.tiff import read_tiff_region

        return read_tiff_region(self.path, region).reshape(tuple(s.stop - s.start for s in region))


def open_volume(path: str | Path, dataset: str | None = None, raw: RawSpec | None = None) -> LazyVolume:
    """Open a volume for region-wise reading (any format of :mod:`xrsr_lib.io`; docs/formats.md).

    Parameters
    ----------
    path : path or str
        A file, a Zarr store, a folder of slices or a glob (``scan/*_rec*.tif``); HDF5 as
        ``file.h5:/dataset``.
    dataset : str, optional
        HDF5 dataset path.
    raw : RawSpec, optional
        Layout of a headerless raw file (``--raw-shape``, ``--raw-dtype``).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        Unknown format, data that is not 3-D (a 2-D image is named as such), a truncated file, a
        raw file without its layout; every message names the file.
    """
    from xrsr_lib.io.omezarr import open_zarr
    from xrsr_lib.io.volumes import default_dataset, locate_volume

    p, dataset, fmt = locate_volume(path, dataset, raw=raw)
    meta: dict[str, Any] = {}
    source: tuple[Any, ...] = ()
    if fmt == "zarr":
        arr, meta = open_zarr(p)
        shape, dtype = arr.shape, arr.dtype
    elif fmt == "npy":
        mm = np.load(p, mmap_mode="r", allow_pickle=False)
        shape, dtype = mm.shape, mm.dtype
        del mm
    elif fmt == "hdf5":
        import h5py

        from xrsr_lib.io.hdf5 import decode_attr

        dataset = dataset or default_dataset(p)
        with h5py.File(p, "r") as f:
            if dataset not in f:
                raise XrsrInputError(f"{p}: no dataset {dataset!r}")
            ds = f[dataset]
            shape, dtype = ds.shape, ds.dtype
            meta = {k: decode_attr(v) for k, v in ds.attrs.items()}
    elif fmt == "slices":
        from xrsr_lib.io.slices import open_slices

        source, shape, dtype, meta = open_slices(path)
    elif fmt == "itk":
        from xrsr_lib.io.itk import open_itk

        shape, dtype, meta = open_itk(p)
    elif fmt in ("raw", "vgi"):
        from xrsr_lib.io.raw import open_raw, parse_vgi

        if fmt == "vgi":
            data, raw, meta = parse_vgi(p)
        elif raw is None:
            raise XrsrInputError(
                f"{p} is a raw volume without a header: give its layout (--raw-shape Z,Y,X "
                "--raw-dtype uint16, and --voxel), or open its .vgi / .mhd header"
            )
        else:
            data = p
        shape, dtype, more = open_raw(data, raw)
        meta = {**meta, **more}
        source, fmt = (str(data), raw.dtype, raw.offset), "raw"
    elif fmt == "txm":
        from xrsr_lib.io.txm import open_txm

        shape, dtype, meta = open_txm(p)
    elif fmt == "txrm":
        from xrsr_lib.io.txm import refuse_txrm

        refuse_txrm(p)
    else:
        from xrsr_lib.io.tiff import read_tiff_header
        from xrsr_lib.io.voxels import isotropic_metadata

        header = read_tiff_header(p)
        shape, dtype = header.shape, header.dtype
        meta = isotropic_metadata(header.voxel_sizes_um)
    if len(shape) == 2 or (len(shape) == 3 and shape[0] == 1 and fmt in ("tiff", "slices")):
        raise XrsrInputError(f"{p} is a 2-D image; a volume is needed")
    if len(shape) != 3:
        raise XrsrInputError(
            f"{p}: the data has {len(shape)} dimensions {tuple(shape)}; a volume (z, y, x) has 3"
        )
    shape3 = cast(tuple[int, int, int], tuple(int(n) for n in shape))
    return LazyVolume(p, dataset, shape3, np.dtype(dtype), meta, fmt, source)
