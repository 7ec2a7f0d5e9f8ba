"""A volume stored as a folder of 2-D slices (TIFF, PNG, BMP), as reconstruction software writes it.

A folder (``scan/``) or a glob (``scan/*_rec*.tif``) names the slices; they are sorted in natural
order (``rec_2.tif`` before ``rec_10.tif``). In a folder, the largest group of files that differ
only in their number is the volume (a Bruker folder's ``*_spr.bmp`` preview is left out). Every
slice must have the first one's shape and type (the first odd slice is named), and a numbered
series must have no gap (the missing number is named). The voxel size comes from a Bruker
SkyScan / NRecon ``*_rec.log`` (or any ``.log`` with ``Pixel Size (um)``) beside the slices, else
from the first slice's ImageJ / OME metadata. Regions are read slice by slice: only the slices of
a region are opened.
"""

from __future__ import annotations

import glob
import re
from pathlib import Path
from typing import Any

import numpy as np

from xrsr_lib.io.errors import XrsrInputError, XrsrInputExists, XrsrInputMissing
from xrsr_lib.io.voxels import isotropic_metadata

__all__ = [
    "SLICE_SUFFIXES",
    "find_slices",
    "is_glob",
    "natural_key",
    "open_slices",
    "read_slices_region",
    "write_slices",
]

SLICE_SUFFIXES = (".tif", ".tiff", ".png", ".bmp")
_PIL_DTYPES = {
    "L": np.uint8,
    "I;16": np.uint16,
    "I;16L": np.uint16,
    "I;16B": np.uint16,
    "I": np.int32,
    "F": np.float32,
}


def is_glob(path: str | Path) -> bool:
    """Whether a path holds glob characters (``*``, ``?``, ``[``)."""
    return any(c in str(path) for c in "*?[")


