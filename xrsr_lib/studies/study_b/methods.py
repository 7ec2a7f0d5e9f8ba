"""Study B's method stage: nano-CT splits, two-stage trained SR networks and their test outputs.

::

    profile.study_b ─> split(train | val | test, scale)          simulated slices, degraded (cached)
                    ─> model(method, scale)                      pre-train on natural images, fine-tune
                                                                 on train, best on val (cached folder)
                    ─> prediction(method, scale)                 the test split super-resolved (cached)

A *method* is one name used in tables and legends: ``bicubic`` (the input, up-sampled), the
compared networks ``utsr``, ``swinir``, ``rrdbnet`` (Real-ESRGAN's generator), and the UTSR
ablations ``utsr_mlp`` (DCFFN off: a plain MLP feed-forward), ``utsr_single_window`` (GMSA off:
one window size) and ``utsr_finetune_only`` (no pre-training). ``reference`` is the
high-quality slice itself.
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xrsr_lib import io
from xrsr_lib.config import STUDY_B_MODELS, Profile
from xrsr_lib.io.cache import Cache, write_json_atomic
from xrsr_lib.simulate.nanoct import SPLIT_SEEDS, bicubic_upsample, make_split
from xrsr_lib.studies.stage import ProfileStage

__all__ = ["ABLATION_VARIANTS", "METHOD_LABELS", "SPLITS", "StudyB", "Variant", "crack_rich_window"]

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
_SPLIT_ARRAYS = ("hr", "lr", "crack_mask", "pore_mask")

#: Display names of the methods (tables, legends).
METHOD_LABELS: dict[str, str] = {
    "reference": "reference (HR)",
    "bicubic": "bicubic",
    "utsr": "UTSR",
    "swinir": "SwinIR",
    "rrdbnet": "Real-ESRGAN (RRDBNet)",
    "utsr_mlp": "UTSR, DCFFN off (MLP)",
    "utsr_single_window": "UTSR, GMSA off (one window)",
    "utsr_finetune_only": "UTSR, fine-tune only",
}


@dataclass(frozen=True)
class Variant:
    """A trained method: network, architecture changes against the profile's, pre-training or not."""

    name: str
    network: str
    overrides: dict[str, Any] = field(default_factory=dict)
    pretrain: bool = True
    ablation: str | None = None


#: The ablation switches (config ``study_b.ablations``) and the variant each one trains.
ABLATION_VARIANTS: dict[str, Variant] = {
    "dcffn_off": Variant("utsr_mlp", "utsr", {"ffn": "mlp"}, ablation="dcffn_off"),
    "gmsa_off": Variant("utsr_single_window", "utsr", {"attention": "single"}, ablation="gmsa_off"),
    "finetune_only": Variant("utsr_finetune_only", "utsr", pretrain=False, ablation="finetune_only"),
}


