"""Cone-beam CT simulation: geometry, exact sphere projections, voxel projectors, FDK, degradation."""

from xrsr_lib.ct.geometry import ConeGeometry

__all__ = ["ConeGeometry"]
