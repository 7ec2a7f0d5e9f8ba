"""Settings of the trust maps (see :mod:`xrsr_lib.evaluate.trust` and ``notebooks/16_trust_maps``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from xrsr_lib.config.base import Settings

__all__ = ["DOMAIN_FEATURES", "LEVEL_FEATURES", "TRUST_SIGNALS", "DomainConfig", "TrustConfig"]

#: The per-voxel signals, in the order tables show them.
TRUST_SIGNALS = ("tta", "ensemble", "consistency")
DomainFeature = Literal["mean", "std", "gradient", "hf_fraction", "noise", "edge_width"]

#: Block features of the input-domain check: grey level (the first three) and resolution / noise.
DOMAIN_FEATURES: tuple[DomainFeature, ...] = ("mean", "std", "gradient", "hf_fraction", "noise", "edge_width")
#: The level-only features (study A's domain check, and trust records written before the others).
LEVEL_FEATURES = DOMAIN_FEATURES[:3]


class DomainConfig(Settings):
    """How a calibration's input domain is described and a target volume judged against it.

    See :mod:`xrsr_lib.evaluate.trust.domain`; used by ``xrsr train --calibrate`` and
    ``xrsr predict --trust``.
    """

    features: tuple[DomainFeature, ...] = Field(
        default=DOMAIN_FEATURES,
        min_length=1,
        description="block features: mean, std, mean gradient magnitude (grey level); hf_fraction (power "
        "above hf_cutoff), noise (robust σ from the third-order difference), edge_width (σ of the strongest "
        "edges by re-blurring)",
    )
    hf_cutoff: float = Field(
        default=0.25, gt=0, lt=0.866, description="hf_fraction's frequency, cycles/voxel"
    )
    edge_reblur_voxels: float = Field(default=2.0, gt=0, description="σ₀ (voxels) of edge_width's re-blur")
    edge_strongest: float = Field(
        default=0.1, gt=0, le=1, description="fraction of a block's voxels (largest gradient) edge_width uses"
    )
    edge_min_snr: float = Field(
        default=10.0,
        ge=0,
        description="edge_width is not measured (no edge) in a block whose strongest "
        "re-blurred gradients (rms, noise removed) are below this many times its noise's",
    )
    calibration_overlap: float = Field(
        default=0.5,
        ge=0,
        lt=1,
        description="overlap of neighbouring calibration blocks, a fraction of the "
        "block edge: a thin calibration slab then gives ~8x more blocks to learn the domain from (they are "
        "correlated, so the chance rate of flags is approximate); the target's blocks never overlap",
    )
    leave_one_out: bool = Field(
        default=True,
        description="threshold on the calibration blocks' leave-one-out distances (each block "
        "judged by a domain fitted without it, as a new block is) instead of their in-sample ones",
    )
    verdict_alpha: float = Field(
        default=0.01,
        gt=0,
        lt=1,
        description="a volume is 'not like the calibration' when its flagged-block "
        "count is this improbable for exchangeable blocks (binomial tail at 1 - level) ...",
    )
    verdict_min_fraction: float = Field(
        default=0.05, ge=0, le=1, description="... and at least this fraction of its blocks are flagged"
    )
    moved_sd: float = Field(
        default=2.0,
        gt=0,
        description="a feature 'moved' when the target blocks' median lies this many "
        "calibration standard deviations from the calibration mean",
    )


class TrustConfig(Settings):
    """How study A's trust maps are made, calibrated and checked against the truth."""

    sigmas_um: tuple[float, ...] = Field(default=(3.0, 9.0), description="input blurs σ (µm) evaluated")
    methods: tuple[str, ...] = Field(default=("deepnet", "srcnn"), description="trained methods evaluated")
    score: Literal["tta", "ensemble", "consistency"] = Field(
        default="tta",
        description="the signal the trust map (intervals, pore flags) is calibrated on; TTA "
        "ranked the errors best on cpu (AUROC 0.85-0.88 in 3 of 4 cases) and needs one model",
    )
    coverage: float = Field(default=0.9, gt=0, lt=1, description="nominal coverage of the intervals")
    ensemble_size: int = Field(
        default=2,
        ge=1,
        le=16,
        description="models per (method, σ): the study's (seed 0) and seeds 1..K-1, "
        "the seed spread's models; 1 leaves the ensemble signal out",
    )
    tta_transforms: int = Field(default=8, ge=2, le=8, description="in-plane symmetries of the TTA spread")
    smooth_voxels: float = Field(default=1.0, ge=0, description="σ (voxels) of the local mean of each signal")
    consistency_smooth_voxels: float = Field(
        default=2.0, ge=0, description="σ (voxels) of the local mean square of the data-consistency residual"
    )
    worst_fraction: float = Field(default=0.1, gt=0, lt=1, description="worst |error| voxels for the AUROC")
    doubtful_fraction: float = Field(
        default=0.5,
        ge=0,
        lt=1,
        description="a pore is doubtful when this fraction of its voxels' intervals "
        "reaches the matrix side of the threshold",
    )
    hallucination_overlap: float = Field(
        default=0.1,
        ge=0,
        lt=1,
        description="a result pore overlapping truth pores by at most this fraction "
        "of its voxels is hallucinated (and a truth pore likewise missed)",
    )
    domain_block: int = Field(default=16, ge=4, description="block edge (voxels) of the input-domain check")
    domain_level: float = Field(default=0.99, gt=0, lt=1, description="calibration quantile of the domain")

    @model_validator(mode="after")
    def _score_computed(self) -> TrustConfig:
        if self.score == "ensemble" and self.ensemble_size < 2:
            raise ValueError("trust.score 'ensemble' needs ensemble_size >= 2")
        return self
