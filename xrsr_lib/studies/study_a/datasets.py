"""Build the simulated study-A datasets of a profile through the cache.

One realization is a chain of cached artifacts, each keyed by its own parameters and the key
of the artifact it was made from::

    phantom (void list) -> ground truth (voxelized, exact)
                        -> projections (exact, noise-free) -> reconstruction per σ (blur, noise, FDK)
                        -> reference (exact projections from ct.reference_n_angles views, no blur,
                           no noise, FDK at the 1 µm grid: study A's ground truth)

Volumes are stored in units of material fraction (matrix = 1, pores = 0); the physical
attenuation ``ct.attenuation_per_um`` sets the photon statistics only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xrsr_lib import io
from xrsr_lib.config import Profile
from xrsr_lib.io.cache import Cache
from xrsr_lib.simulate.ct.analytic import project_foam
from xrsr_lib.simulate.ct.degrade import degrade_projections
from xrsr_lib.simulate.ct.geometry import ConeGeometry
from xrsr_lib.simulate.ct.reconstruct import fdk
from xrsr_lib.simulate.phantom import generate_foam, generate_sized_foam, voxelize
from xrsr_lib.studies.stage import ProfileStage

__all__ = [
    "DatasetBuilder",
    "RealizationPaths",
    "geometry_for",
    "noise_seed",
    "reference_geometry_for",
    "spheres_to_um",
]

log = logging.getLogger(__name__)


def geometry_for(profile: Profile, n_angles: int | None = None) -> ConeGeometry:
    """Return the cone-beam geometry of a profile (detector pixel = one voxel at the rotation axis).

    It has ``ct.n_angles`` views unless ``n_angles`` is given.
    """
    return ConeGeometry.for_volume(
        profile.volume.n_voxels,
        profile.volume.voxel_size_um,
        profile.ct.n_angles if n_angles is None else n_angles,
        profile.ct.source_origin_um,
        profile.ct.origin_detector_um,
    )


def reference_geometry_for(profile: Profile) -> ConeGeometry:
    """Return the dense-view geometry of the reference image: the scan's, with ``ct.reference_n_angles``."""
    return geometry_for(profile, profile.ct.reference_n_angles)


def spheres_to_um(spheres: np.ndarray, cylinder_radius_um: float) -> np.ndarray:
    """Scale a void list from generator units (cylinder radius 1) to µm (x, y, z, r scaled)."""
    out = np.array(spheres, dtype=np.float64, copy=True)
    out[:, :4] *= cylinder_radius_um
    return out


def noise_seed(profile: Profile, realization: str, sigma_um: float) -> np.random.SeedSequence:
    """Independent, reproducible noise stream per (realization, σ)."""
    seed = profile.realizations[realization]
    return np.random.SeedSequence(profile.degrade.noise_seed, spawn_key=(seed, round(sigma_um * 1000)))


@dataclass
class RealizationPaths:
    """Cached files of one realization."""

    name: str
    phantom: Path
    ground_truth: Path
    projections: Path
    reference: Path | None = None
    reconstructions: dict[float, Path] = field(default_factory=dict)


