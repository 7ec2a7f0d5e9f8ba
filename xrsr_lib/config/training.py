"""Training and inference settings of the networks, and the Richardson-Lucy settings."""

from __future__ import annotations

from typing import Any, ClassVar, Literal, get_args

from pydantic import Field, field_serializer

from xrsr_lib.config.base import Settings
from xrsr_lib.models.deepnet import DeepNetConfig
from xrsr_lib.models.srcnn import SRCNN3DConfig

__all__ = [
    "LOSS_MASKS",
    "DeconvConfig",
    "DeepNetTraining",
    "HeldOutConfig",
    "LossMask",
    "MethodsConfig",
    "SRCNNTraining",
    "SRTrainingConfig",
    "VolumeTraining",
]

#: Where the training loss is computed: inside the cone-beam field-of-view circle of every slice
#: (reconstructions, whose corners are not data) or everywhere (rectangular crops).
LossMask = Literal["fov_circle", "none"]
LOSS_MASKS: tuple[str, ...] = get_args(LossMask)  # the names, for option choices and messages


class VolumeTraining(Settings):
    """What the training of every volume network shares (DeepNet, SRCNN)."""

    _key_new_fields: ClassVar[tuple[str, ...]] = ("loss_mask", "patience", "keep_best", "precision")
    #: the inference tiling changes predictions, not the trained weights: model keys leave it out
    #: (predictions store :meth:`inference` in their keys instead)
    _key_excluded = ("inference_tile", "inference_overlap")

    iterations: int = Field(ge=1, description="Adam steps")
    batch_size: int = Field(ge=1, description="tiles or patches per step")
    learning_rate: float = Field(
        default=1e-3,
        gt=0,
        description="peak Adam learning rate, the same for every volume network (its history: CHANGELOG.md)",
    )
    inference_tile: int = Field(ge=4, description="inference tile side, voxels")
    inference_overlap: int = Field(ge=0, description="inference overlap per side, voxels")
    checkpoint_every: int = Field(default=100, ge=1, description="write checkpoint.pt every this many steps")
    learning_rate_schedule: Literal["cosine", "none"] = Field(
        default="cosine",
        description="cosine decay from learning_rate to learning_rate·learning_rate_min_factor over the "
        "iterations (the same rule for every volume network; the final weights are kept), or constant",
    )
    learning_rate_min_factor: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="final learning rate of the cosine schedule, fraction of learning_rate",
    )
    seed: int = Field(default=0, ge=0, description="seed of the initialization and of the batch sampling")
    validate_every: int = Field(
        default=50,
        ge=1,
        description="score the held-out data every this many steps and at the end (with held-out data)",
    )
    patience: int | None = Field(
        default=None,
        ge=1,
        description="stopping rule (with held-out data): end once this many validations in a row have not "
        "lowered the held-out loss; None runs every iteration",
    )
    keep_best: bool = Field(
        default=False,
        description="keep the weights of the lowest held-out loss (with held-out data), not the last",
    )
    precision: Literal["float32", "bfloat16"] = Field(
        default="float32",
        description="arithmetic of the training steps' forward pass: 'bfloat16' autocasts it (faster on "
        "CPUs with AMX or AVX-512 BF16 and on CUDA GPUs, slower on AVX2-only CPUs; the loss stays float32). "
        "Off by default: the weights then depend on the hardware",
    )
    loss_mask: LossMask = Field(
        default="fov_circle",
        description="'fov_circle': loss inside the circle a cone-beam scan reconstructs (each slice's "
        "inscribed circle); 'none': every voxel (rectangular crops of measured data)",
    )

    def inference(self) -> dict[str, int]:
        """The inference tiling as :meth:`~xrsr_lib.infer.loaded.LoadedModel.predict` takes it (voxels)."""
        return {"tile": self.inference_tile, "overlap": self.inference_overlap}

    @field_serializer("model", check_fields=False)
    def _architecture_fields(self, model: Any) -> dict[str, Any]:
        # the fields set explicitly, as the architecture dict the cache keys were made of
        return model.model_dump(exclude_unset=True)


class DeepNetTraining(VolumeTraining):
    """DeepNet (2.5D U-Net) architecture, training and inference settings (paper: 10,000 steps of 4
    tiles of 512², inference on 576² tiles overlapping by 32 px)."""

    _key_new_fields = (*VolumeTraining._key_new_fields, "validate_every")  # validates since held-out data

    model: DeepNetConfig = Field(default_factory=DeepNetConfig, description="the architecture")
    tile: int = Field(ge=8, description="training tile side, px (paper: 512)")
    inference_tile: int = Field(ge=8, description="inference tile side, px (paper: 576)")


class SRCNNTraining(VolumeTraining):
    """SRCNN 3D architecture, patch sampling, training and inference settings."""

    model: SRCNN3DConfig = Field(default_factory=SRCNN3DConfig, description="the architecture")
    patch: int = Field(ge=4, description="cubic patch side, voxels")
    stride: int = Field(ge=1, description="stride between patches, voxels")
    validation_fraction: float = Field(
        default=0.1,
        gt=0,
        lt=1,
        description="patches held out for validation when no held-out volume is given",
    )


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
        """``(train_end, held_out_start)``: training slices ``[0, train_end)``, held-out
        ``[held_out_start, n_slices)``.

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
    deepnet: DeepNetTraining
    srcnn: SRCNNTraining
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
