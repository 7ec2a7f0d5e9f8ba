"""Settings of the simulated multiscale acquisition: one sample, scans at three voxel sizes.

A "seed-like" sample (a foam cylinder with large pores that a coarse scan sees and small pores
that only a fine scan resolves) is scanned three times, each scan its own cone-beam acquisition:
``lres`` sees the whole sample at the coarse voxel size, ``mres`` and ``hres`` an interior region
of interest at 3× and 9× finer voxels (their projections are truncated). Each scan has its own
detector blur, exposure, intensity scale and offset, and a stage position known only
approximately: the recorded centre of its region is off by ``stage_error_um`` and the sample is
turned by ``rotation_deg`` about the rotation axis, which the recorded pose does not know. All
lengths are µm; positions are ``(z, y, x)`` in the sample frame (the ``lres`` scan's frame).
"""

from __future__ import annotations

import math

from pydantic import Field, field_validator, model_validator

from xrsr_lib.config.base import Settings

__all__ = ["MultiscaleConfig", "MultiscaleSampleConfig", "ScanConfig"]


class MultiscaleSampleConfig(Settings):
    """A foam cylinder (axis z) with a bimodal pore population, placed without overlap, largest first."""

    cylinder_radius_um: float = Field(gt=0, description="radius of the material cylinder, µm")
    pore_zrange_um: float = Field(gt=0, description="pore centres lie in |z| <= this, µm")
    large_radius_um: tuple[float, float] = Field(description="radius range of the large pores, µm")
    n_large: int = Field(ge=0, description="large pores placed in the whole cylinder")
    small_radius_um: tuple[float, float] = Field(description="radius range of the small pores, µm")
    n_small: int = Field(ge=0, description="small pores placed in the core region")
    small_core_radius_um: float = Field(
        gt=0,
        description="small pores lie within this distance of the axis and |z| <= it (the region "
        "the fine scans see; keeps the exact projector's work small)",
    )
    min_gap_um: float = Field(default=1.0, ge=0, description="smallest matrix wall between two pores, µm")
    seed: int = Field(default=7, ge=0, description="seed of the pore placement")

    @field_validator("large_radius_um", "small_radius_um")
    @classmethod
    def _range(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not (0 < v[0] <= v[1]):
            raise ValueError(f"a radius range must be 0 < low <= high, got {v}")
        return v

    @model_validator(mode="after")
    def _fits(self) -> MultiscaleSampleConfig:
        if self.large_radius_um[1] >= self.cylinder_radius_um / 2:
            raise ValueError("large pores must be smaller than half the cylinder radius")
        if self.small_radius_um[1] >= self.large_radius_um[0]:
            raise ValueError("small pores must be smaller than the large ones (a bimodal population)")
        return self


class ScanConfig(Settings):
    """One cone-beam scan of the sample."""

    name: str = Field(description="lres, mres or hres")
    voxel_size_um: float = Field(gt=0, description="voxel size of the reconstruction, µm")
    n_voxels: int = Field(ge=8, description="voxels per side of the cubic reconstruction")
    n_angles: int = Field(ge=8, description="projections over 360°")
    roi_center_um: tuple[float, float, float] = Field(
        default=(0.0, 0.0, 0.0),
        description="true centre of the scanned region in the sample frame (z, y, x), µm",
    )
    stage_error_um: tuple[float, float, float] = Field(
        default=(0.0, 0.0, 0.0), description="recorded centre minus true centre (z, y, x), µm"
    )
    rotation_deg: float = Field(
        default=0.0,
        ge=-1.0,
        le=1.0,
        description="true turn of the sample about the axis, degrees (not recorded)",
    )
    blur_px: float = Field(ge=0, description="detector blur σ, detector pixels")
    photons: float = Field(gt=0, description="flat-field counts per pixel (sets the noise)")
    intensity_scale: float = Field(default=1.0, gt=0, description="grey-value gain of this scan (another kV)")
    intensity_offset: float = Field(default=0.0, description="grey-value offset of this scan")
    truncation_correction: bool = Field(
        default=True,
        description="FDK: continue each truncated detector row with the fitted cylinder tail "
        "before ramp filtering (simulate.ct.truncation); False = plain FDK, with its cupping",
    )


class MultiscaleConfig(Settings):
    """The sample, its three scans (coarse to fine), and what the three share."""

    sample: MultiscaleSampleConfig
    scans: tuple[ScanConfig, ...] = Field(description="coarse to fine: lres, mres, hres")
    attenuation_per_um: float = Field(gt=0, description="linear attenuation of the matrix, 1/µm")
    source_origin_factor: float = Field(
        default=10.0, gt=1.5, description="source-axis distance in half-widths of each scan's volume"
    )
    detector_supersampling: int = Field(default=2, ge=1, le=4, description="sub-rays per detector pixel side")
    noise_seed: int = Field(default=4242, ge=0, description="base seed of the scans' noise")

    @model_validator(mode="after")
    def _check(self) -> MultiscaleConfig:
        names = [s.name for s in self.scans]
        if len(names) < 2 or len(set(names)) != len(names):
            raise ValueError(f"scans need at least two distinct names, got {names}")
        for coarse, fine in zip(self.scans, self.scans[1:], strict=False):
            if fine.voxel_size_um >= coarse.voxel_size_um:
                raise ValueError(
                    f"scans must go coarse to fine: {fine.name} ({fine.voxel_size_um} µm) after "
                    f"{coarse.name} ({coarse.voxel_size_um} µm)"
                )
        lres = self.scans[0]
        half = lres.n_voxels * lres.voxel_size_um / 2
        if self.sample.cylinder_radius_um >= half:
            raise ValueError(
                f"the {lres.name} scan must see the whole sample: cylinder radius "
                f"{self.sample.cylinder_radius_um} µm >= half its field of view {half} µm"
            )
        for s in self.scans[1:]:
            reach = math.hypot(*s.roi_center_um[1:]) + s.n_voxels * s.voxel_size_um / math.sqrt(2)
            if reach >= half:
                raise ValueError(f"scan {s.name}'s region lies partly outside the {lres.name} field of view")
        return self

    def scan(self, name: str) -> ScanConfig:
        """Return the scan called ``name``."""
        for s in self.scans:
            if s.name == name:
                return s
        raise ValueError(f"unknown scan {name!r}; choose one of {', '.join(s.name for s in self.scans)}")
