"""Trust maps: where a recovered volume can be trusted, without its ground truth.

- :mod:`~xrsr_lib.evaluate.trust.signals`: per-voxel signals (test-time augmentation spread,
  ensemble spread, consistency with the measured input);
- :mod:`~xrsr_lib.evaluate.trust.conformal`: conformal calibration of a signal into intervals with a
  stated coverage, and per-pore "doubtful" flags;
- :mod:`~xrsr_lib.evaluate.trust.domain`: blocks of the target unlike the calibration blocks, and
  the verdict on a whole volume (features of :mod:`~xrsr_lib.evaluate.trust.features`: grey level,
  resolution, noise);
- :mod:`~xrsr_lib.evaluate.trust.scores`: how well a signal finds the errors where the truth is known;
- :mod:`~xrsr_lib.evaluate.trust.calibration`: calibration of a trained model on held-out overlap
  slices (``trust.json``);
- :mod:`~xrsr_lib.evaluate.trust.maps`: its trust map, block by block or for a volume in memory.
"""

from xrsr_lib.evaluate.trust.calibration import calibrate_trust, score_maps
from xrsr_lib.evaluate.trust.conformal import ConformalInterval, calibrate, empirical_coverage, pore_flags
from xrsr_lib.evaluate.trust.domain import DomainVerdict, InputDomain, block_features
from xrsr_lib.evaluate.trust.maps import BlockTrust, TrustedPrediction
from xrsr_lib.evaluate.trust.scores import auroc, hallucinated_pores, precision_recall, spearman
from xrsr_lib.evaluate.trust.signals import (
    DIHEDRAL_YX,
    data_consistency,
    ensemble_spread,
    invert_yx,
    local_mean,
    transform_yx,
    tta_spread,
)

__all__ = [
    "DIHEDRAL_YX",
    "BlockTrust",
    "ConformalInterval",
    "DomainVerdict",
    "InputDomain",
    "TrustedPrediction",
    "auroc",
    "block_features",
    "calibrate",
    "calibrate_trust",
    "data_consistency",
    "empirical_coverage",
    "ensemble_spread",
    "hallucinated_pores",
    "invert_yx",
    "local_mean",
    "pore_flags",
    "precision_recall",
    "score_maps",
    "spearman",
    "transform_yx",
    "tta_spread",
]
