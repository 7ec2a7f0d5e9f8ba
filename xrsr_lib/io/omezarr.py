"""OME-Zarr volumes: chunked, compressed, with the voxel size, a multiscale pyramid and provenance.

xrsr writes results as `OME-NGFF 0.4 <https://ngff.openmicroscopy.org/0.4/>`_ images (Zarr
format 2), which napari (napari-ome-zarr), Fiji (MoBIE / n5-viewer) and neuroglancer open without
loading the volume: a group whose ``multiscales`` attribute lists the levels ``0`` (full
resolution), ``1`` (2× mean-downsampled), ... with their voxel sizes in micrometres (axes z, y, x).
xrsr's own record (the voxel size, what made the volume) is the group attribute ``xrsr``.

Plain Zarr arrays (format 2 or 3) are read too; their voxel size comes from an attribute
``voxel_size_um`` when present.

Examples
--------
>>> import numpy as np, tempfile, os
>>> from xrsr_lib.io.omezarr import write_ome_zarr, open_zarr
>>> path = os.path.join(tempfile.mkdtemp(), "v.zarr")
>>> write_ome_zarr(path, np.ones((20, 30, 40), np.float32), voxel_size_um=3.0, chunks=16)
>>> arr, meta = open_zarr(path)
>>> arr.shape, meta["voxel_size_um"], meta["levels"]
((20, 30, 40), 3.0, 3)
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
from tqdm.auto import tqdm

from xrsr_lib.io.errors import XrsrInputError, XrsrInputExists, XrsrInputMissing
from xrsr_lib.io.validate import check_array

__all__ = [
    "NGFF_VERSION",
    "block_slices",
    "build_pyramid",
    "create_ome_zarr",
    "downsample_mean",
    "is_zarr",
    "multiscales_metadata",
    "open_zarr",
    "publish_directory",
    "pyramid_shapes",
    "write_ome_zarr",
]

NGFF_VERSION = "0.4"
_AXES = [{"name": a, "type": "space", "unit": "micrometer"} for a in "zyx"]


def _compressor() -> Any:
    import numcodecs

    return numcodecs.Blosc(cname="zstd", clevel=3, shuffle=numcodecs.Blosc.BITSHUFFLE)


def is_zarr(path: str | Path) -> bool:
    """Whether ``path`` names a Zarr store (a ``.zarr`` name, or a folder with Zarr metadata)."""
    p = Path(path)
    if p.suffix.lower() == ".zarr":
        return True
    return p.is_dir() and any((p / m).exists() for m in (".zgroup", ".zarray", "zarr.json"))


def _triple(value: int | tuple[int, ...], name: str) -> tuple[int, int, int]:
    vals = (value,) * 3 if isinstance(value, int | np.integer) else tuple(value)
    if len(vals) != 3 or any(int(v) < 1 for v in vals):
        raise ValueError(f"{name} must be a positive int or three positive ints, got {value!r}")
    return tuple(int(v) for v in vals)  # type: ignore[return-value]


def pyramid_shapes(shape: tuple[int, ...], min_side: int = 32, max_levels: int = 8) -> list[tuple[int, ...]]:
    """Shapes of the pyramid levels: each halves (rounding up) until the largest side is ``<= min_side``.

    >>> pyramid_shapes((100, 60, 33), min_side=32)
    [(100, 60, 33), (50, 30, 17), (25, 15, 9)]
    """
    shapes = [tuple(int(n) for n in shape)]
    while max(shapes[-1]) > min_side and len(shapes) < max_levels:
        shapes.append(tuple(math.ceil(n / 2) for n in shapes[-1]))
    return shapes


def multiscales_metadata(
    n_levels: int,
    voxel_size_um: float,
    name: str = "",
    method: str = "xrsr mean 2x2x2",
    origin_um: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> list[dict[str, Any]]:
    """Return the NGFF 0.4 ``multiscales`` attribute of a pyramid with 2× mean downsampling per level.

    Level 0's voxel ``(0, 0, 0)`` has its centre at ``origin_um`` (z, y, x; µm). Level ``k`` has
    voxels ``2**k * voxel_size_um`` wide; its voxel ``0`` averages level-0 voxels ``0 .. 2**k - 1``,
    so its centre lies ``(2**k - 1) / 2`` level-0 voxels further. Every level, level 0 included,
    carries that position as its ``translation`` (µm).
    """
    datasets = []
    for k in range(n_levels):
        s = float(voxel_size_um) * 2**k
        t = [float(o) + float(voxel_size_um) * (2**k - 1) / 2 for o in origin_um]
        transforms: list[dict[str, Any]] = [
            {"type": "scale", "scale": [s, s, s]},
            {"type": "translation", "translation": t},
        ]
        datasets.append({"path": str(k), "coordinateTransformations": transforms})
    return [
        {
            "version": NGFF_VERSION,
            "name": name,
            "axes": _AXES,
            "datasets": datasets,
            "type": "mean",
            "metadata": {"method": method},
        }
    ]


def create_ome_zarr(
    path: str | Path,
    shape: tuple[int, int, int],
    voxel_size_um: float,
    chunks: int | tuple[int, int, int] = 64,
    dtype: Any = np.float32,
    attrs: dict[str, Any] | None = None,
    origin_um: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> Any:
    """Create an empty OME-Zarr image (level ``0`` only) and return its Zarr group.

    Parameters
    ----------
    path : path
        The store (a folder, conventionally ``*.zarr``); it must not exist.
    shape : (nz, ny, nx)
    voxel_size_um : float
        Voxel size of level 0, µm.
    chunks : int or (cz, cy, cx)
        Chunk shape (clipped to the shape).
    attrs : dict, optional
        Provenance, stored under the group attribute ``xrsr`` with the voxel size.
    origin_um : (z, y, x)
        Where the centre of voxel ``(0, 0, 0)`` lies, µm (the NGFF ``translation``; recorded as
        ``xrsr.origin_um`` too).

    Raises
    ------
    FileExistsError
        If ``path`` exists.
    """
    import zarr

    path = Path(path)
    if path.exists():
        raise XrsrInputExists(f"{path} exists; choose a new output name or delete it")
    if not float(voxel_size_um) > 0:
        raise XrsrInputError(f"voxel_size_um must be > 0 µm, got {voxel_size_um}")
    shape = _triple(shape, "shape")
    chunks3 = tuple(min(c, n) for c, n in zip(_triple(chunks, "chunks"), shape, strict=True))
    chunks = cast(tuple[int, int, int], chunks3)
    group = zarr.open_group(str(path), mode="w-", zarr_format=2)
    group.create_array("0", shape=shape, chunks=chunks, dtype=dtype, compressors=_compressor(), fill_value=0)
    z0, y0, x0 = (float(o) for o in origin_um)
    origin = [z0, y0, x0]
    group.attrs["multiscales"] = multiscales_metadata(
        1, voxel_size_um, name=path.stem, origin_um=(z0, y0, x0)
    )
    group.attrs["xrsr"] = {"voxel_size_um": float(voxel_size_um), "origin_um": origin, **(attrs or {})}
    return group


def downsample_mean(block: np.ndarray) -> np.ndarray:
    """2× mean downsampling of a 3-D block (an odd side's last voxel averages with itself)."""
    pad = [(0, n % 2) for n in block.shape]
    if any(p for _, p in pad):
        block = np.pad(block, pad, mode="edge")
    z, y, x = (n // 2 for n in block.shape)
    return block.reshape(z, 2, y, 2, x, 2).mean(axis=(1, 3, 5), dtype=np.float64).astype(block.dtype)


def block_slices(shape: tuple[int, ...], block: tuple[int, ...]) -> Iterator[tuple[slice, ...]]:
    """Yield the regions of an aligned grid of ``block``-shaped blocks covering ``shape`` (last clipped)."""
    import itertools

    starts = [range(0, n, b) for n, b in zip(shape, block, strict=True)]
    for corner in itertools.product(*starts):
        yield tuple(slice(c, min(c + b, n)) for c, b, n in zip(corner, block, shape, strict=True))


def build_pyramid(
    group: Any, min_side: int = 32, progress: bool = False, after_level: Callable[[int], None] | None = None
) -> int:
    """Add (or rebuild) levels ``1, 2, ...`` to an OME-Zarr group from its level ``0``; returns the count.

    Each level is written chunk by chunk from the level above it (a block of ``2 ×`` its chunk
    shape is read at a time), so memory stays at a few chunks whatever the volume size.
    ``after_level(k)`` is called once level ``k`` is written (before the metadata lists it).
    """
    base = group["0"]
    shapes = pyramid_shapes(base.shape, min_side)
    chunks = base.chunks
    prev = base
    for k, shape in enumerate(shapes[1:], start=1):
        arr = group.create_array(
            str(k),
            shape=shape,
            chunks=tuple(min(c, n) for c, n in zip(chunks, shape, strict=True)),
            dtype=base.dtype,
            compressors=_compressor(),
            fill_value=0,
            overwrite=True,
        )
        regions = list(block_slices(shape, arr.chunks))
        for region in tqdm(regions, desc=f"pyramid level {k}", disable=not progress, leave=False):
            src = tuple(
                slice(2 * r.start, min(2 * r.stop, n)) for r, n in zip(region, prev.shape, strict=True)
            )
            arr[region] = downsample_mean(np.asarray(prev[src]))
        prev = arr
        if after_level is not None:
            after_level(k)
    voxel = float(group.attrs["xrsr"]["voxel_size_um"])
    origin = tuple(group.attrs["xrsr"].get("origin_um", (0.0, 0.0, 0.0)))
    group.attrs["multiscales"] = multiscales_metadata(
        len(shapes), voxel, name=group.attrs["multiscales"][0].get("name", ""), origin_um=origin
    )
    return len(shapes)


def publish_directory(work: Path, final: Path) -> None:
    """Move a finished store ``work`` to ``final`` (an old one is replaced only once the new one is whole)."""
    work, final = Path(work), Path(final)
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old")
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
    os.replace(work, final)
    if old is not None:
        shutil.rmtree(old)


def write_ome_zarr(
    path: str | Path,
    volume: np.ndarray,
    voxel_size_um: float,
    chunks: int | tuple[int, int, int] = 64,
    attrs: dict[str, Any] | None = None,
    pyramid: bool = True,
) -> None:
    """Write an in-memory volume as an OME-Zarr image, atomically (replacing an existing one)."""
    path = Path(path)
    vol = check_array(volume, f"volume for {path}", 3, dtype=None)
    work = path.with_name(f".{path.name}.partial")
    if work.exists():
        shutil.rmtree(work)
    try:
        group = create_ome_zarr(work, vol.shape, voxel_size_um, chunks, vol.dtype, attrs)
        group["0"][...] = vol
        if pyramid:
            build_pyramid(group, min_side=max(group["0"].chunks))
        publish_directory(work, path)
    finally:
        if work.exists():
            shutil.rmtree(work)


def open_zarr(path: str | Path, mode: str = "r") -> tuple[Any, dict[str, Any]]:
    """Open the full-resolution array of an OME-Zarr image or a plain Zarr array, without reading it.

    Returns
    -------
    array : zarr.Array
        Sliceable like a NumPy array; reads only the chunks a slice touches.
    metadata : dict
        ``voxel_size_um`` (from the level-0 scale, or the ``voxel_size_um`` attribute) when known,
        ``levels`` (pyramid levels) and the ``xrsr`` provenance when present.

    Raises
    ------
    FileNotFoundError
        If there is no store at ``path``.
    ValueError
        If the store holds neither an image nor a 3-D array.
    """
    import zarr

    path = Path(path)
    if not path.exists():
        raise XrsrInputMissing(f"no such Zarr store: {path}")
    try:
        node = zarr.open(str(path), mode=mode)
    except Exception as err:  # zarr raises several types for a folder that is not a store
        raise XrsrInputError(f"{path}: not a readable Zarr store ({err})") from None
    meta: dict[str, Any] = {}
    if isinstance(node, zarr.Group):
        ms = node.attrs.get("multiscales")
        if not ms:
            arrays = [k for k, v in node.arrays() if v.ndim == 3]
            if len(arrays) != 1:
                raise XrsrInputError(
                    f"{path}: a Zarr group without OME 'multiscales' metadata and "
                    f"{len(arrays)} 3-D arrays; give the array's path ({path}/NAME)"
                )
            node, meta["levels"] = node[arrays[0]], 1
        else:
            level0 = ms[0]["datasets"][0]
            for t in level0.get("coordinateTransformations", []):
                if t.get("type") == "scale":
                    scale = [float(s) for s in t["scale"]][-3:]
                    if max(scale) - min(scale) > 1e-6 * max(scale):
                        raise XrsrInputError(f"{path}: anisotropic voxels {scale} µm are not supported")
                    meta["voxel_size_um"] = scale[0]
            meta["levels"] = len(ms[0]["datasets"])
            if "xrsr" in node.attrs:
                meta["xrsr"] = dict(node.attrs["xrsr"])
            node = node[level0["path"]]
    if node.ndim != 3:
        raise XrsrInputError(f"{path}: the array has {node.ndim} dimensions; a volume (z, y, x) has 3")
    if "voxel_size_um" not in meta and "voxel_size_um" in node.attrs:
        meta["voxel_size_um"] = float(node.attrs["voxel_size_um"])
    return node, meta
