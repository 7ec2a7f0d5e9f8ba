"""A run profile's settings: everything that defines one run of the study (:class:`Profile`)."""

from __future__ import annotations

import math

from pydantic import Field, field_validator, model_validator

from xrsr_lib.config.base import Settings
from xrsr_lib.config.evaluation import EvaluationConfig
from xrsr_lib.config.multiscale import MultiscaleConfig
from xrsr_lib.config.simulation import CTConfig, DegradeConfig, PhantomConfig, VolumeConfig
from xrsr_lib.config.study_b import StudyBConfig
from xrsr_lib.config.training import HeldOutConfig, MethodsConfig
from xrsr_lib.config.trust import TrustConfig

__all__ = ["Profile"]


class Profile(Settings):
    """Everything that defines one run of the study."""

    name: str
    volume: VolumeConfig
    phantom: PhantomConfig
    ct: CTConfig
    degrade: DegradeConfig
    realizations: dict[str, int] = Field(description="realization name -> phantom seed")
    methods: MethodsConfig
    training_realization: str = "train"
    held_out: HeldOutConfig = Field(
        default=HeldOutConfig(),
        description="the training realization's slab no network trains on: "
        "validation of the stopping rule and calibration of the trust maps",
    )
    evaluation: EvaluationConfig = EvaluationConfig()
    study_b: StudyBConfig
    multiscale: MultiscaleConfig | None = None
    trust: TrustConfig = TrustConfig()

    @field_validator("realizations")
    @classmethod
    def _two_distinct(cls, v: dict[str, int]) -> dict[str, int]:
        if not v:
            raise ValueError("at least one realization is required")
        if len(set(v.values())) != len(v):
            raise ValueError(f"realization seeds must differ, got {v}")
        for name, seed in v.items():
            if seed < 0:
                raise ValueError(f"realization {name!r} has a negative seed {seed}")
        return v

    @model_validator(mode="after")
    def _fits(self) -> Profile:
        if self.training_realization not in self.realizations:
            raise ValueError(f"training_realization {self.training_realization!r} is not a realization")
        if self.evaluation.realization not in self.realizations:
            raise ValueError(f"evaluation.realization {self.evaluation.realization!r} is not a realization")
        for name in ("msssim_sigmas_um", "seed_sigmas_um"):
            unknown = set(getattr(self.evaluation, name)) - set(self.degrade.lres_sigmas_um)
            if unknown:
                raise ValueError(f"evaluation.{name} {sorted(unknown)} are not low-resolution levels")
        half = self.volume.half_height_um
        if self.phantom.cylinder_radius_um > half:
            raise ValueError(
                f"cylinder_radius_um={self.phantom.cylinder_radius_um} does not fit the volume "
                f"(half width {half} µm)"
            )
        if self.ct.source_origin_um <= half * math.sqrt(2.0):
            raise ValueError("source_origin_um must lie outside the volume's circumscribed circle")
        return self
