"""Settings of study B (UTSR for nano-CT)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from xrsr_lib.config.base import Settings
from xrsr_lib.config.nanoct import CrackSegmentationConfig, CrackSliceConfig
from xrsr_lib.config.training import SRTrainingConfig

__all__ = ["STUDY_B_ABLATIONS", "STUDY_B_MODELS", "StudyBConfig"]

#: The three networks study B compares (registry names of ``xrsr_lib.models``).
STUDY_B_MODELS = ("utsr", "swinir", "rrdbnet")
#: UTSR ablations: DCFFN replaced by a plain MLP, GMSA by single-size windows, no pre-training.
Ablation = Literal["dcffn_off", "gmsa_off", "finetune_only"]
STUDY_B_ABLATIONS: tuple[Ablation, ...] = ("dcffn_off", "gmsa_off", "finetune_only")


class StudyBConfig(Settings):
    """Study B (UTSR for nano-CT): simulated crack slices, the networks, their training, the scoring.

    The networks are compared after a two-stage training (see ``xrsr_lib.studies.study_b.methods``).
    """

    slice: CrackSliceConfig = Field(description="simulated nano-CT reference slices (simulate.nanoct)")
    scales: tuple[int, ...] = Field(default=(2, 4), description="SR factors; each gets its own models")
    blur_sigma_px: float = Field(default=1.0, ge=0, description="Gaussian blur before down-sampling, HR px")
    noise_std: float = Field(default=0.02, ge=0, description="white noise of the low-resolution images")
    n_train: int = Field(ge=1, description="training slices (split seed nanoct.SPLIT_SEEDS['train'])")
    n_val: int = Field(ge=1, description="validation slices (best-model selection during fine-tuning)")
    n_test: int = Field(ge=1, description="test slices, scored in notebook 12")
    natural_pairs: int = Field(ge=1, description="natural-image crops for pre-training")
    natural_seed: int = Field(default=0, ge=0, description="seed of the natural crops and their noise")
    models: dict[str, dict[str, Any]] = Field(
        description="architecture fields per network (utsr, swinir, rrdbnet); the scale is set per run"
    )
    pretrain: SRTrainingConfig = Field(description="stage 1: natural images")
    finetune: SRTrainingConfig = Field(description="stage 2: nano-CT train split (validated on val)")
    ablation_scale: int = Field(default=4, description="SR factor of the UTSR ablations")
    ablations: tuple[Ablation, ...] = Field(default=STUDY_B_ABLATIONS, description="UTSR ablations to train")
    segmentation: CrackSegmentationConfig = Field(
        default_factory=CrackSegmentationConfig, description="the crack segmentation applied to every image"
    )
    lpips_net: Literal["alex", "vgg"] = Field(default="alex", description="LPIPS backbone")
    flops_lr_px: int = Field(default=64, ge=8, description="low-resolution input side for FLOPs / MACs")
    example_crop_px: int = Field(default=96, ge=8, description="side of the example crops, HR pixels")

    @model_validator(mode="after")
    def _check(self) -> StudyBConfig:
        if not self.scales or len(set(self.scales)) != len(self.scales) or not set(self.scales) <= {2, 4}:
            raise ValueError(f"scales must be distinct values out of (2, 4), got {self.scales}")
        for s in self.scales:
            if self.slice.size % s:
                raise ValueError(f"slice size {self.slice.size} is not divisible by scale {s}")
            if self.finetune.patch > self.slice.size // s:
                raise ValueError(
                    f"finetune.patch {self.finetune.patch} exceeds the low-resolution size "
                    f"{self.slice.size // s} at scale {s}"
                )
        if self.ablations and self.ablation_scale not in self.scales:
            raise ValueError(f"ablation_scale {self.ablation_scale} is not one of scales {self.scales}")
        if set(self.models) != set(STUDY_B_MODELS):
            raise ValueError(f"models must configure exactly {STUDY_B_MODELS}, got {sorted(self.models)}")
        for name, fields in self.models.items():
            if "scale" in fields:
                raise ValueError(f"models[{name!r}] must not set 'scale' (set per run from scales)")
        if self.example_crop_px > self.slice.size:
            raise ValueError(f"example_crop_px {self.example_crop_px} exceeds slice size {self.slice.size}")
        if self.slice.size < 192:
            raise ValueError(
                f"slice size must be >= 192 (NIQE needs at least two 96-pixel blocks), got {self.slice.size}"
            )
        return self
