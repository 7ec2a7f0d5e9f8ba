"""The multiscale workflow (study A, Figures 10-12) as cached stages on the simulated scans.

::

    profile.multiscale ─> pores ─> scan(lres | mres | hres)            simulated, own grey scale (cached)
    scan(mres) + scan(lres) ─> registration(mres)                      pose in the lres frame
    scan(hres) + scan(mres) ─> registration(hres)                      composed with mres's pose
    registered pair (coarse resampled onto the fine grid, fine scan) ─> model(step)   9->3, 3->1
    model(9->3) over the whole LFOV resampled to 3 µm, slab by slab ─> lfov            (.npy, memmap)
    lfov around the hres region at 1 µm ─> model(3->1) ─> chain                      9 -> 3 -> 1 µm

Every stage runs on what a user has (volumes, voxel sizes, recorded poses); the true poses and the
exact phantom are used only to score the result (:mod:`~xrsr_lib.studies.multiscale.evaluation`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, cast

import numpy as np

from xrsr_lib import io
from xrsr_lib.config import Profile
from xrsr_lib.infer.loaded import LoadedModel
from xrsr_lib.io.cache import Cache
from xrsr_lib.prepare.pose import Pose
from xrsr_lib.prepare.registration import register
from xrsr_lib.prepare.resample import resample
from xrsr_lib.simulate.multiscale import bimodal_pores, exact_phantom, simulate_scan
from xrsr_lib.studies.stage import ProfileStage
from xrsr_lib.train.loop import is_finished
from xrsr_lib.train.volumes import train_cached

log = logging.getLogger(__name__)

__all__ = ["STEPS", "MultiscaleStudy"]

#: The recovery steps: (name, coarse scan, fine scan).
STEPS: dict[str, tuple[str, str]] = {"9to3": ("lres", "mres"), "3to1": ("mres", "hres")}


class MultiscaleStudy(ProfileStage):
    """Simulated scans, registration, models per step and the LFOV chain of one profile.

    Parameters: :class:`~xrsr_lib.studies.stage.ProfileStage`; settings: ``profile.multiscale``.
    """

    def __init__(
        self, profile: Profile, cache: Cache | None = None, device: str | None = None, progress: bool = True
    ) -> None:
        super().__init__(profile, cache, device, progress)
        if profile.multiscale is None:
            raise ValueError(f"profile {profile.name!r} has no multiscale settings")
        self.config = profile.multiscale
        self._models: dict[str, LoadedModel] = {}

    # ------------------------------------------------------------------ sample and scans
    def pores_params(self) -> dict[str, Any]:
        """Return the cache parameters of the sample's pores (the sample settings)."""
        return {"sample": self.config.sample.model_dump()}

    def pores(self) -> np.ndarray:
        """Return the sample's pores ``(N, 5)``: ``(x, y, z, r, 0)`` µm, sample frame (cached)."""
        path = self.cache.get_or_build(
            "ms_pores",
            self.pores_params(),
            lambda tmp: io.write_spheres(tmp, bimodal_pores(self.config.sample)),
        )
        return io.read_spheres(path)[0].astype(np.float64)

    def scan_params(self, name: str) -> dict[str, Any]:
        """Return the cache parameters of scan ``name``.

        They name the pores, the scan's settings, the attenuation (per µm), the source-origin factor,
        detector supersampling and noise seed, and for an interior scan the whole-sample scan that
        completes its truncated rows.
        """
        c = self.config
        params = {
            "pores": self.cache.path_for("ms_pores", self.pores_params()).stem,
            "scan": c.scan(name).model_dump(),
            "attenuation_per_um": c.attenuation_per_um,
            "source_origin_factor": c.source_origin_factor,
            "supersampling": c.detector_supersampling,
            "noise_seed": c.noise_seed,
        }
        if name != c.scans[0].name:  # interior scans: truncation completed with the whole-sample scan
            params["prior"] = self.cache.path_for("ms_scan", self.scan_params(c.scans[0].name)).stem
        return params

    def prior(self) -> tuple[np.ndarray, float]:
        """Return the whole-sample scan with its air at 0 and its voxel size (µm).

        The air level is the median outside the field of view's inscribed cylinder; the result is
        the prior that completes the interior scans' truncated rows.
        """
        vol, attrs = self.scan(self.config.scans[0].name)
        n = vol.shape[2]
        yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
        air = float(np.median(vol[:, np.hypot(yy, xx) > n / 2]))
        return np.clip(vol - air, 0.0, None), float(attrs["voxel_size_um"])

    def scan(self, name: str) -> tuple[np.ndarray, dict[str, Any]]:
        """Return a simulated scan's volume and attributes (cached).

        The volume has the scan's own grey values; the attributes hold the voxel size, the true and
        the recorded pose.
        """
        vol, attrs = io.read_volume(self._scan_file(name))
        return io.check_volume(vol, f"scan {name}"), attrs

    def scan_attrs(self, name: str) -> dict[str, Any]:
        """Return a scan's attributes (voxel size, true and recorded pose) without reading its volume."""
        return io.read_attrs(self._scan_file(name))

    def _scan_file(self, name: str) -> Path:
        params = self.scan_params(name)

        def build(tmp: Path) -> None:
            prior = None if name == self.config.scans[0].name else self.prior()
            sim = simulate_scan(
                self.config,
                self.config.scan(name),
                self.pores(),
                device=self.device,
                progress=self.progress,
                prior=prior,
            )
            io.write_volume(
                tmp,
                sim.volume,
                {
                    **params,
                    "voxel_size_um": sim.voxel_size_um,
                    "true_pose": sim.true_pose,
                    "recorded_pose": sim.recorded_pose,
                    "info": sim.info,
                },
            )

        return self.cache.get_or_build("ms_scan", params, build)

    # ------------------------------------------------------------------ registration
    def registration_params(self, name: str) -> dict[str, Any]:
        """Return the cache parameters of the registration of fine scan ``name``.

        They name the fine and the next coarser scan and, when that one is itself a fine scan, its
        own registration's parameters (the chain of poses).
        """
        coarse = self._coarse_of(name)
        params: dict[str, Any] = {
            "fine": self.cache.path_for("ms_scan", self.scan_params(name)).stem,
            "coarse": self.cache.path_for("ms_scan", self.scan_params(coarse)).stem,
        }
        if coarse != self.config.scans[0].name:
            params["coarse_registration"] = self.registration_params(coarse)
        return params

    def _coarse_of(self, name: str) -> str:
        names = [s.name for s in self.config.scans]
        if name not in names[1:]:
            raise ValueError(f"{name!r} is not a fine scan; choose one of {', '.join(names[1:])}")
        return names[names.index(name) - 1]

    def registration(self, name: str) -> dict[str, Any]:
        """Register scan ``name`` to the next coarser scan (cached).

        Returns the pose of scan ``name`` in the sample frame (``pose``), the registration's report
        (``report``: peak ratio, correlations) and the checkerboard slice (``checkerboard``).
        """
        params = self.registration_params(name)
        coarse = self._coarse_of(name)

        def build(tmp: Path) -> None:
            fine_vol, fine_attrs = self.scan(name)
            coarse_vol, coarse_attrs = self.scan(coarse)
            coarse_pose = (
                Pose()
                if coarse == self.config.scans[0].name
                else Pose.from_dict(self.registration(coarse)["pose"])
            )
            reg = register(
                fine_vol,
                fine_attrs["voxel_size_um"],
                coarse_vol,
                coarse_attrs["voxel_size_um"],
                Pose.from_dict(fine_attrs["recorded_pose"]),
                coarse_pose=coarse_pose,
            )
            io.write_array(
                tmp,
                "checkerboard",
                reg.checkerboard,
                {**params, "pose": reg.pose.as_dict(), "report": reg.report()},
            )

        arr, attrs = io.read_array(self.cache.get_or_build("ms_registration", params, build), "checkerboard")
        return {"pose": attrs["pose"], "report": attrs["report"], "checkerboard": arr}

    def pose(self, name: str) -> Pose:
        """Return the registered pose of a scan (the first, coarsest scan defines the sample frame)."""
        if name == self.config.scans[0].name:
            return Pose()
        return Pose.from_dict(self.registration(name)["pose"])

    # ------------------------------------------------------------------ training pairs and models
    def pair(self, step: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the training pair of a step and its overlap mask.

        Input (coarse scan resampled onto the fine grid, cubic spline), target (the fine scan)
        and the mask of fine voxels the coarse scan covers.
        """
        coarse, fine = self._step(step)
        cvol, cattrs = self.scan(coarse)
        fvol, fattrs = self.scan(fine)
        x, inside = resample(
            cvol,
            cattrs["voxel_size_um"],
            fvol.shape,
            fattrs["voxel_size_um"],
            self.pose(fine),
            self.pose(coarse),
            order=3,
        )
        return x, fvol, inside

    def _step(self, step: str) -> tuple[str, str]:
        if step not in STEPS:
            raise ValueError(f"unknown step {step!r}; choose one of {', '.join(STEPS)}")
        return STEPS[step]

    def _settings(self) -> Any:
        """Return the profile's DeepNet settings, the loss restricted to the overlap mask alone."""
        return self.profile.methods.deepnet.replace(loss_mask="none")

    def inference(self) -> dict[str, int]:
        """Return the step models' tiling: the profile's DeepNet inference settings (voxels)."""
        return self._settings().inference.model_dump()

    def model_params(self, step: str) -> dict[str, Any]:
        """Return the cache parameters of a step's model.

        They name the fine scan's registration, the coarse scan's (None when the coarse scan is the
        first one, which defines the sample frame) and the training settings' key.
        """
        coarse, fine = self._step(step)
        coarse_reg = self.registration_params(coarse) if coarse != self.config.scans[0].name else None
        return {
            "step": step,
            "fine_registration": self.registration_params(fine),
            "coarse_pose": coarse_reg,
            "settings": self._settings().key_dict(),
        }

    def train(self, step: str) -> Path:
        """Train the DeepNet of a step on the registered pair inside its overlap (cached).

        Returns the model folder.
        """
        params = self.model_params(step)
        final = self.cache.path_for("ms_model", params, suffix="")
        if is_finished(final):
            return final
        x, y, inside = self.pair(step)
        log.info("training the %s model on a %s pair", step, x.shape)
        return train_cached(
            self.cache,
            params,
            "deepnet",
            x,
            y,
            self._settings(),
            device=self.device,
            progress=self.progress,
            stage="ms_model",
            mask=inside,
        )

    def model(self, step: str) -> LoadedModel:
        """Return the trained model of a step, loaded once per study object."""
        if step not in self._models:
            self._models[step] = LoadedModel.load(self.train(step), device=self.device)
        return self._models[step]

    # ------------------------------------------------------------------ LFOV and chain
    def lfov_grid(self) -> tuple[tuple[int, int, int], float]:
        """Return the LFOV grid's shape and voxel size (µm): the lres field of view at the mres voxel size.

        The grid is ``ratio`` × finer than the lres scan.
        """
        lres, mres = self.config.scans[0], self.config.scans[1]
        n = int(round(lres.n_voxels * lres.voxel_size_um / mres.voxel_size_um))
        return (n, n, n), mres.voxel_size_um

    def lfov_params(self) -> dict[str, Any]:
        """Return the cache parameters of the LFOV: the 9->3 model, its tiling, the lres scan, grid, slab."""
        return {
            "model": self.cache.path_for("ms_model", self.model_params("9to3"), suffix="").name,
            "inference": self.inference(),
            "lres": self.cache.path_for("ms_scan", self.scan_params(self.config.scans[0].name)).stem,
            "grid": list(self.lfov_grid()[0]),
            "slab": 16,
        }

    def lfov(self) -> np.ndarray:
        """Return the 9->3 model over the whole LFOV (memory-mapped ``.npy``, sample frame, mres grey scale).

        The lres scan is resampled onto the fine grid and recovered slab by slab (16 slices plus a
        halo of the 2.5D network's stack), so memory holds one slab, not the 27× larger volume.
        """
        params = self.lfov_params()

        def build(tmp: Path) -> None:
            model = self.model("9to3")
            lres, attrs = self.scan(self.config.scans[0].name)
            shape, voxel = self.lfov_grid()
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
            halo = model.config["model"]["n_slices"] - 1
            for z0 in range(0, shape[0], params["slab"]):
                z1 = min(shape[0], z0 + params["slab"])
                a, b = max(0, z0 - halo), min(shape[0], z1 + halo)
                sub = Pose(0.0, (((a + b - 1) / 2 - (shape[0] - 1) / 2) * voxel, 0.0, 0.0))
                slab, _ = resample(
                    lres, attrs["voxel_size_um"], (b - a, shape[1], shape[2]), voxel, sub, order=3
                )
                out[z0:z1] = model.predict(slab, **params["inference"])[z0 - a : z1 - a]
            out.flush()
            del out

        path = self.cache.get_or_build("ms_lfov", params, build, suffix=".npy")
        return np.load(path, mmap_mode="r")

    def on_grid(self, image: str, name: str = "hres") -> np.ndarray:
        """Return an image of the workflow on the grid of scan ``name`` (registered pose).

        ``image``: a scan name (``lres``, ``mres``, ``hres``: resampled, cubic spline), ``lfov``
        (the 9->3 output), ``chain`` (9->3 then 3->1, only on the hres grid), ``mres_3to1`` (the 3->1
        model on the resampled mres scan) or ``phantom`` (the exact sample, material fraction).
        """
        scan_cfg = self.config.scan(name)
        shape, voxel, pose = (scan_cfg.n_voxels,) * 3, scan_cfg.voxel_size_um, self.pose(name)
        if image == "phantom":
            true = Pose.from_dict(self.scan_attrs(name)["true_pose"])
            return exact_phantom(
                self.pores(),
                self.config.sample.cylinder_radius_um,
                true.angle_deg,
                true.center_um,
                scan_cfg.n_voxels,
                voxel,
            )
        if image == name:
            return self.scan(name)[0]
        if image == "lfov":
            grid, lv = self.lfov_grid()
            return resample(np.asarray(self.lfov()), lv, shape, voxel, pose, order=3)[0]
        if image in ("chain", "mres_3to1"):
            if name != STEPS["3to1"][1]:
                raise ValueError(f"{image} exists on the {STEPS['3to1'][1]} grid only")
            source = self.on_grid("lfov" if image == "chain" else STEPS["3to1"][0], name)
            return self.model("3to1").predict(source, **cast(dict[str, Any], self.inference()))
        vol, attrs = self.scan(image)
        return resample(vol, attrs["voxel_size_um"], shape, voxel, pose, self.pose(image), order=3)[0]

    def true_poses(self) -> dict[str, dict[str, Any]]:
        """Return the simulation's true pose of every scan (for scoring the registration)."""
        return {s.name: self.scan_attrs(s.name)["true_pose"] for s in self.config.scans}
