"""ZEISS Xradia reconstructions (``.txm``): an OLE2 compound file read with ``olefile``.

The stream layout (as ZEISS writes it and txrm2tiff / dxchange read it): ``ImageInfo/ImageWidth``,
``ImageInfo/ImageHeight``, ``ImageInfo/NoOfImages`` (int32), ``ImageInfo/DataType`` (int32: 5 =
uint16, 10 = float32, ...), ``ImageInfo/PixelSize`` (float32, µm) and one stream per slice,
``ImageData{ceil(i / 100)}/Image{i}`` for ``i = 1 .. NoOfImages`` (little-endian, height x
width). A region opens only its slices' streams. ``.txrm`` files hold projections, not a volume:
they are refused with the number of projections named (reconstruct them first).

Not covered (no real file to test on): mosaics, ``ImageInfo/ReferenceData`` corrections,
``.txm`` files whose slices are stored in another orientation or with a non-zero
``ImageInfo/DataType`` other than the listed ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from xrsr_lib.io.errors import XrsrInputError
from xrsr_lib.io.voxels import isotropic_metadata

__all__ = ["TXM_DTYPES", "open_txm", "read_txm_region", "refuse_txrm"]

#: ``ImageInfo/DataType`` codes (XrmDataTypes) -> NumPy types.
TXM_DTYPES = {2: "i1", 3: "u1", 4: "<i2", 5: "<u2", 6: "<i4", 7: "<u4", 10: "<f4", 11: "<f8"}


def _olefile(path: Path) -> Any:
    try:
        import olefile
    except ImportError:
        raise XrsrInputError(
            f"{path}: reading ZEISS files needs the olefile package (pip install olefile)"
        ) from None
    if not olefile.isOleFile(str(path)):
        raise XrsrInputError(f"{path} is not an OLE2 compound file (a ZEISS .txm/.txrm); is it truncated?")
    try:
        return olefile.OleFileIO(str(path))
    except OSError as err:
        raise XrsrInputError(f"{path} is not a readable ZEISS file ({err}); is it truncated?") from None


def _number(ole: Any, key: str, dtype: str, path: Path) -> Any:
    if not ole.exists(key):
        raise XrsrInputError(f"{path}: no stream {key}; not a ZEISS reconstruction")
    values = np.frombuffer(ole.openstream(key).read(), dtype=dtype)
    if values.size == 0:
        raise XrsrInputError(f"{path}: the stream {key} is empty")
    return values[0].item()


def _stream(i: int) -> str:
    return f"ImageData{(i + 99) // 100}/Image{i}"


def open_txm(path: str | Path) -> tuple[tuple[int, int, int], np.dtype, dict[str, Any]]:
    """Shape ``(z, y, x)``, dtype and metadata (voxel size from ``ImageInfo/PixelSize``) of a ``.txm``.

    Raises
    ------
    ValueError
        Not an OLE2 file, a missing stream, an unknown data type, or a slice stream of the
        wrong size or missing (truncated file).
    """
    path = Path(path)
    ole = _olefile(path)
    try:
        width = _number(ole, "ImageInfo/ImageWidth", "<i4", path)
        height = _number(ole, "ImageInfo/ImageHeight", "<i4", path)
        n = _number(ole, "ImageInfo/NoOfImages", "<i4", path)
        code = _number(ole, "ImageInfo/DataType", "<i4", path) if ole.exists("ImageInfo/DataType") else None
        has_pixel = ole.exists("ImageInfo/PixelSize")
        pixel = _number(ole, "ImageInfo/PixelSize", "<f4", path) if has_pixel else None
        if code is None:  # older files: the type from the first slice's size
            size = ole.get_size(_stream(1)) if ole.exists(_stream(1)) else 0
            code = {2: 5, 4: 10}.get(size // max(1, width * height))
        if code not in TXM_DTYPES:
            raise XrsrInputError(f"{path}: unknown ImageInfo/DataType {code}")
        dtype = np.dtype(TXM_DTYPES[code])
        for i in (1, n):
            key = _stream(i)
            if not ole.exists(key):
                raise XrsrInputError(f"{path} is truncated: slice stream {key} of {n} is missing")
            if ole.get_size(key) != width * height * dtype.itemsize:
                raise XrsrInputError(
                    f"{path}: slice stream {key} has {ole.get_size(key)} bytes, not "
                    f"{width} x {height} x {dtype.itemsize}"
                )
    finally:
        ole.close()
    if n < 2:
        raise XrsrInputError(f"{path} is a 2-D image; a volume is needed")
    meta: dict[str, Any] = {}
    if pixel is not None and pixel > 0:
        meta.update(isotropic_metadata((float(f"{pixel:.6g}"),) * 3))
    return (int(n), int(height), int(width)), dtype, meta


def read_txm_region(
    path: str | Path, shape: tuple[int, int, int], dtype: np.dtype, region: tuple[slice, ...]
) -> np.ndarray:
    """One region ``(z, y, x)`` of a ``.txm``: the streams of its slices, cropped."""
    path = Path(path)
    ole = _olefile(path)
    try:
        out = []
        for z in range(shape[0])[region[0]]:
            data = np.frombuffer(ole.openstream(_stream(z + 1)).read(), dtype=dtype)
            out.append(data.reshape(shape[1:])[region[1], region[2]])
    finally:
        ole.close()
    return np.stack(out)


def refuse_txrm(path: str | Path) -> None:
    """Raise the message for a ``.txrm`` (projections): how many, and what to do."""
    path = Path(path)
    detail = ""
    try:
        ole = _olefile(path)
        try:
            detail = (
                f" ({_number(ole, 'ImageInfo/NoOfImages', '<i4', path)} projections of "
                f"{_number(ole, 'ImageInfo/ImageWidth', '<i4', path)} x "
                f"{_number(ole, 'ImageInfo/ImageHeight', '<i4', path)} pixels)"
            )
        finally:
            ole.close()
    except ValueError:
        pass
    raise XrsrInputError(
        f"{path} holds projections{detail}, not a reconstructed volume; reconstruct it (ZEISS "
        "XMReconstructor) and give the .txm"
    )