class StudyB(ProfileStage):
    """Builds the data, trains the networks and super-resolves the test split of one profile.

    Parameters: :class:`~xrsr_lib.studies.stage.ProfileStage`; every setting is ``profile.study_b``.
    """

    def __init__(
        self, profile: Profile, cache: Cache | None = None, device: str | None = None, progress: bool = True
    ) -> None:
        super().__init__(profile, cache, device, progress)
        self.config = profile.study_b

    # ------------------------------------------------------------------ methods
    @property
    def variants(self) -> dict[str, Variant]:
        """Every trained method of the profile: the three networks, then the ablations."""
        out = {name: Variant(name, name) for name in STUDY_B_MODELS}
        for key in self.config.ablations:
            v = ABLATION_VARIANTS[key]
            out[v.name] = v
        return out

    def methods(self, scale: int) -> list[str]:
        """Return the methods scored at ``scale``, in table order.

        ``bicubic`` comes first; ablations only at ``ablation_scale``.
        """
        self._check_scale(scale)
        names = ["bicubic", *STUDY_B_MODELS]
        if scale == self.config.ablation_scale:
            names += [v.name for v in self.variants.values() if v.ablation]
        return names

    def model_config(self, method: str, scale: int) -> dict[str, Any]:
        """Return every architecture field of ``method`` at ``scale``.

        Profile fields, ablation overrides and scale over the config class's defaults, so a change of a
        default changes cache keys too.
        """
        from xrsr_lib.models import model_config_class

        v = self._variant(method)
        fields = {**self.config.models[v.network], **v.overrides, "scale": int(scale)}
        return model_config_class(v.network)(**fields).model_dump(mode="json")

    def _variant(self, method: str) -> Variant:
        variants = self.variants
        if method not in variants:
            raise ValueError(f"unknown trained method {method!r}; choose one of {', '.join(variants)}")
        return variants[method]

    def _check_scale(self, scale: int) -> None:
        if scale not in self.config.scales:
            raise ValueError(f"scale {scale} is not one of the profile's scales {self.config.scales}")

    # ------------------------------------------------------------------ data
    def split_params(self, split: str, scale: int) -> dict[str, Any]:
        """Return the cache key of a data split (``train``, ``val`` or ``test``) at ``scale``.

        Raises
        ------
        ValueError
            An unknown split or a scale not in the profile's ``scales``.
        """
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        self._check_scale(scale)
        c = self.config
        return {
            "split": split,
            "seed": SPLIT_SEEDS[split],
            "n_images": getattr(c, f"n_{split}"),
            "scale": int(scale),
            "blur_sigma_px": c.blur_sigma_px,
            "noise_std": c.noise_std,
            "slice": c.slice.model_dump(),
        }

    def split(self, split: str, scale: int) -> Path:
        """Return the cached HDF5 file of a split: datasets ``hr``, ``lr``, ``crack_mask``, ``pore_mask``."""
        params = self.split_params(split, scale)

        def build(tmp: Path) -> None:
            import h5py

            data = make_split(
                self.config.slice,
                params["n_images"],
                params["seed"],
                scale,
                self.config.blur_sigma_px,
                self.config.noise_std,
            )
            with h5py.File(tmp, "w") as f:
                for name in _SPLIT_ARRAYS:
                    f.create_dataset(name, data=data[name], compression="gzip", compression_opts=4)
                f.attrs["params"] = json.dumps(params)

        return self.cache.get_or_build("nanoct_split", params, build)

    def load_split(self, split: str, scale: int) -> dict[str, np.ndarray]:
        """Return the arrays of a split (building it first if needed)."""
        path = self.split(split, scale)
        return {name: io.read_array(path, name)[0] for name in _SPLIT_ARRAYS}

    # ------------------------------------------------------------------ training
    def model_params(self, method: str, scale: int) -> dict[str, Any]:
        """Return the cache key of ``method``'s trained model at ``scale``.

        It holds the architecture (:meth:`model_config`), the pretraining and fine-tuning settings,
        the training and validation splits' cache names and, for pretrained methods, the natural-image pairs.
        """
        v = self._variant(method)
        self._check_scale(scale)
        c = self.config
        params: dict[str, Any] = {
            "method": method,
            "network": v.network,
            "model": self.model_config(method, scale),
            "pretrain": c.pretrain.key_dict() if v.pretrain else None,
            "finetune": c.finetune.key_dict(),
            "train": self.cache.path_for("nanoct_split", self.split_params("train", scale)).stem,
            "val": self.cache.path_for("nanoct_split", self.split_params("val", scale)).stem,
        }
        if v.pretrain:
            params["natural"] = {
                "n": c.natural_pairs,
                "seed": c.natural_seed,
                "blur_sigma_px": c.blur_sigma_px,
                "noise_std": c.noise_std,
            }
        return params

    def model_folder(self, method: str, scale: int) -> Path:
        """Cache folder of a trained method (``pretrain/`` and ``finetune/`` inside)."""
        return self.cache.path_for("sr_model", self.model_params(method, scale), suffix="")

    def train(self, method: str, scale: int) -> Path:
        """Return the fine-tuned model folder of ``method`` at ``scale``, training it first if needed.

        An interrupted training resumes from its checkpoint.
        """
        from xrsr_lib.train.slices import two_stage

        params = self.model_params(method, scale)
        folder = self.cache.path_for("sr_model", params, suffix="")
        if _finished(folder / "finetune"):
            return folder / "finetune"
        v = self._variant(method)
        c = self.config
        train = self.load_split("train", scale)
        val = self.load_split("val", scale)
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(folder / "params.json", params)
        log.info("training %s at ×%d in %s", method, scale, folder)
        out = two_stage(
            v.network,
            params["model"],
            train["lr"],
            train["hr"],
            c.pretrain,
            c.finetune,
            folder,
            pretrain=v.pretrain,
            natural_n=c.natural_pairs,
            blur_sigma_px=c.blur_sigma_px,
            noise_std=c.noise_std,
            natural_seed=c.natural_seed,
            validation=(val["lr"], val["hr"]),
            device=self.device,
            progress=self.progress,
        )
        return out["finetune"]

    def training_record(self, method: str, scale: int) -> dict[str, Any]:
        """Seconds per stage, best validation iteration and PSNR of a trained method."""
        fine = self.train(method, scale)
        cfg = json.loads((fine / "config.json").read_text())
        pre = fine.parent / "pretrain" / "config.json"
        pre_seconds = json.loads(pre.read_text())["train_seconds"] if pre.exists() else 0.0
        return {
            "method": method,
            "scale": int(scale),
            "pretrain_seconds": float(pre_seconds),
            "finetune_seconds": float(cfg["train_seconds"]),
            "train_seconds": float(pre_seconds) + float(cfg["train_seconds"]),
            "best_iteration": int(cfg.get("best_iteration", cfg["settings"]["iterations"])),
            "best_val_psnr": float(cfg.get("best_val_psnr", np.nan)),
            "best_val_loss": float(cfg.get("best_val_loss", np.nan)),
        }

    def loss_curves(self, method: str, scale: int) -> dict[str, list[dict[str, float]]]:
        """``{"pretrain": rows, "finetune": rows, "validation": rows}`` read from the model folder."""
        fine = self.train(method, scale)
        out: dict[str, list[dict[str, float]]] = {}
        for key, path in (
            ("pretrain", fine.parent / "pretrain" / "loss.csv"),
            ("finetune", fine / "loss.csv"),
            ("validation", fine / "validation.csv"),
        ):
            if path.exists():
                with open(path, newline="") as f:
                    out[key] = [{k: float(x) for k, x in row.items()} for row in csv.DictReader(f)]
        return out

    def bicubic_validation_psnr(self, scale: int) -> float:
        """Mean PSNR of the bicubic interpolation on the validation split (the bar to clear)."""
        from xrsr_lib.evaluate.quality import psnr

        val = self.load_split("val", scale)
        return float(
            np.mean(
                [
                    psnr(bicubic_upsample(a, scale), b, data_range=1.0)
                    for a, b in zip(val["lr"], val["hr"], strict=True)
                ]
            )
        )

    # ------------------------------------------------------------------ predictions
    def prediction_params(self, method: str, scale: int) -> dict[str, Any]:
        """Return the cache key of ``method``'s super-resolved test split at ``scale``.

        It names the test split's file and, except for ``bicubic``, the model folder.
        """
        test = self.cache.path_for("nanoct_split", self.split_params("test", scale)).stem
        if method == "bicubic":
            return {"method": method, "scale": int(scale), "input": test}
        return {
            "method": method,
            "scale": int(scale),
            "input": test,
            "model": self.model_folder(method, scale).name,
        }

    def predict(self, method: str, scale: int) -> Path:
        """Return the cached HDF5 stack ``(N, H, W)`` of the test split super-resolved by ``method``."""
        from tqdm.auto import tqdm

        if method != "bicubic":
            self._variant(method)
        params = self.prediction_params(method, scale)

        def build(tmp: Path) -> None:
            lr = self.load_split("test", scale)["lr"]
            if method == "bicubic":
                out = np.stack([bicubic_upsample(a, scale) for a in lr])
            else:
                from xrsr_lib.infer.loaded import LoadedModel

                model = LoadedModel.load(self.train(method, scale), device=self.device)
                out = np.stack(
                    [model.predict(a) for a in tqdm(lr, desc=f"{method} ×{scale}", disable=not self.progress)]
                )
            io.write_array(tmp, "images", out.astype(np.float32), params)

        if method != "bicubic":
            self.train(method, scale)
        return self.cache.get_or_build("sr_prediction", params, build)

    def load(self, method: str, scale: int) -> np.ndarray:
        """Return the test images of ``method`` at ``scale`` as float32 ``(N, H, W)``.

        ``reference`` gives the high-quality slices.
        """
        if method == "reference":
            return self.load_split("test", scale)["hr"]
        return io.read_array(self.predict(method, scale), "images")[0]


def _finished(folder: Path) -> bool:
    """Whether a train_sr folder holds a finished model."""
    return (folder / "config.json").exists() and (folder / "weights.pt").exists()


def crack_rich_window(mask: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left corner ``(row, col)`` of the ``size × size`` window holding the most crack pixels.

    Ties go to the first window in row-major order. Used to pick example crops that show cracks.
    """
    m = np.asarray(mask, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {m.shape}")
    if not 1 <= size <= min(m.shape):
        raise ValueError(f"window size {size} must lie in 1..{min(m.shape)}")
    # integral image: sum of every size×size window, windows fully inside the image
    ii = np.pad(m, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    sums = ii[size:, size:] - ii[:-size, size:] - ii[size:, :-size] + ii[:-size, :-size]
    r, c = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(r), int(c)
