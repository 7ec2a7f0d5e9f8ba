"""TIFF files: the header checked (truncated, 2-D, voxel sizes) and regions read without the rest.

A multi-page TIFF whose data or page chain ends early (a copy that stopped, a full disk) is named
truncated instead of being read as its first pages; a single-page TIFF is a 2-D image, refused
where a volume is needed. Voxel sizes come from ImageJ metadata (``spacing`` for z, the X/Y
resolution for y and x, ``unit``) or OME-XML (``PhysicalSizeZ/Y/X``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xrsr_lib.io.errors import XrsrInputError

__all__ = ["TiffHeader", "read_tiff_header", "read_tiff_region", "tiff_voxel_sizes"]

_MICRONS = ("um", "micron", "microns", "micrometer", "micrometre", "µm", "\u00b5m", "\\u00b5m")
_TO_UM = {"nm": 1e-3, "nanometer": 1e-3, "mm": 1e3, "millimeter": 1e3, "cm": 1e4}


def _unit_factor(unit: str) -> float | None:
    unit = unit.strip().lower()
    if unit in _MICRONS:
        return 1.0
    return _TO_UM.get(unit)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _tifffile_messages() -> Iterator[list[str]]:
    """Collect (and silence) what tifffile logs while a file is parsed."""
    logger = logging.getLogger("tifffile")
    handler = _Collect()
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def tiff_voxel_sizes(tif: Any) -> tuple[float, float, float] | None:
    """Voxel sizes ``(z, y, x)`` in µm recorded by a TIFF (ImageJ or OME-XML), else None.

    ImageJ: z is ``spacing``, y and x are ``1 / YResolution`` and ``1 / XResolution`` in ``unit``.
    A resolution of exactly 1 pixel per unit is what writers put when none was given, so it is
    read as "not recorded" and y, x take the z spacing (see docs/formats.md). A 2-D ImageJ image
    without ``spacing`` gives its pixel size for all three (reconstructed CT slices are isotropic).
    """
    ij = tif.imagej_metadata or {}
    factor = _unit_factor(str(ij.get("unit", "")))
    if ij and factor is not None:
        page = tif.pages[0]
        xy = []
        for tag in ("YResolution", "XResolution"):
            t = page.tags.get(tag)
            num, den = t.value if t is not None else (1, 1)
            xy.append(None if num == den or num == 0 else float(den) / float(num) * factor)
        z = float(ij["spacing"]) * factor if "spacing" in ij else None
        if z is None and xy[1] is None:
            return None
        z = z if z is not None else xy[1]
        assert z is not None
        return (z, xy[0] if xy[0] is not None else z, xy[1] if xy[1] is not None else z)
    xml = tif.ome_metadata
    if xml:
        sizes: dict[str, float] = {}
        for axis in "ZYX":
            m = re.search(rf'PhysicalSize{axis}="([0-9.eE+-]+)"', xml)
            if m:
                u = re.search(rf'PhysicalSize{axis}Unit="([^"]+)"', xml)
                sizes[axis] = float(m.group(1)) * (_unit_factor(u.group(1)) or 1.0 if u else 1.0)
        if sizes:  # an axis the file leaves out takes x's size (or y's, or z's)
            x = sizes.get("X", sizes.get("Y", sizes.get("Z")))
            return (sizes.get("Z", x), sizes.get("Y", x), x)  # type: ignore[return-value]
    return None


@dataclass(frozen=True)
class TiffHeader:
    """Shape, dtype and voxel sizes of a TIFF, from its header (no pixel data read).

    Attributes
    ----------
    shape : tuple of int
        As the file stores it (2 or 3 axes).
    dtype : numpy dtype
    voxel_sizes_um : (z, y, x) or None
    compressed : bool
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    voxel_sizes_um: tuple[float, float, float] | None
    compressed: bool


def read_tiff_header(path: str | Path) -> TiffHeader:
    """Read the header of a TIFF, checked for truncation.

    Raises
    ------
    ValueError
        ``PATH is truncated`` (pages or data missing at the end of the file), ``PATH is not a
        readable TIFF`` (a broken header), or more than one image axis besides z, y, x.
    """
    import tifffile

    path = Path(path)
    size = path.stat().st_size
    with _tifffile_messages() as messages:
        try:
            with tifffile.TiffFile(path) as tif:
                series = tif.series[0]
                shape, dtype = tuple(int(n) for n in series.shape), np.dtype(series.dtype)
                n_pages = len(tif.pages)
                expected = int((tif.imagej_metadata or {}).get("images", 0))
                ends = [p.dataoffsets[-1] + p.databytecounts[-1] for p in _pages(tif) if p.dataoffsets]
                voxels = tiff_voxel_sizes(tif)
                compressed = tif.pages[0].compression != 1
        except tifffile.TiffFileError as err:
            raise XrsrInputError(f"{path} is not a readable TIFF ({err}); is it truncated?") from None
    if expected > n_pages:
        raise XrsrInputError(
            f"{path} is truncated: {n_pages} of the {expected} pages its header lists are in "
            f"the file ({size} bytes)"
        )
    if ends and max(ends) > size:
        raise XrsrInputError(
            f"{path} is truncated: its image data runs to byte {max(ends)}, past the end of the "
            f"file ({size} bytes)"
        )
    broken = [m for m in messages if "invalid page offset" in m or "corrupted" in m or "truncat" in m]
    if broken:
        reason = broken[0].split("> ")[-1]
        raise XrsrInputError(f"{path} is truncated or damaged: {reason} (after {n_pages} pages)")
    squeezed = tuple(n for n in shape if n != 1) if len(shape) > 3 else shape
    if len(squeezed) > 3:
        raise XrsrInputError(
            f"{path}: the image has {len(shape)} axes {shape}; a volume has z, y, x "
            "(colour or multi-channel TIFFs are not volumes)"
        )
    return TiffHeader(squeezed, dtype, voxels, compressed)


def _pages(tif: Any) -> Any:
    """Every page of the file (tifffile may list ImageJ stacks by their first page only)."""
    pages = tif.pages
    pages.useframes = False
    try:
        return list(pages)
    finally:
        pages.useframes = True


def read_tiff_region(path: Path, region: tuple[slice, ...]) -> np.ndarray:
    """One region ``(z, y, x)`` of a TIFF stack in its own dtype (memory-mapped when possible)."""
    import tifffile

    try:
        mm = tifffile.memmap(path, mode="r")
    except ValueError:  # compressed or not contiguous: read the pages of the region
        with tifffile.TiffFile(path) as tif:
            pages = range(len(tif.pages))[region[0]]
            return np.stack([tif.pages[i].asarray()[region[1:]] for i in pages])
    try:
        view: np.ndarray = mm[None] if mm.ndim == 2 else mm
        return np.array(view[region])
    finally:
        del mm
