"""Settings of the simulated acquisition: voxel grid, foam phantom, cone-beam CT, blur levels.

All lengths are in µm.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, field_validator, model_validator

from xrsr_lib.config.base import Settings

__all__ = ["CTConfig", "DegradeConfig", "PhantomConfig", "VolumeConfig"]

_UM3_PER_MM3 = 1.0e9


class VolumeConfig(Settings):
    """The reconstruction / ground-truth voxel grid (cubic, centred on the rotation axis)."""

    n_voxels: int = Field(gt=7, le=4096, description="voxels per side of the cubic grid")
    voxel_size_um: float = Field(gt=0, description="voxel size, µm")

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.n_voxels, self.n_voxels, self.n_voxels)

    @property
    def half_height_um(self) -> float:
        return self.n_voxels * self.voxel_size_um / 2.0


class PhantomConfig(Settings):
    """Foam phantom in physical units (Pelt et al. 2022 generator underneath)."""

    cylinder_radius_um: float = Field(gt=0, description="radius of the material cylinder, µm")
    max_pore_radius_um: float = Field(gt=0, description="largest void radius (Pelt's maxsize), µm")
    pore_density_per_mm3: float = Field(gt=0, description="voids per mm³ of cylinder (sets the count)")
    trial_density_per_mm3: float = Field(gt=0, description="candidate points per mm³ of cylinder")
    zrange_um: float = Field(gt=0, description="void centres lie in |z| <= zrange_um")
    supersampling: int = Field(ge=1, le=16, description="s³ sub-samples per voxel when voxelizing")

    @model_validator(mode="after")
    def _check(self) -> PhantomConfig:
        if self.max_pore_radius_um >= self.cylinder_radius_um:
            raise ValueError("max_pore_radius_um must be smaller than cylinder_radius_um")
        if self.trial_density_per_mm3 <= self.pore_density_per_mm3:
            raise ValueError("trial_density_per_mm3 must exceed pore_density_per_mm3")
        return self

    def pelt_parameters(self) -> dict[str, float | int]:
        """Parameters of ``generate_foam`` (unit of length = cylinder radius)."""
        r_mm = self.cylinder_radius_um / 1000.0
        unit_volume_mm3 = math.pi * r_mm**3  # a unit-length slice of a unit-radius cylinder
        return {
            "nspheres_per_unit": max(1, round(self.pore_density_per_mm3 * unit_volume_mm3)),
            "ntrials_per_unit": max(2, round(self.trial_density_per_mm3 * unit_volume_mm3)),
            "maxsize": self.max_pore_radius_um / self.cylinder_radius_um,
            "zrange": self.zrange_um / self.cylinder_radius_um,
        }


class CTConfig(Settings):
    """Circular cone-beam acquisition and reconstruction."""

    n_angles: int = Field(ge=2, description="projections over 360°")
    source_origin_um: float = Field(gt=0, description="source to rotation axis, µm")
    origin_detector_um: float = Field(ge=0, description="rotation axis to detector, µm")
    detector_supersampling: int = Field(ge=1, le=8, description="sub-rays per pixel side (exact projector)")
    fdk_filter: Literal["ram-lak", "shepp-logan", "cosine", "hamming", "hann"] = "ram-lak"
    attenuation_per_um: float = Field(gt=0, description="linear attenuation of the foam material, 1/µm")
    photons_per_pixel: float = Field(gt=0, description="flat-field counts I0 per detector pixel")
    reference_n_angles: int = Field(
        default=1024, ge=2,
        description="projections over 360° of the reference image: a noise-free, blur-free FDK at the "
        "1 µm grid from this many views (study A's ground truth: ~6,000); well above π/2 · voxels "
        "per side, so view aliasing is negligible",
    )


class DegradeConfig(Settings):
    """Detector blur levels and the noise seed base."""

    sigmas_um: tuple[float, ...] = Field(description="Gaussian blur σ at the object, µm; 1 µm is HRES")
    hres_sigma_um: float = 1.0
    noise_seed: int = Field(ge=0)

    @field_validator("sigmas_um")
    @classmethod
    def _positive(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not v:
            raise ValueError("sigmas_um must list at least one blur level")
        for s in v:
            if not (math.isfinite(s) and s >= 0):
                raise ValueError(f"blur sigma must be a finite value >= 0 µm, got {s}")
        if len(set(v)) != len(v):
            raise ValueError(f"sigmas_um has duplicates: {v}")
        return tuple(float(s) for s in v)

    @model_validator(mode="after")
    def _hres_listed(self) -> DegradeConfig:
        if self.hres_sigma_um not in self.sigmas_um:
            raise ValueError(f"hres_sigma_um={self.hres_sigma_um} must be one of sigmas_um={self.sigmas_um}")
        return self

    @property
    def lres_sigmas_um(self) -> tuple[float, ...]:
        return tuple(s for s in self.sigmas_um if s != self.hres_sigma_um)


