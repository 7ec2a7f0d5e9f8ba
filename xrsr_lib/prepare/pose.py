"""Where a scan's voxel grid lies in the sample: a turn about the rotation axis and a centre.

A scan of ``n`` voxels per side of size ``v`` has its voxel ``i`` (per axis) at scanner position
``p = (i - (n - 1) / 2) · v``, centred on the rotation axis. Its :class:`Pose` ``(φ, c)`` puts that
point at ``Rz(φ) · p + c`` in the sample frame (the frame of the coarse, whole-sample scan), with
positions ``(z, y, x)`` in µm and ``φ`` in degrees, turning x towards y. The stage records ``c``
approximately and ``φ`` not at all; registration (:mod:`xrsr_lib.prepare.registration`) finds both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from xrsr_lib.simulate.ct.geometry import rotate_z

__all__ = ["Pose", "grid_points", "region_center_um"]


def grid_points(n_voxels: tuple[int, int, int], voxel_size_um: float) -> tuple[np.ndarray, ...]:
    """Scanner coordinates ``(z, y, x)`` per axis of a grid centred on the rotation axis, µm."""
    return tuple((np.arange(n) - (n - 1) / 2.0) * voxel_size_um for n in n_voxels)


def region_center_um(
    origin_um: tuple[float, float, float] | list[float],
    shape: tuple[int, ...],
    voxel_size_um: float,
    scan_shape: tuple[int, ...],
    scan_voxel_um: float,
) -> tuple[float, float, float]:
    """Centre of a region's grid in its scan's scanner frame, µm (z, y, x).

    Parameters
    ----------
    origin_um : (z, y, x)
        Where the region's voxel ``(0, 0, 0)`` has its centre, in the scan's index frame (scan voxel
        ``i`` at ``i · scan_voxel_um``), as ``xrsr predict`` records it (``xrsr.origin_um``).
    shape, voxel_size_um
        The region's grid (any voxel size, e.g. a prediction at a finer one).
    scan_shape, scan_voxel_um
        The scan the region was taken from (centred on the rotation axis, :func:`grid_points`).

    Returns
    -------
    (z, y, x) : the region's centre; :class:`Pose` ``(0, centre)`` places it in the scan's frame.
    """
    return tuple(  # type: ignore[return-value]
        float(o) - (m - 1) / 2.0 * scan_voxel_um + (n - 1) / 2.0 * voxel_size_um
        for o, n, m in zip(origin_um, shape, scan_shape, strict=True)
    )


@dataclass(frozen=True)
class Pose:
    """Rigid pose of a scan in the sample frame: ``x_sample = Rz(angle_deg) · p_scan + center_um``."""

    angle_deg: float = 0.0
    center_um: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Pose:
        """Rebuild a pose from :meth:`as_dict`'s dict (``angle_deg`` in degrees, ``center_um`` in µm)."""
        return cls(float(d["angle_deg"]), tuple(float(v) for v in d["center_um"]))  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, Any]:
        """Return the pose as a JSON-serialisable dict: ``angle_deg`` (°), ``center_um`` (µm, z, y, x)."""
        return {"angle_deg": float(self.angle_deg), "center_um": [float(v) for v in self.center_um]}

    def to_sample(self, points_zyx: np.ndarray) -> np.ndarray:
        """Scanner points ``(..., 3)`` ``(z, y, x)`` to the sample frame."""
        return rotate_z(points_zyx, self.angle_deg) + np.asarray(self.center_um)

    def to_scan(self, points_zyx: np.ndarray) -> np.ndarray:
        """Sample points ``(..., 3)`` to this scan's frame (the inverse of :meth:`to_sample`)."""
        inverse = Pose(-self.angle_deg, (0.0, 0.0, 0.0))
        return inverse.to_sample(np.asarray(points_zyx, dtype=np.float64) - np.asarray(self.center_um))

    def compose(self, inner: Pose) -> Pose:
        """Return the pose of a scan given relative to this one (``inner``), in this one's sample frame."""
        centre = self.to_sample(np.asarray(inner.center_um))
        return Pose(self.angle_deg + inner.angle_deg, tuple(float(v) for v in centre))  # type: ignore[arg-type]

    def relative_to(self, outer: Pose) -> Pose:
        """Express this pose in the frame of the scan ``outer`` (``outer.compose(result) == self``)."""
        centre = outer.to_scan(np.asarray(self.center_um))
        return Pose(self.angle_deg - outer.angle_deg, tuple(float(v) for v in centre))  # type: ignore[arg-type]
