"""Settings of study A's methods, its held-out slab, Richardson-Lucy and the 2-D SR training.

:class:`MethodsConfig` holds the compared methods.

The volume networks' settings (architecture, training, inference) are in
:mod:`~xrsr_lib.config.networks`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from xrsr_lib.config.base import Settings
from xrsr_lib.config.networks import DeepNetSettings, SRCNNSettings

__all__ = [
    "DeconvConfig",
    "HeldOutConfig",
    "MethodsConfig",
    "SRTrainingConfig",
]


class DeconvConfig(Settings):
    """Richardson-Lucy (kernel = the degrading Gaussian) and the NLM step applied to its results."""

    iterations: int = Field(default=30, ge=1)
    nlm_patch_size: int = Field(default=5, ge=1)
    nlm_patch_distance: int = Field(default=6, ge=1)
    nlm_h_factor: float = Field(default=0.8, gt=0)
    nlm_sigma: float | None = Field(
        default=0.1, ge=0, description="noise level of RL results (material units); None: estimate"
    )
    boundary: Literal["reflect", "zero"] = Field(
        default="reflect",
        description="values beyond the volume's faces during RL: 'reflect' (mirrored, what a practitioner "
        "uses: no bright frame) or 'zero' (scikit-image's richardson_lucy)",
    )


class HeldOutConfig(Settings):
    """The slab of the training realization that no network trains on.

    The top ``fraction`` of its slices is the validation set of the stopping rule (every network
    alike) and the calibration set of the trust maps; ``gap_voxels`` slices below it are used by
    neither, so no training target lies next to a held-out one.
    """

    fraction: float = Field(default=0.125, gt=0, lt=0.5, description="top z-fraction held out")
    gap_voxels: int = Field(default=4, ge=0, description="slices between the training and held-out slabs")

    def slabs(self, n_slices: int) -> tuple[int, int]:
        """Return ``(train_end, held_out_start)`` of a volume of ``n_slices`` slices.

        The training slices are ``[0, train_end)``, the held-out ones ``[held_out_start, n_slices)``.

        Raises
        ------
        ValueError
            If fewer than half of the slices would remain to train on.
        """
        start = n_slices - max(4, int(round(self.fraction * n_slices)))
        end = start - self.gap_voxels
        if end < n_slices // 2:
            raise ValueError(
                f"held_out: fraction {self.fraction} and gap_voxels {self.gap_voxels} leave "
                f"{end} of {n_slices} slices to train on"
            )
        return end, start


class MethodsConfig(Settings):
    """The compared methods of study A: the two networks and Richardson-Lucy."""

    deepnet: DeepNetSettings
    srcnn: SRCNNSettings
    rl: DeconvConfig = DeconvConfig()


class SRTrainingConfig(Settings):
    """Settings of one SR training stage (immutable, validated)."""

    _key_aliases = {
        "learning_rate": "lr",
        "learning_rate_schedule": "lr_schedule",
        "learning_rate_min_factor": "lr_min_factor",
    }

    iterations: int = Field(default=20_000, ge=1, description="optimizer steps (one batch each)")
    batch_size: int = Field(default=16, ge=1, description="patch pairs per batch")
    patch: int = Field(
        default=48, ge=1, description="side of the low-resolution training patch, pixels (high-res: s·patch)"
    )
    learning_rate: float = Field(default=2e-4, gt=0, le=1, description="peak Adam learning rate")
    learning_rate_schedule: Literal["cosine", "none"] = Field(
        default="cosine",
        description="cosine decay from learning_rate to learning_rate·learning_rate_min_factor, or constant",
    )
    learning_rate_min_factor: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="final learning rate of the cosine schedule, fraction of learning_rate",
    )
    adam_betas: tuple[float, float] = Field(default=(0.9, 0.999), description="Adam (β1, β2)")
    edge_weight: float = Field(default=0.1, ge=0, description="weight λ of the Sobel edge term of the loss")
    grad_clip: float | None = Field(
        default=None, gt=0, description="clip the global gradient norm to this value; None = no clipping"
    )
    checkpoint_every: int = Field(
        default=500, ge=1, description="write checkpoint.pt every this many iterations"
    )
    seed: int = Field(
        default=0, ge=0, description="seed of the initialization, patch sampling and augmentation"
    )
    augment_flips: bool = Field(default=True, description="random left-right flip of each patch pair")
    augment_rot90: bool = Field(default=True, description="random rotation by k·90° of each patch pair")
    validate_every: int | None = Field(
        default=None,
        ge=1,
        description="score the validation pairs (loss and PSNR of whole images) every this many iterations "
        "and at the end; None = no validation (then the final weights are kept)",
    )
    keep_best: bool = Field(
        default=True,
        description="with validation: keep the best weights (best_metric), not the last",
    )
    best_metric: Literal["loss", "psnr"] = Field(
        default="loss",
        description="validation score that picks the best weights: the training objective (L1 + λ·edge, "
        "lowest) or PSNR (highest); the two disagree where L1's median-like optimum is not MSE's mean",
    )
