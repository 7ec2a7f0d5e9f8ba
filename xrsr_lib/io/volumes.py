"""Read and write 3-D volumes in the formats XRM users have.

TIFF stacks, HDF5, NumPy, Zarr, and (docs/formats.md) folders of slices, MetaImage / NRRD /
NIfTI, ZEISS ``.txm``, raw files.

The format follows the file name: ``.tif`` / ``.tiff`` (a multi-page stack, voxel size read from
ImageJ or OME-XML metadata when present), ``.h5`` / ``.hdf5`` / ``.nxs`` (any dataset:
``dataset="/entry/data"`` or ``path.h5:/entry/data``; default ``volume``, the Pelt layout),
``.npy`` (memory-mapped on read), ``.zarr`` (OME-Zarr written with a pyramid, see
:mod:`~xrsr_lib.io.omezarr`; plain Zarr arrays read). Writing is atomic: the file appears under
its final name only once complete. For volumes larger than memory use
:func:`~xrsr_lib.io.lazy.open_volume`, which reads region by region.

Examples
--------
>>> import numpy as np, tempfile, os
>>> from xrsr_lib.io import read_volume, write_volume
>>> path = os.path.join(tempfile.mkdtemp(), "v.tif")
>>> write_volume(path, np.zeros((4, 5, 6), np.float32), voxel_size_um=3.0)
>>> vol, meta = read_volume(path)
>>> vol.shape, meta["voxel_size_um"]
((4, 5, 6), 3.0)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from xrsr_lib.io import hdf5
from xrsr_lib.io.cache import atomic_path
from xrsr_lib.io.errors import XrsrInputError, XrsrInputMissing
from xrsr_lib.io.itk import ITK_SUFFIXES, is_itk
from xrsr_lib.io.omezarr import is_zarr, open_zarr, write_ome_zarr
from xrsr_lib.io.raw import RAW_SUFFIXES, RawSpec
from xrsr_lib.io.slices import SLICE_SUFFIXES, is_glob
from xrsr_lib.io.validate import check_array

__all__ = [
    "READ_ONLY",
    "VOLUME_SUFFIXES",
    "locate_volume",
    "read_volume",
    "volume_format",
    "writable_format",
    "write_volume",
]

#: File suffixes per format (``slices``: a folder or glob of 2-D slices, a name without suffix).
VOLUME_SUFFIXES: dict[str, tuple[str, ...]] = {
    "tiff": (".tif", ".tiff"),
    "hdf5": (".h5", ".hdf5", ".hdf", ".nxs"),
    "npy": (".npy",),
    "zarr": (".zarr",),
    "itk": ITK_SUFFIXES,
    "txm": (".txm",),
    "txrm": (".txrm",),
    "raw": RAW_SUFFIXES,
    "vgi": (".vgi",),
}
#: Formats read but not written.
READ_ONLY = ("txm", "txrm", "raw", "vgi")


def _split_dataset(path: str | Path, dataset: str | None) -> tuple[Path, str | None]:
    text = str(path)
    for suffix in VOLUME_SUFFIXES["hdf5"]:
        marker = suffix + ":"
        if marker in text and dataset is None:
            head, _, tail = text.partition(marker)
            return Path(head + suffix), tail
    return Path(path), dataset


def volume_format(path: str | Path) -> str:
    """Return the format of a volume path: a key of :data:`VOLUME_SUFFIXES`, or ``"slices"``.

    A folder, a glob or a name without suffix is a folder of 2-D slices.

    Raises
    ------
    ValueError
        A suffix of no known format.
    """
    if is_itk(path):
        return "itk"
    if is_glob(path) or Path(path).is_dir() or not Path(path).suffix:
        return "slices"
    suffix = Path(path).suffix.lower()
    for fmt, suffixes in VOLUME_SUFFIXES.items():
        if suffix in suffixes:
            return fmt
    known = ", ".join(s for v in VOLUME_SUFFIXES.values() for s in v)
    raise XrsrInputError(
        f"{path}: unknown volume format {suffix or '(no suffix)'!r}; use one of {known}, or a folder of "
        "slices (a name without suffix)"
    )


def writable_format(path: str | Path) -> str:
    """Return the format :func:`write_volume` writes ``path`` in (``"zarr"`` for a ``.zarr`` store).

    Check an output name with it before the work that makes the volume.

    Raises
    ------
    XrsrInputError
        A suffix of no known format, or of a format xrsr reads but does not write (the file named).
    """
    if is_zarr(path):
        return "zarr"
    fmt = volume_format(path)
    if fmt in READ_ONLY:
        raise XrsrInputError(
            f"{path}: xrsr reads {fmt} files but does not write them; write .tif, .zarr, .mhd, .nrrd, .nii "
            "or a folder of slices"
        )
    return fmt


def read_volume(
    path: str | Path, dataset: str | None = None, *, mmap: bool = True, raw: RawSpec | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """Read a 3-D volume and its metadata.

    Parameters
    ----------
    path : path
        A TIFF stack, an HDF5 file (``file.h5:/group/dataset`` selects a dataset) or a ``.npy``.
    dataset : str, optional
        HDF5 dataset path; default ``volume``, or the only 3-D dataset of the file.
    mmap : bool
        Memory-map ``.npy`` files instead of reading them.
    raw : RawSpec, optional
        Layout of a headerless raw file (:mod:`~xrsr_lib.io.raw`).

    Returns
    -------
    volume : ndarray (z, y, x)
        In the file's dtype (a memory map for ``.npy``).
    metadata : dict
        HDF5 attributes, or for TIFF ``voxel_size_um`` when the file records it.

    Raises
    ------
    XrsrInputMissing
        If the file does not exist (a ``FileNotFoundError``).
    XrsrInputError
        Unknown format, no dataset ``volume`` and not one 3-D dataset, or data that is not 3-D (a
        ``ValueError``).
    KeyError
        If the file has no dataset ``dataset``.
    """
    path, dataset, fmt = locate_volume(path, dataset, raw=raw)
    if fmt == "zarr":
        arr, zarr_meta = open_zarr(path)
        return np.asarray(arr[...]), zarr_meta
    if fmt not in ("npy", "tiff", "hdf5"):  # the readers of io.lazy, whole
        from xrsr_lib.io.lazy import open_volume

        lazy = open_volume(path, raw=raw)
        return lazy.read_native(), dict(lazy.metadata)
    meta: dict[str, Any] = {}
    if fmt == "npy":
        vol = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    elif fmt == "tiff":
        vol, meta = _read_tiff(path)
    else:
        vol, meta = hdf5.read_array(path, dataset or default_dataset(path))
    try:
        check_array(vol, str(path), 3, finite=False, dtype=None)
    except ValueError as err:  # the user's file holds no volume (not 3-D, empty, not numbers)
        raise XrsrInputError(str(err), parameter="path") from None
    return vol, meta


def locate_volume(
    path: str | Path, dataset: str | None = None, raw: RawSpec | None = None
) -> tuple[Path, str | None, str]:
    """Split a volume path into file, HDF5 dataset (from ``file.h5:/path`` or ``dataset``) and format.

    With ``raw`` any existing file is a raw volume.

    Raises
    ------
    FileNotFoundError
        If the file (or Zarr store) does not exist.
    ValueError
        If the suffix names no known format.
    """
    if is_zarr(path):
        if not Path(path).exists():
            raise XrsrInputMissing(f"no such Zarr store: {path}")
        return Path(path), None, "zarr"
    if is_glob(path):
        return Path(path), None, "slices"
    p, dataset = _split_dataset(path, dataset)
    if not p.exists():
        raise XrsrInputMissing(f"no such volume file: {p}")
    if p.suffix.lower() in SLICE_SUFFIXES and p.suffix.lower() not in VOLUME_SUFFIXES["tiff"]:
        raise XrsrInputError(f"{p} is a 2-D image; a volume is needed (give the folder of its slices)")
    if raw is not None and p.is_file():  # a raw layout applies to raw and unknown suffixes only
        try:
            fmt = volume_format(p)
        except ValueError:
            fmt = "raw"
        return p, dataset, fmt
    return p, dataset, volume_format(p)


def default_dataset(path: Path) -> str:
    import h5py

    with h5py.File(path, "r") as f:
        if hdf5.VOLUME in f:
            return hdf5.VOLUME
        found: list[str] = []
        f.visititems(lambda n, o: found.append(n) if isinstance(o, h5py.Dataset) and o.ndim == 3 else None)
    if len(found) != 1:
        raise XrsrInputError(
            f"{path}: no dataset 'volume' and {len(found)} 3-D datasets "
            f"({', '.join(found)}); name one with dataset= or file.h5:/path"
        )
    return found[0]


def _read_tiff(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    import tifffile

    from xrsr_lib.io.tiff import read_tiff_header
    from xrsr_lib.io.voxels import isotropic_metadata

    header = read_tiff_header(path)  # truncated files and 2-D images are named here
    if len(header.shape) != 3:
        raise XrsrInputError(f"{path} is a 2-D image; a volume is needed")
    vol = tifffile.imread(path).reshape(header.shape)
    return vol, isotropic_metadata(header.voxel_sizes_um)


def _tiff_voxel_size(tif: Any) -> float | None:
    """Return the x voxel size in µm a TIFF records (ImageJ or OME-XML), or None.

    See :mod:`~xrsr_lib.io.tiff`.
    """
    from xrsr_lib.io.tiff import tiff_voxel_sizes

    sizes = tiff_voxel_sizes(tif)
    return None if sizes is None else sizes[2]


def write_volume(
    path: str | Path,
    volume: np.ndarray,
    attrs: dict[str, Any] | None = None,
    *,
    voxel_size_um: float | None = None,
) -> None:
    """Write a 3-D volume atomically in the format of the file name.

    HDF5 files get the Pelt layout (dataset ``volume``, ``attrs`` as attributes); TIFF files a
    float32 ImageJ stack (voxel size recorded); ``.npy`` the array alone. ``voxel_size_um`` is
    also stored in the HDF5 attributes.

    Raises
    ------
    ValueError
        Unknown format, or a volume that is not a finite 3-D array.
    """
    path = Path(path)
    fmt = writable_format(path)
    if fmt == "zarr":
        if voxel_size_um is None:
            raise XrsrInputError(f"{path}: an OME-Zarr image needs voxel_size_um")
        write_ome_zarr(path, check_array(volume, f"volume for {path}", 3), voxel_size_um, attrs=attrs)
        return
    vol = check_array(volume, f"volume for {path}", 3)
    attrs = dict(attrs or {})
    if voxel_size_um is not None:
        attrs["voxel_size_um"] = float(voxel_size_um)
    if fmt == "slices":
        from xrsr_lib.io.slices import write_slices

        write_slices(path, vol, voxel_size_um)
        return
    if fmt == "itk":
        from xrsr_lib.io.itk import write_itk

        write_itk(path, vol, voxel_size_um)
        return
    with atomic_path(path) as tmp:
        if fmt == "hdf5":
            hdf5.write_pelt_volume(tmp, vol, attrs)
        elif fmt == "tiff":
            hdf5.export_tiff(tmp, vol, voxel_size_um=attrs.get("voxel_size_um"))
        else:
            with open(tmp, "wb") as f:
                np.save(f, vol)
