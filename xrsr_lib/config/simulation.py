"""Settings of the simulated acquisition: voxel grid, foam phantom, cone-beam CT, blur levels.

All lengths are in µm.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from xrsr_lib.config.base import Settings

__all__ = ["CTConfig", "DegradeConfig", "PhantomConfig", "PoreSizeConfig", "VolumeConfig"]

_UM3_PER_MM3 = 1.0e9


class VolumeConfig(Settings):
    """The reconstruction / ground-truth voxel grid (cubic, centred on the rotation axis)."""

    n_voxels: int = Field(gt=7, le=4096, description="voxels per side of the cubic grid")
    voxel_size_um: float = Field(gt=0, description="voxel size, µm")

    @property
    def shape(self) -> tuple[int, int, int]:
        """The volume's shape ``(z, y, x)``, voxels."""
        return (self.n_voxels, self.n_voxels, self.n_voxels)

    @property
    def half_height_um(self) -> float:
        """Half the volume's height, µm."""
        return self.n_voxels * self.voxel_size_um / 2.0


class PoreSizeConfig(Settings):
    """Void sizes of the sized generator (:func:`~xrsr_lib.simulate.phantom.generate_sized_foam`).

    Diameters follow a truncated power law, number density ``∝ d^(-size_exponent)`` on
    ``diameter_range_um`` (:func:`~xrsr_lib.simulate.phantom.sized_diameter_cdf`); the count is
    :attr:`PhantomConfig.pore_density_per_mm3`.
    """

    diameter_range_um: tuple[float, float] = Field(description="(smallest, largest) void diameter, µm")
    size_exponent: float = Field(
        description="exponent a of the number density d^(-a): 0 uniform, 1 log-uniform, larger values "
        "favour small voids"
    )
    min_gap_um: float = Field(
        default=0.0,
        ge=0,
        description="smallest surface-to-surface distance between two voids, µm (keeps neighbours apart "
        "in a segmentation: about two voxels)",
    )

    @field_validator("diameter_range_um")
    @classmethod
    def _range(cls, v: tuple[float, float]) -> tuple[float, float]:
        d_min, d_max = v
        if not (math.isfinite(d_min) and math.isfinite(d_max) and 0 < d_min < d_max):
            raise ValueError(f"diameter_range_um must satisfy 0 < min < max (finite), got {v}")
        return (float(d_min), float(d_max))

    @field_validator("size_exponent", "min_gap_um")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError(f"must be finite, got {v}")
        return v


class PhantomConfig(Settings):
    """Foam phantom in physical units: Pelt et al. (2022)'s greedy packing, or prescribed sizes.

    ``generator="pelt"`` (:func:`~xrsr_lib.simulate.phantom.generate_foam`) uses the largest pore
    radius, the pore and the trial-point densities; ``generator="sized"``
    (:func:`~xrsr_lib.simulate.phantom.generate_sized_foam`) uses ``sizes`` and the pore density,
    ignores the trial-point density, and requires ``max_pore_radius_um`` = half the largest
    diameter (so ``zrange_um`` = half height + largest radius keeps its meaning).
    """

    _key_new_fields = ("generator", "sizes")

    cylinder_radius_um: float = Field(gt=0, description="radius of the material cylinder, µm")
    max_pore_radius_um: float = Field(gt=0, description="largest void radius (Pelt's maxsize), µm")
    pore_density_per_mm3: float = Field(
        gt=0,
        description="voids per mm³ of cylinder (sets the count). The sized generator places "
        "density × π R² × 2·zrange_um voids (the number density of the slab holding their centres); "
        "Pelt's, in foam_ct_phantom's per-unit-length convention, density × π R² × zrange_um (half as many)",
    )
    trial_density_per_mm3: float = Field(
        gt=0, description="candidate points per mm³ of cylinder (Pelt's generator; the sized one ignores it)"
    )
    zrange_um: float = Field(gt=0, description="void centres lie in |z| <= zrange_um")
    supersampling: int = Field(ge=1, le=16, description="s³ sub-samples per voxel when voxelizing")
    generator: Literal["pelt", "sized"] = Field(
        default="pelt", description="'pelt': Pelt et al.'s greedy packing; 'sized': prescribed sizes (sizes)"
    )
    sizes: PoreSizeConfig | None = Field(default=None, description="void sizes of the sized generator")

    @model_validator(mode="after")
    def _check(self) -> PhantomConfig:
        if self.generator == "sized":
            if self.sizes is None:
                raise ValueError("generator 'sized' requires sizes (a PoreSizeConfig)")
            d_max = self.sizes.diameter_range_um[1]
            if d_max >= 2.0 * self.cylinder_radius_um:
                raise ValueError(
                    f"sizes.diameter_range_um: the largest diameter {d_max} µm does not fit the cylinder "
                    f"(radius {self.cylinder_radius_um} µm)"
                )
            if not math.isclose(self.max_pore_radius_um, d_max / 2.0, rel_tol=1e-9):
                raise ValueError(
                    f"max_pore_radius_um ({self.max_pore_radius_um}) must be half the largest diameter of "
                    f"sizes.diameter_range_um ({d_max / 2.0}) for the sized generator"
                )
        elif self.sizes is not None:
            raise ValueError("sizes is used by generator 'sized' only; set generator='sized' or drop sizes")
        if self.max_pore_radius_um >= self.cylinder_radius_um:
            raise ValueError("max_pore_radius_um must be smaller than cylinder_radius_um")
        if self.generator == "pelt" and self.trial_density_per_mm3 <= self.pore_density_per_mm3:
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

    def sized_parameters(self) -> dict[str, Any]:
        """Return the parameters of ``generate_sized_foam`` (unit of length = cylinder radius).

        They hold ``generator = "sized"``, so cache keys differ from Pelt's.
        ``n_voids`` = density × the slab holding the centres, π R² · 2 · zrange.

        Raises
        ------
        ValueError
            If the generator is not ``"sized"``.
        """
        if self.generator != "sized" or self.sizes is None:
            raise ValueError(f"sized_parameters() needs generator 'sized', not {self.generator!r}")
        radius = self.cylinder_radius_um
        slab_mm3 = math.pi * (radius / 1000.0) ** 2 * 2.0 * self.zrange_um / 1000.0
        d_min, d_max = self.sizes.diameter_range_um
        return {
            "generator": "sized",
            "n_voids": max(1, round(self.pore_density_per_mm3 * slab_mm3)),
            "diameter_range": [d_min / radius, d_max / radius],
            "size_exponent": self.sizes.size_exponent,
            "zrange": self.zrange_um / radius,
            "min_gap": self.sizes.min_gap_um / radius,
        }

    def generator_parameters(self) -> dict[str, Any]:
        """Return the parameters of this phantom's generator.

        These are :meth:`sized_parameters` (which name the generator) or :meth:`pelt_parameters`
        (which do not: Pelt's cache keys are unchanged).
        """
        return self.sized_parameters() if self.generator == "sized" else dict(self.pelt_parameters())


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
        default=1024,
        ge=2,
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
        """The blurs σ of the low-resolution inputs, µm (``sigmas_um`` without the 1 µm scan's)."""
        return tuple(s for s in self.sigmas_um if s != self.hres_sigma_um)