class DatasetBuilder(ProfileStage):
    """Builds (and caches) every artifact of a profile.

    Parameters: :class:`ProfileStage`; the device runs FDK.
    """

    def __init__(
        self, profile: Profile, cache: Cache | None = None, device: str | None = None, progress: bool = True
    ) -> None:
        super().__init__(profile, cache, device, progress)
        self.geometry = geometry_for(profile)
        self.reference_geometry = reference_geometry_for(profile)

    # ---------------------------------------------------------------- parameter sets (cache keys)
    def _check_realization(self, realization: str) -> int:
        if realization not in self.profile.realizations:
            raise ValueError(
                f"unknown realization {realization!r}; profile {self.profile.name!r} has "
                f"{sorted(self.profile.realizations)}"
            )
        return self.profile.realizations[realization]

    def phantom_params(self, realization: str) -> dict[str, Any]:
        """Return the seed and generator parameters of the void list (the phantom's cache key).

        ``phantom.generator``: Pelt's parameters as before, or the sized generator's, which carry
        ``generator = "sized"``.
        """
        return {"seed": self._check_realization(realization), **self.profile.phantom.generator_parameters()}

    def ground_truth_params(self, realization: str) -> dict[str, Any]:
        """Return the ground truth's cache key: the phantom, the grid (voxel size, µm), the supersampling."""
        return {
            "phantom": self.cache.path_for("phantom", self.phantom_params(realization)).stem,
            "shape": list(self.profile.volume.shape),
            "voxel_size_um": self.profile.volume.voxel_size_um,
            "cylinder_radius_um": self.profile.phantom.cylinder_radius_um,
            "supersampling": self.profile.phantom.supersampling,
        }

    def projection_params(self, realization: str) -> dict[str, Any]:
        """Return the exact projections' cache key: the phantom, its radius (µm) and the scan geometry."""
        return {
            "phantom": self.cache.path_for("phantom", self.phantom_params(realization)).stem,
            "cylinder_radius_um": self.profile.phantom.cylinder_radius_um,
            "geometry": self.geometry.to_dict(),
            "detector_supersampling": self.profile.ct.detector_supersampling,
        }

    def reference_params(self, realization: str) -> dict[str, Any]:
        """Return the reference image's cache key: the phantom, the dense-view geometry, filter and grid."""
        return {
            "phantom": self.cache.path_for("phantom", self.phantom_params(realization)).stem,
            "cylinder_radius_um": self.profile.phantom.cylinder_radius_um,
            "geometry": self.reference_geometry.to_dict(),
            "detector_supersampling": self.profile.ct.detector_supersampling,
            "filter": self.profile.ct.fdk_filter,
            "shape": list(self.profile.volume.shape),
            "voxel_size_um": self.profile.volume.voxel_size_um,
        }

    def reconstruction_params(self, realization: str, sigma_um: float) -> dict[str, Any]:
        """Return the cache key of the scan reconstructed at blur ``sigma_um`` (µm at the object).

        It holds the projections, the blur (µm and detector pixels), the attenuation and photon
        count, the noise stream (:func:`noise_seed`), the FDK filter and the grid.
        """
        ct = self.profile.ct
        ss = noise_seed(self.profile, realization, sigma_um)
        return {
            "projections": self.cache.path_for("projections", self.projection_params(realization)).stem,
            "sigma_um": float(sigma_um),
            "sigma_px": self.sigma_px(sigma_um),
            "attenuation_per_um": ct.attenuation_per_um,
            "photons_per_pixel": ct.photons_per_pixel,
            "noise_entropy": ss.entropy,
            "noise_spawn_key": list(ss.spawn_key),
            "filter": ct.fdk_filter,
            "shape": list(self.profile.volume.shape),
            "voxel_size_um": self.profile.volume.voxel_size_um,
        }

    def sigma_px(self, sigma_um: float) -> float:
        """Blur σ at the object (µm) expressed in detector pixels."""
        if sigma_um < 0:
            raise ValueError(f"blur sigma must be >= 0 µm, got {sigma_um}")
        return float(sigma_um) / self.geometry.pixel_at_isocenter

    # ---------------------------------------------------------------- stages
    def phantom(self, realization: str) -> Path:
        """Return the cached void list (spheres) of a realization, generating it first if missing.

        Raises
        ------
        ValueError
            The sized generator cannot place the profile's pore density and sizes.
        """
        params = self.phantom_params(realization)

        def build(tmp: Path) -> None:
            p = dict(params)
            seed = p.pop("seed")
            if p.pop("generator", "pelt") == "sized":
                try:
                    spheres = generate_sized_foam(seed, progress=self.progress, **p)
                except ValueError as err:
                    raise ValueError(
                        f"profile {self.profile.name!r}: phantom.pore_density_per_mm3 / phantom.sizes: {err}"
                    ) from err
            else:
                spheres = generate_foam(seed, progress=self.progress, **p)
            attrs = {**params, "cylinder_radius_um": self.profile.phantom.cylinder_radius_um}
            io.write_spheres(tmp, spheres, attrs)

        return self.cache.get_or_build("phantom", params, build)

    def ground_truth(self, realization: str) -> Path:
        """Return the cached voxelized phantom of a realization (material fraction), built if missing."""
        params = self.ground_truth_params(realization)
        vol = self.profile.volume
        radius = self.profile.phantom.cylinder_radius_um

        def build(tmp: Path) -> None:
            spheres, _ = io.read_spheres(self.phantom(realization))
            gt = voxelize(
                spheres,
                vol.shape,
                voxel_size=vol.voxel_size_um / radius,
                supersampling=self.profile.phantom.supersampling,
            )
            io.write_volume(tmp, gt, {**params, "units": "material fraction"})

        return self.cache.get_or_build("ground_truth", params, build)

    def _exact_projections(self, realization: str, geometry: ConeGeometry) -> np.ndarray:
        """Material path lengths (µm) of the realization's phantom, noise- and blur-free."""
        spheres, _ = io.read_spheres(self.phantom(realization))
        radius = self.profile.phantom.cylinder_radius_um
        return project_foam(
            spheres_to_um(spheres, radius),
            geometry,
            cylinder_radius=radius,
            supersampling=self.profile.ct.detector_supersampling,
            progress=self.progress,
        )

    def projections(self, realization: str) -> Path:
        """Return a realization's cached exact projections (material path length, µm), built if missing."""
        params = self.projection_params(realization)

        def build(tmp: Path) -> None:
            projs = self._exact_projections(realization, self.geometry)
            io.write_projections(tmp, projs, {**params, "units": "material path length (µm)"})

        return self.cache.get_or_build("projections", params, build)

    def reconstruction(self, realization: str, sigma_um: float) -> Path:
        """Return the cached FDK of a blurred, noisy scan (material fraction), built if missing.

        The exact projections are blurred by ``sigma_um`` (µm at the object) and given Poisson noise
        (:func:`noise_seed`) before the reconstruction.
        """
        params = self.reconstruction_params(realization, sigma_um)
        ct = self.profile.ct
        vol = self.profile.volume

        def build(tmp: Path) -> None:
            projs, _ = io.read_projections(self.projections(realization))
            noisy = degrade_projections(
                projs,
                params["sigma_px"],
                attenuation=ct.attenuation_per_um,
                photons=ct.photons_per_pixel,
                seed=noise_seed(self.profile, realization, sigma_um),
                progress=self.progress,
            )
            del projs
            rec = fdk(
                noisy,
                self.geometry,
                vol.shape,
                vol.voxel_size_um,
                filter=ct.fdk_filter,
                device=self.device,
                progress=self.progress,
            )
            io.write_volume(tmp, rec, {**params, "units": "material fraction"})

        return self.cache.get_or_build("reconstruction", params, build)

    def reference(self, realization: str) -> Path:
        """Return study A's ground truth, built if missing.

        It is the FDK of exact (noise-free, blur-free) projections from ``ct.reference_n_angles``
        views at the 1 µm grid (material fraction). The dense projections are not kept
        (``reference_n_angles`` × detector × 4 bytes: 0.4 GB on ``cpu``).
        """
        params = self.reference_params(realization)
        vol = self.profile.volume

        def build(tmp: Path) -> None:
            projs = self._exact_projections(realization, self.reference_geometry)
            rec = fdk(
                projs,
                self.reference_geometry,
                vol.shape,
                vol.voxel_size_um,
                filter=self.profile.ct.fdk_filter,
                device=self.device,
                progress=self.progress,
            )
            del projs
            io.write_volume(tmp, rec, {**params, "units": "material fraction"})

        return self.cache.get_or_build("reference", params, build)

    def realization(self, realization: str, sigmas: tuple[float, ...] | None = None) -> RealizationPaths:
        """Every artifact of one realization (all σ of the profile unless given)."""
        sigmas = self.profile.degrade.sigmas_um if sigmas is None else sigmas
        paths = RealizationPaths(
            realization,
            phantom=self.phantom(realization),
            ground_truth=self.ground_truth(realization),
            projections=self.projections(realization),
            reference=(
                self.reference(realization) if self.profile.evaluation.reference == "dense_fdk" else None
            ),
        )
        for s in sigmas:
            paths.reconstructions[float(s)] = self.reconstruction(realization, s)
        return paths

    def build_all(self) -> dict[str, RealizationPaths]:
        """Both realizations, all σ."""
        return {name: self.realization(name) for name in self.profile.realizations}

    def load_volume(self, path: Path) -> np.ndarray:
        """Read a cached volume and check it is a finite cube of this profile's size."""
        vol, _ = io.read_volume(path)
        vol = io.check_volume(vol, name=str(path), cubic=True)
        if vol.shape != self.profile.volume.shape:
            raise ValueError(
                f"{path} holds a {vol.shape} volume; profile {self.profile.name!r} expects "
                f"{self.profile.volume.shape}"
            )
        return vol

    def build_seconds(self, artifact: Path) -> float:
        """How long the cached artifact took to build (from its JSON)."""
        return float(self.cache.metadata(artifact)["build_seconds"])

    def stage_seconds(self, paths: dict[str, RealizationPaths]) -> list[dict[str, Any]]:
        """One record per artifact: realization, stage, seconds it took to build."""
        rows = []
        for name, rp in paths.items():
            stages = [("phantom", rp.phantom), ("ground truth", rp.ground_truth)]
            stages += [("projections", rp.projections)]
            if rp.reference is not None:
                stages += [("reference (dense-view FDK)", rp.reference)]
            stages += [(f"reconstruction σ={s:g} µm", p) for s, p in rp.reconstructions.items()]
            rows += [{"realization": name, "stage": st, "seconds": self.build_seconds(p)} for st, p in stages]
        return rows
