"""Registration of two scans of one sample: where the high-resolution interior scan lies."""

from __future__ import annotations

from typing import cast

from xrsr_lib.io.errors import XrsrInputError
from xrsr_lib.io.scans import read_scan
from xrsr_lib.prepare.pose import Pose
from xrsr_lib.prepare.registration import Registration, register
from xrsr_lib.recovery.state import VolumeLike

__all__ = ["register_scans"]


def register_scans(
    lres: VolumeLike,
    hres: VolumeLike,
    lres_voxel_um: float | None = None,
    hres_voxel_um: float | None = None,
    offset_um: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> Registration:
    """Find where a high-resolution interior scan lies in the low-resolution scan of the same sample.

    Parameters
    ----------
    lres, hres : ndarray (z, y, x) or path
        The whole-sample scan and the interior scan (files give their voxel sizes when they record
        them).
    lres_voxel_um, hres_voxel_um : float, optional
        Voxel sizes, µm (required for arrays, or files without the metadata).
    offset_um : (z, y, x)
        The recorded centre of the interior scan, µm from the centre of the LRES volume (the
        stage positions); the search starts there.

    Returns
    -------
    Registration
        ``pose`` (rotation about z and centre, :class:`~xrsr_lib.prepare.pose.Pose`) and
        ``report()`` (correlations, peak ratio).

    Raises
    ------
    ValueError
        Missing voxel sizes, an HRES voxel not finer than the LRES one, or no reliable match
        (:class:`~xrsr_lib.prepare.registration.RegistrationError`).
    """
    coarse, vc = read_scan(lres, "lres", lres_voxel_um)
    fine, vf = read_scan(hres, "hres", hres_voxel_um)
    if vf >= vc:
        raise XrsrInputError(
            f"the HRES voxel ({vf} µm) must be finer than the LRES voxel ({vc} µm)", parameter="hres"
        )
    center = cast(tuple[float, float, float], tuple(float(v) for v in offset_um))
    return register(fine, vf, coarse, vc, Pose(0.0, center))
