"""Settings of study B's simulated nano-CT slices and of the fixed crack segmentation.

* :class:`CrackSliceConfig` – geometry and grey levels of
  :func:`xrsr_lib.simulate.nanoct.simulate_crack_slice`;
* :class:`CrackSegmentationConfig` – parameters of :func:`xrsr_lib.evaluate.cracks.segment_cracks`.

Settings only, so that the profiles can hold them without importing the simulation or
evaluation layers.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from xrsr_lib.config.base import Settings

__all__ = ["CrackSegmentationConfig", "CrackSliceConfig"]


class CrackSliceConfig(Settings):
    """Geometry and grey levels of a simulated nano-CT slice (lengths in pixels)."""

    size: int = Field(default=256, ge=16, le=4096, description="image side H = W, pixels")
    pixel_size_nm: float = Field(default=50.0, gt=0, description="reference pixel size, nm (metadata)")
    supersampling: int = Field(
        default=4, ge=1, le=8, description="sub-pixels per pixel side when rasterizing (partial volume)"
    )
    n_pores: int = Field(default=10, ge=0, description="number of elliptical pores")
    pore_radius_range_px: tuple[float, float] = Field(
        default=(2.5, 8.0), description="range of the pores' semi-major axis, pixels"
    )
    pore_aspect_range: tuple[float, float] = Field(
        default=(1.0, 1.5), description="range of the pores' major / minor axis ratio (1 = round)"
    )
    n_cracks: int = Field(default=4, ge=0, description="number of crack seeds (main cracks)")
    crack_length_range_px: tuple[float, float] = Field(
        default=(80.0, 200.0), description="range of a main crack's path length, pixels"
    )
    crack_width_range_px: tuple[float, float] = Field(
        default=(1.0, 3.0), description="range of the local crack opening (full width), pixels"
    )
    width_jitter_px: float = Field(
        default=0.15, ge=0, description="std of the per-step random change of the crack width, pixels"
    )
    step_px: float = Field(default=1.5, gt=0, le=8, description="random-walk step length, pixels")
    tortuosity_rad: float = Field(
        default=0.15, ge=0, le=1.5, description="std of the per-step direction change, radians (persistence)"
    )
    branch_probability: float = Field(
        default=0.015, ge=0, le=0.5, description="probability per step that a branch starts"
    )
    branch_angle_range_deg: tuple[float, float] = Field(
        default=(20.0, 60.0), description="range of a branch's angle to its parent, degrees"
    )
    branch_length_fraction: tuple[float, float] = Field(
        default=(0.3, 0.8), description="range of a branch's length as a fraction of the parent's rest"
    )
    max_branch_depth: int = Field(default=2, ge=0, le=5, description="branches of branches allowed, levels")
    tip_taper_fraction: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="final fraction of each crack over which it narrows to the minimum",
    )
    material_level: float = Field(default=0.7, ge=0, le=1, description="grey level of the dense matrix")
    void_level: float = Field(default=0.05, ge=0, le=1, description="grey level of pores and cracks")
    texture_amplitude: float = Field(
        default=0.03, ge=0, le=0.5, description="std of the smooth grain texture of the matrix, grey levels"
    )
    texture_sigma_px: float = Field(
        default=2.0, gt=0, description="correlation length (Gaussian σ) of the grain texture, pixels"
    )

    @model_validator(mode="after")
    def _check(self) -> CrackSliceConfig:
        for name in (
            "pore_radius_range_px",
            "pore_aspect_range",
            "crack_length_range_px",
            "crack_width_range_px",
            "branch_angle_range_deg",
            "branch_length_fraction",
        ):
            lo, hi = getattr(self, name)
            if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo <= hi):
                raise ValueError(f"{name} must be finite with 0 < low <= high, got {(lo, hi)}")
        if self.pore_aspect_range[0] < 1:
            raise ValueError(f"pore_aspect_range must be >= 1, got {self.pore_aspect_range}")
        if self.branch_length_fraction[1] > 1:
            raise ValueError(f"branch_length_fraction must be <= 1, got {self.branch_length_fraction}")
        if self.material_level <= self.void_level:
            raise ValueError("material_level must be brighter than void_level (dark pores and cracks)")
        if (
            self.material_level + 3 * self.texture_amplitude > 1
            or self.material_level - 3 * self.texture_amplitude < 0
        ):
            raise ValueError("material_level ± 3·texture_amplitude must stay within [0, 1]")
        return self

    @property
    def contrast(self) -> float:
        """Grey-level difference between matrix and voids."""
        return self.material_level - self.void_level


class CrackSegmentationConfig(Settings):
    """Fixed crack segmentation: black top-hat, threshold, clean-up, pore exclusion."""

    tophat_radius_px: int = Field(
        default=3, ge=1, le=20, description="disk radius of the black top-hat; wider dark objects are ignored"
    )
    threshold: float | Literal["otsu"] = Field(
        default="otsu",
        description="top-hat threshold: 'otsu' (per image, on the top-hat response) or fixed grey levels",
    )
    min_size_px: int = Field(default=12, ge=0, description="connected objects smaller than this are removed")
    pore_max_elongation: float = Field(
        default=2.0, ge=1, description="objects with major/minor axis ratio below this are compact"
    )
    pore_min_solidity: float = Field(
        default=0.8, ge=0, le=1, description="compact objects at least this solid are pores, removed"
    )

    @model_validator(mode="after")
    def _check(self) -> CrackSegmentationConfig:
        if self.threshold != "otsu" and not (math.isfinite(self.threshold) and self.threshold > 0):
            raise ValueError(f"threshold must be > 0 or 'otsu', got {self.threshold!r}")
        return self
