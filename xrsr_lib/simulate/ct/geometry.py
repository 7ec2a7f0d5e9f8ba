"""Circular cone-beam geometry in physical units.

Conventions (used by every projector in :mod:`xrsr_lib.simulate.ct`)
-----------------------------------------------------------
World frame ``(x, y, z)`` in µm, rotation axis = ``z``, isocentre at the origin.
A volume array is indexed ``[iz, iy, ix]`` and voxel ``(iz, iy, ix)`` has its centre at::

    x = (ix - (nx - 1) / 2) * voxel_size + center[2]     (likewise y with iy, z with iz)

At projection angle ``theta`` (radians) the geometry is ASTRA's ``cone`` geometry:

* source      ``S = sod * ( sin θ, -cos θ, 0)``
* detector    ``D = odd * (-sin θ,  cos θ, 0)``  (centre of the detector plane)
* column axis ``u = ( cos θ,  sin θ, 0)``, row axis ``v = (0, 0, 1)``

A projection stack has shape ``(n_angles, det_rows, det_cols)``; pixel ``(i, j)`` has its
centre at ``D + (j - (det_cols - 1) / 2) * det_pixel * u + (i - (det_rows - 1) / 2) * det_pixel * v``,
so increasing row index means increasing ``z`` and at ``θ = 0`` the rays travel along ``+y``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["ConeGeometry", "rotate_z"]


@dataclass(frozen=True)
class ConeGeometry:
    """Circular cone-beam CT acquisition with a flat detector.

    Parameters
    ----------
    source_origin : float
        Source to rotation-axis distance (SOD), µm.
    origin_detector : float
        Rotation-axis to detector distance (ODD), µm.
    det_rows, det_cols : int
        Detector size in pixels (rows run along ``z``).
    det_pixel : float
        Detector pixel pitch measured at the detector, µm (square pixels).
    angles : numpy.ndarray
        Projection angles in radians.
    """

    source_origin: float
    origin_detector: float
    det_rows: int
    det_cols: int
    det_pixel: float
    angles: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        """Store ``angles`` as a flat float64 array and check every field.

        Raises
        ------
        ValueError
            If a distance or the pixel pitch is not finite and positive (``origin_detector`` may
            be 0), the detector is empty, or ``angles`` is empty or not finite.
        """
        angles = np.asarray(self.angles, dtype=np.float64).reshape(-1)
        object.__setattr__(self, "angles", angles)
        if not (math.isfinite(self.source_origin) and self.source_origin > 0):
            raise ValueError(f"source_origin must be a positive distance in µm, got {self.source_origin}")
        if not (math.isfinite(self.origin_detector) and self.origin_detector >= 0):
            raise ValueError(f"origin_detector must be >= 0 µm, got {self.origin_detector}")
        if int(self.det_rows) < 1 or int(self.det_cols) < 1:
            raise ValueError(f"detector shape must be positive, got ({self.det_rows}, {self.det_cols})")
        if not (math.isfinite(self.det_pixel) and self.det_pixel > 0):
            raise ValueError(f"det_pixel must be a positive pitch in µm, got {self.det_pixel}")
        if angles.size == 0 or not np.all(np.isfinite(angles)):
            raise ValueError("angles must be a non-empty array of finite values (radians)")

    # ------------------------------------------------------------------ construction
    @classmethod
    def circular(
        cls,
        n_angles: int,
        source_origin: float,
        origin_detector: float,
        det_rows: int,
        det_cols: int,
        det_pixel: float,
        angular_range: float = 2 * math.pi,
    ) -> ConeGeometry:
        """Equally spaced angles over ``angular_range`` (endpoint excluded)."""
        if int(n_angles) < 1:
            raise ValueError(f"n_angles must be >= 1, got {n_angles}")
        angles = np.linspace(0.0, angular_range, int(n_angles), endpoint=False)
        return cls(source_origin, origin_detector, int(det_rows), int(det_cols), float(det_pixel), angles)

    @classmethod
    def for_volume(
        cls,
        n_voxels: int,
        voxel_size: float,
        n_angles: int,
        source_origin: float,
        origin_detector: float,
        margin_pixels: int = 4,
    ) -> ConeGeometry:
        """Geometry whose detector sees a cubic volume of ``n_voxels``³ completely.

        The detector pixel is chosen so that one pixel back-projected to the rotation axis
        equals ``voxel_size``; the detector is wide enough for the volume's circumscribed
        cylinder and tall enough for its top and bottom faces at the nearest point to the source.
        """
        mag = (source_origin + origin_detector) / source_origin
        det_pixel = voxel_size * mag
        half = n_voxels * voxel_size / 2.0
        radius = half * math.sqrt(2.0)
        if radius >= source_origin:
            raise ValueError("source_origin must exceed the volume's circumscribed radius")
        sdd = source_origin + origin_detector
        half_u = sdd * radius / math.sqrt(source_origin**2 - radius**2)
        half_v = sdd * half / (source_origin - radius)
        cols = 2 * math.ceil(half_u / det_pixel) + 2 * margin_pixels
        rows = 2 * math.ceil(half_v / det_pixel) + 2 * margin_pixels
        return cls.circular(n_angles, source_origin, origin_detector, rows, cols, det_pixel)

    # ------------------------------------------------------------------ derived values
    @property
    def n_angles(self) -> int:
        """Number of projection angles."""
        return int(self.angles.size)

    @property
    def source_detector(self) -> float:
        """Source to detector distance (SDD), µm."""
        return self.source_origin + self.origin_detector

    @property
    def magnification(self) -> float:
        """Geometric magnification at the rotation axis, SDD / SOD."""
        return self.source_detector / self.source_origin

    @property
    def pixel_at_isocenter(self) -> float:
        """Detector pitch back-projected to the rotation axis, µm."""
        return self.det_pixel / self.magnification

    def u_coords(self) -> np.ndarray:
        """Detector column centres along ``u`` (µm, in the detector plane)."""
        return (np.arange(self.det_cols) - (self.det_cols - 1) / 2.0) * self.det_pixel

    def v_coords(self) -> np.ndarray:
        """Detector row centres along ``v`` (µm, in the detector plane)."""
        return (np.arange(self.det_rows) - (self.det_rows - 1) / 2.0) * self.det_pixel

    def fov_radius(self) -> float:
        """Radius (µm) of the circle in the central plane seen by every projection."""
        half_u = self.det_cols * self.det_pixel / 2.0
        return self.source_origin * math.sin(math.atan2(half_u, self.source_detector))

    def source_positions(self) -> np.ndarray:
        """Source positions, shape ``(n_angles, 3)``, µm."""
        s, c = np.sin(self.angles), np.cos(self.angles)
        return np.stack([self.source_origin * s, -self.source_origin * c, np.zeros_like(s)], axis=1)

    def astra_vectors(self) -> np.ndarray:
        """ASTRA ``cone_vec`` rows ``(src, det, u, v)``, shape ``(n_angles, 12)``, µm."""
        s, c = np.sin(self.angles), np.cos(self.angles)
        z = np.zeros_like(s)
        src = np.stack([self.source_origin * s, -self.source_origin * c, z], 1)
        det = np.stack([-self.origin_detector * s, self.origin_detector * c, z], 1)
        u = np.stack([c, s, z], 1) * self.det_pixel
        v = np.stack([z, z, np.ones_like(s)], 1) * self.det_pixel
        return np.concatenate([src, det, u, v], axis=1)

    def to_dict(self) -> dict:
        """JSON-serialisable description (used for cache keys and HDF5 attributes)."""
        return {
            "type": "cone",
            "source_origin": float(self.source_origin),
            "origin_detector": float(self.origin_detector),
            "det_rows": int(self.det_rows),
            "det_cols": int(self.det_cols),
            "det_pixel": float(self.det_pixel),
            "angles": [float(a) for a in self.angles],
        }

    @classmethod
    def from_dict(cls, d: dict) -> ConeGeometry:
        """Rebuild a geometry from :meth:`to_dict`'s description (distances in µm, angles in radians)."""
        return cls(
            float(d["source_origin"]),
            float(d["origin_detector"]),
            int(d["det_rows"]),
            int(d["det_cols"]),
            float(d["det_pixel"]),
            np.asarray(d["angles"], dtype=np.float64),
        )


def rotate_z(points_zyx: np.ndarray, angle_deg: float) -> np.ndarray:
    """Points ``(..., 3)`` in ``(z, y, x)`` turned by ``angle_deg`` about the z axis (x towards y)."""
    p = np.asarray(points_zyx, dtype=np.float64)
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    out = p.copy()
    out[..., 2] = c * p[..., 2] - s * p[..., 1]
    out[..., 1] = s * p[..., 2] + c * p[..., 1]
    return out
