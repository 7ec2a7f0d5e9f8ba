"""Typed settings with presets: simulation, training, evaluation, study B and the run profiles.

Every setting is a frozen pydantic model (:class:`~xrsr_lib.config.base.Settings`) whose fields
carry units and descriptions; a misspelt field or an invalid value is an error at construction.
The three run profiles (``smoke``, ``cpu``, ``paper``) share one code path and differ only in size
(:mod:`~xrsr_lib.config.profiles`); :func:`preset` gives the settings of one method at one
profile's size (architecture, training, inference: :mod:`~xrsr_lib.config.networks`), for training
on one's own volumes.

Examples
--------
>>> from xrsr_lib.config import load_profile, preset
>>> load_profile("smoke").volume.n_voxels
64
>>> preset("deepnet", "smoke").training.iterations
30
"""

from xrsr_lib.config.base import Settings
from xrsr_lib.config.evaluation import EvaluationConfig
from xrsr_lib.config.multiscale import MultiscaleConfig, MultiscaleSampleConfig, ScanConfig
from xrsr_lib.config.nanoct import CrackSegmentationConfig, CrackSliceConfig
from xrsr_lib.config.networks import (
    LOSS_MASKS,
    METHODS,
    DeepNetSettings,
    DeepNetTraining,
    InferenceTiling,
    LossMask,
    SRCNNSettings,
    SRCNNTraining,
    VolumeSettings,
    VolumeTraining,
    recorded_settings,
    settings_class,
)
from xrsr_lib.config.pores import PoreAnalysisConfig
from xrsr_lib.config.presets import PRESET_NAMES, preset
from xrsr_lib.config.profiles import PROFILE_NAMES, Profile, load_profile, profiles
from xrsr_lib.config.simulation import CTConfig, DegradeConfig, PhantomConfig, PoreSizeConfig, VolumeConfig
from xrsr_lib.config.study_b import STUDY_B_ABLATIONS, STUDY_B_MODELS, StudyBConfig
from xrsr_lib.config.training import DeconvConfig, HeldOutConfig, MethodsConfig, SRTrainingConfig
from xrsr_lib.config.trust import DOMAIN_FEATURES, LEVEL_FEATURES, TRUST_SIGNALS, DomainConfig, TrustConfig

__all__ = [
    "DOMAIN_FEATURES",
    "LEVEL_FEATURES",
    "TRUST_SIGNALS",
    "DomainConfig",
    "TrustConfig",
    "HeldOutConfig",
    "LOSS_MASKS",
    "METHODS",
    "PRESET_NAMES",
    "PROFILE_NAMES",
    "STUDY_B_ABLATIONS",
    "STUDY_B_MODELS",
    "CTConfig",
    "CrackSegmentationConfig",
    "CrackSliceConfig",
    "DeconvConfig",
    "DeepNetSettings",
    "DeepNetTraining",
    "InferenceTiling",
    "DegradeConfig",
    "EvaluationConfig",
    "LossMask",
    "MethodsConfig",
    "MultiscaleConfig",
    "MultiscaleSampleConfig",
    "PhantomConfig",
    "PoreAnalysisConfig",
    "PoreSizeConfig",
    "Profile",
    "SRCNNSettings",
    "SRCNNTraining",
    "SRTrainingConfig",
    "ScanConfig",
    "Settings",
    "StudyBConfig",
    "VolumeConfig",
    "VolumeSettings",
    "VolumeTraining",
    "load_profile",
    "preset",
    "profiles",
    "recorded_settings",
    "settings_class",
]
