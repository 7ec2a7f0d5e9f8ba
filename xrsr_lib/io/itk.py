"""MetaImage (``.mhd``/``.mha``), NRRD (``.nrrd``/``.nhdr``) and NIfTI (``.nii``/``.nii.gz``) via SimpleITK.

The header gives the shape, type and spacing without reading the data. ITK spacing has no unit
in MetaImage and NRRD; like ITK and the medical tools writing these files, xrsr takes it as
**millimetres** (NIfTI states its unit, which ITK converts to mm), so 0.009 is 9 µm. Regions are
read with ``ImageFileReader``'s extract region: MetaImage with uncompressed data and ``.nii``
stream only that region from disk; NRRD and compressed files (``.mha`` written compressed,
``.nii.gz``) are read whole for each region (:data:`STREAMING` says which; ``xrsr info`` too).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from xrsr_lib.io.errors import XrsrInputError
from xrsr_lib.io.voxels import isotropic_metadata

__all__ = ["ITK_SUFFIXES", "is_itk", "open_itk", "read_itk_region", "write_itk"]

ITK_SUFFIXES = (".mhd", ".mha", ".nrrd", ".nhdr", ".nii", ".nii.gz")
#: Suffixes whose ITK image IO reads a region without the rest of the file (when uncompressed).
STREAMING = (".mhd", ".mha", ".nii")


def is_itk(path: str | Path) -> bool:
    """Whether the file name is one SimpleITK reads as a volume here."""
    name = str(path).lower()
    return any(name.endswith(s) for s in ITK_SUFFIXES)


def _reader(path: Path) -> Any:
    import SimpleITK as sitk

    r = sitk.ImageFileReader()
    r.SetFileName(str(path))
    try:
        r.ReadImageInformation()
    except RuntimeError as err:
        first = str(err).strip().splitlines()
        reason = next(
            (
                line.split(":", 1)[-1].strip()
                for line in first
                if "Description" in line or "ERROR" in line.upper()
            ),
            first[-1] if first else "unreadable",
        )
        raise XrsrInputError(f"{path} is not a readable {path.suffix} image ({reason})") from None
    return r


def _compressed(path: Path) -> bool:
    name = path.name.lower()
    if name.endswith(".gz"):
        return True
    if name.endswith((".mhd", ".mha", ".nrrd", ".nhdr")):
        head = path.read_bytes()[:4096].decode("latin-1", "replace").lower()
        return (
            "compresseddata = true" in head
            or "encoding: gz" in head
            or "encoding: gzip" in head
            or "encoding: bz" in head
        )
    return False


def open_itk(path: str | Path) -> tuple[tuple[int, int, int], np.dtype, dict[str, Any]]:
    """Shape ``(z, y, x)``, dtype and metadata (voxel sizes in µm) of an ITK image file.

    Raises
    ------
    ValueError
        An unreadable file, a vector (colour) image, or an image that is not 3-D.
    """
    import SimpleITK as sitk

    path = Path(path)
    r = _reader(path)
    if r.GetNumberOfComponents() != 1:
        raise XrsrInputError(f"{path}: {r.GetNumberOfComponents()} components per voxel; a volume has one")
    size = tuple(int(n) for n in r.GetSize())
    if len(size) == 2 or (len(size) == 3 and size[2] == 1):
        raise XrsrInputError(f"{path} is a 2-D image; a volume is needed")
    if len(size) != 3:
        raise XrsrInputError(f"{path}: the image has {len(size)} dimensions {size}; a volume (z, y, x) has 3")
    empty = sitk.Image([1, 1, 1], r.GetPixelID())
    dtype = sitk.GetArrayViewFromImage(empty).dtype
    sizes = tuple(float(f"{s * 1000.0:.6g}") for s in reversed(r.GetSpacing()))
    meta: dict[str, Any] = {
        **isotropic_metadata(sizes),  # type: ignore[arg-type]
        "streaming": path.suffix.lower() in STREAMING and not _compressed(path),
    }
    if not np.allclose(np.asarray(r.GetDirection()), np.eye(3).ravel()):
        meta["direction"] = list(r.GetDirection())  # kept for the record; the array is read as stored
    return (size[2], size[1], size[0]), np.dtype(dtype), meta


def read_itk_region(path: str | Path, region: tuple[slice, ...]) -> np.ndarray:
    """One region ``(z, y, x)`` of an ITK image file, in its own dtype."""
    import SimpleITK as sitk

    r = _reader(Path(path))
    r.SetExtractIndex([int(region[2].start), int(region[1].start), int(region[0].start)])
    r.SetExtractSize([int(s.stop - s.start) for s in reversed(region)])
    return sitk.GetArrayFromImage(r.Execute())


def write_itk(path: str | Path, volume: np.ndarray, voxel_size_um: float | None = None) -> None:
    """Write a volume as MetaImage / NRRD / NIfTI (by name), spacing in mm (``voxel_size_um / 1000``).

    The files (a ``.mhd`` header and its ``.raw`` data) are written in a hidden folder beside
    ``path`` and moved into place when complete, the header last.
    """
    import os
    import shutil

    import SimpleITK as sitk

    path = Path(path)
    img = sitk.GetImageFromArray(np.ascontiguousarray(volume))
    if voxel_size_um is not None:
        img.SetSpacing([float(voxel_size_um) / 1000.0] * 3)
    work = path.with_name(f".{path.name}.partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        sitk.WriteImage(img, str(work / path.name))
        for f in sorted(work.iterdir(), key=lambda f: f.name == path.name):  # the header last
            os.replace(f, path.parent / f.name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
