"""Cone-beam CT simulation: geometry, exact sphere projections, voxel projectors, FDK, degradation."""

from xrsr_lib.simulate.ct.analytic import project_cylinder, project_foam, project_spheres
from xrsr_lib.simulate.ct.degrade import blur_projections, degrade_projections
from xrsr_lib.simulate.ct.geometry import ConeGeometry
from xrsr_lib.simulate.ct.reconstruct import fdk, project

__all__ = [
    "ConeGeometry",
    "blur_projections",
    "degrade_projections",
    "fdk",
    "project",
    "project_cylinder",
    "project_foam",
    "project_spheres",
]
