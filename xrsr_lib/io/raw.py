"""Raw volumes: headerless voxels on disk, described by the user or by a VGStudio ``.vgi`` sidecar.

A raw file (``.raw``, ``.vol``, ``.bin``) holds ``z * y * x`` voxels of one type, x fastest, after
an optional header of ``offset`` bytes. Its layout comes from :class:`RawSpec` (``xrsr ...
--raw-shape Z,Y,X --raw-dtype uint16 --voxel 9``) or from a VGStudio MAX ``.vgi`` file naming it
(``[file1]`` ``Name``, ``Size`` x y z, ``Datatype`` / ``BitsPerElement``, ``SkipHeader``; voxel
size from ``resolution`` with its ``unit``). Regions are read through a memory map.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from xrsr_lib.io.errors import XrsrInputError
from xrsr_lib.io.voxels import isotropic_metadata

__all__ = ["RAW_SUFFIXES", "RawSpec", "open_raw", "parse_vgi", "read_raw_region"]

RAW_SUFFIXES = (".raw", ".vol", ".bin")


@dataclass(frozen=True)
class RawSpec:
    """How to read a raw volume file.

    Attributes
    ----------
    shape : (z, y, x)
        Voxels per axis (x fastest on disk).
    dtype : str
        NumPy type name (``uint8``, ``uint16``, ``float32``, ...); ``>u2`` for big-endian.
    offset : int
        Header bytes before the first voxel.
    """

    shape: tuple[int, int, int]
    dtype: str
    offset: int = 0

    @classmethod
    def parse(cls, shape: str, dtype: str, offset: int = 0) -> RawSpec:
        """From the command line's ``Z,Y,X`` and type name.

        Raises
        ------
        ValueError
            Naming ``--raw-shape`` or ``--raw-dtype``.
        """
        try:
            dims = tuple(int(v) for v in shape.split(","))
        except ValueError:
            raise XrsrInputError(f"--raw-shape must be three whole numbers Z,Y,X, got {shape!r}") from None
        if len(dims) != 3 or min(dims) < 1:
            raise XrsrInputError(f"--raw-shape must be three whole numbers >= 1 (Z,Y,X), got {shape!r}")
        try:
            dt = np.dtype(dtype)
        except TypeError:
            raise XrsrInputError(
                f"--raw-dtype {dtype!r} is not a type (uint8, uint16, float32, ...)", "raw_dtype"
            ) from None
        if dt.kind not in "uif":
            raise XrsrInputError(f"--raw-dtype must be an integer or float type, got {dtype!r}")
        return cls(dims, dt.str, int(offset))


def open_raw(path: str | Path, spec: RawSpec) -> tuple[tuple[int, int, int], np.dtype, dict[str, Any]]:
    """Shape, dtype and metadata of a raw file read as ``spec``, its size checked.

    Raises
    ------
    ValueError
        If the file's size is not ``offset + z * y * x * itemsize`` (both sizes named).
    """
    path = Path(path)
    dtype = np.dtype(spec.dtype)
    want = spec.offset + int(np.prod(spec.shape)) * dtype.itemsize
    have = path.stat().st_size
    if have != want:
        z, y, x = spec.shape
        raise XrsrInputError(
            f"{path} has {have} bytes; {z} x {y} x {x} voxels of {dtype.name} "
            f"{'after ' + str(spec.offset) + ' header bytes ' if spec.offset else ''}need {want}"
            f"{' (truncated?)' if have < want else ''}"
        )
    return (
        cast(tuple[int, int, int], tuple(spec.shape)),
        dtype,
        {"raw": {"shape": list(spec.shape), "dtype": dtype.str, "offset": spec.offset}},
    )


def read_raw_region(path: str | Path, spec: RawSpec, region: tuple[slice, ...]) -> np.ndarray:
    """One region ``(z, y, x)`` of a raw file, in its dtype (memory-mapped, unmapped after)."""
    mm = np.memmap(path, dtype=np.dtype(spec.dtype), mode="r", offset=spec.offset, shape=spec.shape)
    try:
        return np.array(mm[region])
    finally:
        del mm


_VGI_TYPES = {
    ("unsigned integer", 8): "u1",
    ("unsigned integer", 16): "u2",
    ("unsigned integer", 32): "u4",
    ("integer", 8): "i1",
    ("integer", 16): "i2",
    ("integer", 32): "i4",
    ("float", 32): "f4",
    ("float", 64): "f8",
}


def parse_vgi(path: str | Path) -> tuple[Path, RawSpec, dict[str, Any]]:
    """Read the raw file, layout and voxel size that a VGStudio ``.vgi`` file describes.

    Raises
    ------
    ValueError
        If a needed key (``Name``, ``Size``, ``Datatype``) is missing or unknown.
    """
    path = Path(path)
    text = path.read_text(errors="replace")
    values: dict[str, str] = {}
    for line in text.splitlines():
        if "=" in line:
            key, _, value = line.partition("=")
            values.setdefault(key.strip().lower(), value.strip())
    missing = [k for k in ("name", "size", "datatype") if k not in values]
    if missing:
        raise XrsrInputError(f"{path}: a .vgi file needs {', '.join(missing)} (of its [file1] section)")
    x, y, z = (int(v) for v in values["size"].split()[:3])
    bits = int(values.get("bitsperelement", "16"))
    kind = values["datatype"].lower()
    code = _VGI_TYPES.get((kind, bits))
    if code is None:
        raise XrsrInputError(f"{path}: unknown Datatype {values['datatype']!r} with {bits} bits")
    raw = Path(values["name"].strip('"'))
    raw = raw if raw.is_absolute() else path.parent / raw
    meta: dict[str, Any] = {}
    if "resolution" in values:
        factor = {"mm": 1e3, "um": 1.0, "µm": 1.0, "nm": 1e-3}.get(values.get("unit", "mm").lower(), 1e3)
        rx, ry, rz = (float(v) * factor for v in re.split(r"[\s,]+", values["resolution"])[:3])
        meta.update(isotropic_metadata((rz, ry, rx)))
    return raw, RawSpec((z, y, x), "<" + code, int(values.get("skipheader", "0"))), meta