def natural_key(name: str) -> list[Any]:
    """Sort key of a file name with its numbers compared as numbers (``rec_2`` < ``rec_10``)."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def _pattern(name: str) -> str:
    return re.sub(r"\d+", "#", name.lower())


def find_slices(path: str | Path) -> list[Path]:
    """List the slice files of a folder or glob, in natural order.

    Raises
    ------
    FileNotFoundError
        If the folder does not exist, or nothing matches.
    """
    if is_glob(path):
        files = [Path(p) for p in glob.glob(str(path)) if Path(p).suffix.lower() in SLICE_SUFFIXES]
        if not files:
            raise XrsrInputMissing(f"no slice files ({', '.join(SLICE_SUFFIXES)}) match {path}")
    else:
        folder = Path(path)
        if not folder.is_dir():
            raise XrsrInputMissing(f"no such folder: {folder}")
        images = [p for p in folder.iterdir() if p.suffix.lower() in SLICE_SUFFIXES and p.is_file()]
        if not images:
            raise XrsrInputMissing(f"{folder}: no slice files ({', '.join(SLICE_SUFFIXES)}) in the folder")
        groups: dict[str, list[Path]] = {}
        for p in images:
            groups.setdefault(_pattern(p.name), []).append(p)
        files = max(groups.values(), key=len)
    return sorted(files, key=lambda p: natural_key(p.name))


def _check_series(files: list[Path], where: object) -> None:
    """Refuse a numbered series with a gap, naming the first missing slice."""
    numbers = []
    for p in files:
        found = re.findall(r"\d+", p.stem)
        if not found:
            return
        numbers.append((int(found[-1]), found[-1], p))
    for (a, text, p), (b, _, _) in zip(numbers, numbers[1:], strict=False):
        if b != a + 1:
            missing = str(a + 1).zfill(len(text))
            name = (
                p.stem[: p.stem.rfind(text)] + missing + p.stem[p.stem.rfind(text) + len(text) :] + p.suffix
            )
            raise XrsrInputError(
                f"{where}: slice {name} is missing (the numbered series jumps from {p.name} to number {b})"
            )


def _slice_header(path: Path) -> tuple[tuple[int, ...], np.dtype, tuple[float, float, float] | None]:
    if path.suffix.lower() in (".tif", ".tiff"):
        from xrsr_lib.io.tiff import read_tiff_header

        h = read_tiff_header(path)
        return h.shape, h.dtype, h.voxel_sizes_um
    from PIL import Image

    try:
        with Image.open(path) as im:
            mode, size = im.mode, im.size
    except OSError as err:
        raise XrsrInputError(f"{path} is not a readable image ({err})") from None
    if mode not in _PIL_DTYPES:
        raise XrsrInputError(f"{path} is a {mode} image; slices must be grey (8-bit, 16-bit or float)")
    return (size[1], size[0]), np.dtype(_PIL_DTYPES[mode]), None


def bruker_pixel_size(folder: Path) -> tuple[float, Path] | None:
    """Return the reconstruction pixel size (µm) of a Bruker SkyScan / NRecon log in ``folder``.

    Returns the size and the log it comes from, or None when no log in ``folder`` records one.
    """
    logs = sorted(folder.glob("*_rec.log")) + sorted(
        p for p in folder.glob("*.log") if not p.name.endswith("_rec.log")
    )
    for log in logs:
        text = log.read_text(errors="replace")
        section = text.split("[Reconstruction]", 1)[1] if "[Reconstruction]" in text else text
        for key in (
            r"^Pixel Size \(um\)\s*=\s*([0-9.eE+-]+)",
            r"^Image Pixel Size \(um\)\s*=\s*([0-9.eE+-]+)",
        ):
            m = re.search(key, section, re.MULTILINE) or re.search(key, text, re.MULTILINE)
            if m:
                return float(m.group(1)), log
    return None


def open_slices(path: str | Path) -> tuple[tuple[str, ...], tuple[int, int, int], np.dtype, dict[str, Any]]:
    """Slice files, volume shape ``(z, y, x)``, dtype and metadata of a folder or glob of slices.

    Raises
    ------
    FileNotFoundError
        No such folder, or no slices.
    ValueError
        A slice of another shape or type than the first (named), a gap in a numbered series,
        a colour or unreadable slice.
    """
    files = find_slices(path)
    _check_series(files, path)
    shape, dtype, sizes = _slice_header(files[0])
    if len(shape) != 2:
        raise XrsrInputError(f"{files[0]}: a slice of a folder must be a 2-D image, got shape {shape}")
    for p in files[1:]:
        s, d, _ = _slice_header(p)
        if s != shape or d != dtype:
            raise XrsrInputError(
                f"{p} is {s[-1] if s else '?'} x {s[0] if s else '?'} {d}, unlike the first "
                f"slice {files[0].name} ({shape[1]} x {shape[0]} {dtype}); every slice of "
                f"{path} must have one shape and type"
            )
    folder = files[0].parent
    meta: dict[str, Any] = {"slices": len(files)}
    bruker = bruker_pixel_size(folder)
    if bruker is not None:
        meta.update(isotropic_metadata((bruker[0],) * 3))
        meta["voxel_size_source"] = str(bruker[1])
    elif sizes is not None:
        meta.update(isotropic_metadata(sizes))
        meta["voxel_size_source"] = str(files[0])
    return tuple(str(p) for p in files), (len(files), *shape), dtype, meta


def _read_slice(path: Path, rows: slice, cols: slice) -> np.ndarray:
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        return np.asarray(tifffile.imread(path))[rows, cols]
    from PIL import Image

    with Image.open(path) as im:
        box = (cols.start, rows.start, cols.stop, rows.stop)
        return np.asarray(im.crop(box))


def read_slices_region(files: tuple[str, ...], region: tuple[slice, ...]) -> np.ndarray:
    """One region ``(z, y, x)`` of a slice volume, in the slices' dtype (only its slices opened)."""
    zs = range(len(files))[region[0]]
    return np.stack([_read_slice(Path(files[i]), region[1], region[2]) for i in zs])


def write_slices(
    folder: str | Path, volume: np.ndarray, voxel_size_um: float | None = None, prefix: str | None = None
) -> list[Path]:
    """Write a volume as a folder of float32 ImageJ TIFF slices ``PREFIX_0000.tif`` ... (atomically).

    Each slice records the voxel size (resolution and ``spacing``, µm), so Fiji, Avizo and
    Dragonfly import the folder with its scale, and xrsr reads it back with its voxel size.

    Raises
    ------
    FileExistsError
        If ``folder`` exists.
    """
    import shutil

    import tifffile

    from xrsr_lib.io.validate import check_array

    folder = Path(folder)
    if folder.exists():
        raise XrsrInputExists(f"{folder} exists; choose a new folder for the slices")
    vol = check_array(volume, f"volume for {folder}", 3)
    prefix = prefix or folder.name
    width = max(4, len(str(vol.shape[0] - 1)))
    tmp = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    kwargs: dict[str, Any] = {"imagej": True, "metadata": {"axes": "YX"}}
    if voxel_size_um is not None:
        v = float(voxel_size_um)
        kwargs = {
            "imagej": True,
            "resolution": (1.0 / v, 1.0 / v),
            "metadata": {"axes": "YX", "spacing": v, "unit": "um"},
        }
    for i, plane in enumerate(vol):
        tifffile.imwrite(tmp / f"{prefix}_{i:0{width}d}.tif", plane, **kwargs)
    tmp.rename(folder)
    return sorted(folder.iterdir(), key=lambda p: natural_key(p.name))
