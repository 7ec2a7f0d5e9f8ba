"""Settings of the pore segmentation and morphometry (see :mod:`xrsr_lib.evaluate.pores`)."""

from __future__ import annotations

import math

from pydantic import Field, field_validator

from xrsr_lib.config.base import Settings

__all__ = ["SURFACE_SMOOTHING_SIGMA", "PoreAnalysisConfig"]

#: Default Gaussian σ (voxels) smoothing each pore's mask before marching cubes (see the module notes).
SURFACE_SMOOTHING_SIGMA = 0.8


class PoreAnalysisConfig(Settings):
    """Settings of the pore segmentation and morphometry (one set for every analysed image)."""

    threshold: float | None = Field(
        default=None,
        description="grey value separating pores (below) from matrix, material-fraction units; "
        "None: Otsu's threshold of the voxels inside the foam mask",
    )
    closing_radius_voxels: int = Field(
        default=1,
        ge=0,
        le=10,
        description="radius of the ball used to close the pore mask (fills matrix specks left by noise "
        "inside pores); 0 disables",
    )
    min_pore_diameter_um: float = Field(
        default=4.0,
        ge=0,
        description="connected pore objects with a spherical-equivalent diameter below this are noise "
        "specks and are removed (4 µm ≈ 34 voxels at 1 µm: below every void of the profiles, >= 10 µm in "
        "smoke and ~20 µm in cpu; 0 keeps everything: 1242 objects instead of 88 on a noisy 96³ foam)",
    )
    separation_h_voxels: float = Field(
        default=1.0,
        gt=0,
        description="h of the h-maxima of the distance transform used as watershed markers (voxels): a "
        "pore is split off its neighbour when its inscribed radius exceeds the radius of the neck "
        "joining them by at least h. 1 separates touching voids down to r = 5 voxels (also 12 + 5) "
        "while noisy, deconvolved and network outputs are not over-split; 1.5-2 merge r = 5 pairs",
    )
    smooth_distance_sigma: float = Field(
        default=0.5,
        ge=0,
        description="Gaussian σ (voxels) applied to the distance transform before finding markers; "
        "removes spurious maxima of rough (noisy) pore surfaces. Smoothing lowers peaks and fills "
        "necks, so large σ (1) stops small touching pores from separating; 0 disables",
    )
    surface_margin_um: float = Field(
        default=0.0,
        ge=0,
        description="width of the foam mask's outer shell treated as sample surface: the threshold and "
        "the porosity use only voxels deeper than this, pores are separated inside the inner region and "
        "then grow back into the shell by at most the margin, and the rest of the shell is dropped (a "
        "blurred or deconvolved sample surface thresholds as a thin rim of false pores). Keep it below "
        "the smallest pore radius",
    )
    edge_kill: bool = Field(
        default=True, description="drop pores touching the first or last z slice (cut by the volume)"
    )
    surface_smoothing_sigma: float = Field(
        default=SURFACE_SMOOTHING_SIGMA,
        ge=0,
        le=3,
        description="Gaussian σ (voxels) applied to each pore's binary mask before marching cubes; "
        "0 meshes the raw binary staircase (ψ ≈ 0.92 for any voxelized sphere); 0.8 gives ψ = 0.98-0.99 "
        "for spheres of radius 3-20 voxels",
    )

    @field_validator(
        "threshold",
        "min_pore_diameter_um",
        "separation_h_voxels",
        "smooth_distance_sigma",
        "surface_smoothing_sigma",
    )
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError(f"must be finite, got {v}")
        return v
