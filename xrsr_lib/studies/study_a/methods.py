"""Study A's method stage: one model per (method, σ), predictions per realization, all cached.

::

    reconstruction(train, σ) + reconstruction(train, 1 µm), z < train_end -> model(method, σ)
      (the held-out slab z >= held_out_start: validation of the stopping rule, trust calibration)
    model(method, σ) + reconstruction(realization, σ)      -> prediction(method, σ, realization)
    reconstruction(realization, σ)                          -> prediction(rl, σ, realization)
    prediction(rl, σ, realization)                          -> prediction(rl_nlm, σ, realization)

``rl_nlm`` (non-local means on the RL result) is the image study A segments for RL.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from xrsr_lib import io
from xrsr_lib.config import Profile
from xrsr_lib.infer.loaded import LoadedModel
from xrsr_lib.io.cache import Cache
from xrsr_lib.restore.deconv import deconvolve_gaussian, nlm_denoise
from xrsr_lib.studies.stage import ProfileStage
from xrsr_lib.studies.study_a.datasets import DatasetBuilder
from xrsr_lib.train.volumes import train_cached

__all__ = ["PREDICTION_METHODS", "TRAINED_METHODS", "StudyA"]

log = logging.getLogger(__name__)

#: Every method whose output study A evaluates, in the order figures show them.
PREDICTION_METHODS = ("rl", "rl_nlm", "srcnn", "deepnet")
TRAINED_METHODS = ("deepnet", "srcnn")


class StudyA(ProfileStage):
    """Trains and applies the compared methods of study A for one profile.

    Parameters: :class:`~xrsr_lib.studies.stage.ProfileStage`.
    """

    def __init__(
        self, profile: Profile, cache: Cache | None = None, device: str | None = None, progress: bool = True
    ) -> None:
        super().__init__(profile, cache, device, progress)
        self.data = DatasetBuilder(profile, self.cache, device=device, progress=progress)

    # ------------------------------------------------------------------ checks and keys
    def _check(self, method: str, sigma_um: float, allowed: tuple[str, ...]) -> None:
        if method not in allowed:
            raise ValueError(f"unknown method {method!r}; choose one of {', '.join(allowed)}")
        if sigma_um not in self.profile.degrade.lres_sigmas_um:
            raise ValueError(
                f"sigma {sigma_um} µm is not a low-resolution level of profile {self.profile.name!r} "
                f"({self.profile.degrade.lres_sigmas_um})"
            )

    def _recon_key(self, realization: str, sigma_um: float) -> str:
        # the key only: building the reconstruction is left to the stage that reads it
        params = self.data.reconstruction_params(realization, sigma_um)
        return self.cache.path_for("reconstruction", params).stem

    def held_out_slabs(self) -> tuple[int, int]:
        """Return ``(train_end, held_out_start)``, the slice indices that split the training realization.

        Networks train on the training realization's slices ``[0, train_end)`` and are validated on
        ``[held_out_start, n)`` (``profile.held_out``).
        """
        return self.profile.held_out.slabs(self.profile.volume.n_voxels)

    def model_params(self, method: str, sigma_um: float) -> dict[str, Any]:
        """Return the cache parameters of the model of (method, σ in µm).

        They name the method, σ, the training realization's input and target reconstructions, the
        settings' key and the held-out split (:meth:`held_out_slabs`).
        """
        self._check(method, sigma_um, TRAINED_METHODS)
        train = self.profile.training_realization
        settings = getattr(self.profile.methods, method)
        end, start = self.held_out_slabs()
        return {
            "method": method,
            "sigma_um": float(sigma_um),
            "input": self._recon_key(train, sigma_um),
            "target": self._recon_key(train, self.profile.degrade.hres_sigma_um),
            "settings": settings.key_dict(),
            "held_out": {"train_end": end, "validation_start": start},
        }

    def prediction_params(self, method: str, sigma_um: float, realization: str) -> dict[str, Any]:
        """Return the cache parameters of the prediction of (method, σ in µm) on ``realization``.

        Trained methods add their model, input and inference tiling; ``rl`` its input, iterations,
        σ in voxels and boundary; ``rl_nlm`` the ``rl`` prediction it denoises and the NLM settings.
        """
        self._check(method, sigma_um, PREDICTION_METHODS)
        base: dict[str, Any] = {"method": method, "sigma_um": float(sigma_um), "realization": realization}
        if method in TRAINED_METHODS:
            base["model"] = self.cache.path_for("model", self.model_params(method, sigma_um), suffix="").name
            base["input"] = self._recon_key(realization, sigma_um)
            base["inference"] = getattr(self.profile.methods, method).inference.model_dump()
        elif method == "rl":
            base["input"] = self._recon_key(realization, sigma_um)
            base["iterations"] = self.profile.methods.rl.iterations
            base["sigma_voxels"] = sigma_um / self.profile.volume.voxel_size_um
            base["boundary"] = self.profile.methods.rl.boundary
        else:  # rl_nlm
            rl = self.profile.methods.rl
            rl_params = self.prediction_params("rl", sigma_um, realization)
            base["input"] = self.cache.path_for("prediction", rl_params).stem
            base["nlm"] = [rl.nlm_patch_size, rl.nlm_patch_distance, rl.nlm_h_factor, rl.nlm_sigma]
        return base

    # ------------------------------------------------------------------ stages
    def train(self, method: str, sigma_um: float) -> Path:
        """Return the folder of the trained model for (method, σ), training it first if needed."""
        params = self.model_params(method, sigma_um)
        train = self.profile.training_realization
        final = self.cache.path_for("model", params, suffix="")
        if (final / "config.json").exists():
            return final
        inputs = self.data.load_volume(self.data.reconstruction(train, sigma_um))
        target = self.data.load_volume(self.data.reconstruction(train, self.profile.degrade.hres_sigma_um))
        settings = getattr(self.profile.methods, method)
        end, start = self.held_out_slabs()
        return train_cached(
            self.cache,
            params,
            method,
            inputs[:end],
            target[:end],
            settings,
            device=self.device,
            progress=self.progress,
            validation=(inputs[start:], target[start:]),
        )

    def load_model(self, method: str, sigma_um: float) -> LoadedModel:
        """Return the trained model of (method, σ in µm), loaded on the study's device (trained if needed)."""
        return LoadedModel.load(self.train(method, sigma_um), device=self.device)

    def predict(self, method: str, sigma_um: float, realization: str) -> Path:
        """Return the cached prediction volume of ``method`` on the σ input of ``realization``."""
        params = self.prediction_params(method, sigma_um, realization)

        def build(tmp: Path) -> None:
            if method in TRAINED_METHODS:
                model = self.load_model(method, sigma_um)
                vol = self.data.load_volume(self.data.reconstruction(realization, sigma_um))
                out = model.predict(vol, progress=self.progress, **params["inference"])
            elif method == "rl":
                vol = self.data.load_volume(self.data.reconstruction(realization, sigma_um))
                out = deconvolve_gaussian(
                    vol,
                    params["sigma_voxels"],
                    iterations=params["iterations"],
                    device=self.device,
                    progress=self.progress,
                    boundary=params["boundary"],
                )
            else:
                rl = self.profile.methods.rl
                vol = self.data.load_volume(self.predict("rl", sigma_um, realization))
                out = nlm_denoise(
                    vol,
                    patch_size=rl.nlm_patch_size,
                    patch_distance=rl.nlm_patch_distance,
                    h_factor=rl.nlm_h_factor,
                    sigma=rl.nlm_sigma,
                )
            io.write_volume(tmp, out, {**params, "units": "material fraction"})

        if method in TRAINED_METHODS:
            self.train(method, sigma_um)
        return self.cache.get_or_build("prediction", params, build)

    def load(self, method: str, sigma_um: float, realization: str) -> Any:
        """Return the prediction as an array (``method`` may also be ``gt`` or ``fdk``, the input)."""
        if method == "gt":
            return self.data.load_volume(self.data.ground_truth(realization))
        if method == "fdk":
            return self.data.load_volume(self.data.reconstruction(realization, sigma_um))
        return self.data.load_volume(self.predict(method, sigma_um, realization))

    def training_record(self, method: str, sigma_um: float) -> dict[str, Any]:
        """Return what the training of (method, σ) recorded.

        That is ``train_seconds``, and with the held-out slab ``best_iteration`` (the weights kept),
        ``stopped_iteration`` and ``best_val_loss``.
        """
        cfg = json.loads((self.train(method, sigma_um) / "config.json").read_text())
        keys = ("train_seconds", "best_iteration", "stopped_iteration", "best_val_loss")
        return {k: cfg[k] for k in keys if k in cfg}

    def training_seconds(self, method: str, sigma_um: float) -> float:
        """Wall time the model took to train (recorded in its ``config.json``)."""
        return float(self.training_record(method, sigma_um)["train_seconds"])
