"""Voxel sizes as files record them: isotropic, anisotropic (refused) or missing (refused).

Every reader puts what the file records into the metadata: ``voxel_size_zyx_um`` (z, y, x, µm)
when the file gives sizes per axis, and ``voxel_size_um`` only when they are equal (within 0.1 %)
or the file gives one size. :func:`resolve_voxel_size` is the one rule the commands apply: the
size given by the user (``--voxel``), else the file's; anisotropic voxels and files without a size
are refused with the file named, never assumed.
"""

from __future__ import annotations

from typing import Any

from xrsr_lib.io.errors import XrsrInputError

__all__ = ["isotropic_metadata", "resolve_voxel_size"]

#: Relative difference below which the three sizes count as one.
ISOTROPY_TOLERANCE = 1e-3


def isotropic_metadata(sizes_zyx_um: tuple[float, float, float] | None) -> dict[str, Any]:
    """Return the metadata entries for voxel sizes ``(z, y, x)`` µm (empty for None)."""
    if sizes_zyx_um is None:
        return {}
    sizes = [float(s) for s in sizes_zyx_um]
    meta: dict[str, Any] = {"voxel_size_zyx_um": sizes}
    if max(sizes) - min(sizes) <= ISOTROPY_TOLERANCE * max(sizes):
        meta["voxel_size_um"] = sizes[2]
    return meta


def resolve_voxel_size(
    metadata: dict[str, Any], name: object, given: float | None = None, option: str = "--voxel"
) -> float:
    """Return the voxel size (µm) to use for a file: ``given``, else the file's.

    Parameters
    ----------
    metadata : dict
        The file's metadata (``voxel_size_um``, ``voxel_size_zyx_um``).
    name : path or str
        The file, as named in messages.
    given : float, optional
        A size the user gave (an option or keyword).
    option : str
        How the user gives one, named in the message (``--voxel``, ``voxel_size_um``).

    Raises
    ------
    ValueError
        Anisotropic voxels (the three sizes named; even with ``given``: the grid would be wrong),
        no size in the file and none given, or a size that is not > 0.
    """
    zyx = metadata.get("voxel_size_zyx_um")
    if zyx is not None and "voxel_size_um" not in metadata:
        z, y, x = (float(v) for v in zyx)
        raise XrsrInputError(
            f"{name} has anisotropic voxels {z:g} x {y:g} x {x:g} µm (z, y, x); xrsr needs "
            "cubic voxels: resample it to one size first",
            option,
        )
    size = given if given is not None else metadata.get("voxel_size_um")
    if size is None:
        raise XrsrInputError(f"{name}: no voxel size in the file; give {option}", option)
    if not float(size) > 0:
        raise XrsrInputError(f"{option} must be > 0 µm, got {size}", option)
    return float(size)
