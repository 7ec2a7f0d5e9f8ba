"""Calibration of a model's trust map on held-out overlap slices, and the score maps it rests on.

:func:`calibrate_trust` runs on the slab of the HRES scan a training held out (the input there is
the LRES scan resampled onto the HRES grid, the reference the HRES scan): it computes the
identity prediction and the scores of :data:`SCORES` there (:func:`score_maps`), calibrates a
conformal interval rule for each (:func:`~xrsr_lib.evaluate.trust.conformal.calibrate`) and learns
the input domain of the slab's blocks (:class:`~xrsr_lib.evaluate.trust.domain.InputDomain`). The
record it returns is what :class:`xrsr_lib.Recovery` keeps as ``trust.json`` beside the model;
:class:`~xrsr_lib.evaluate.trust.maps.BlockTrust` applies it.

Scores (non-negative, grey units of the prediction):

- ``"tta"``: the standard deviation of the prediction over :data:`TTA_TRANSFORMS` in-plane
  symmetries (:func:`~xrsr_lib.evaluate.trust.signals.tta_spread`), Gaussian-smoothed with
  σ = :data:`TTA_SMOOTH_VOXELS` voxels;
- ``"consistency"``: the disagreement of the blurred prediction with the input
  (:func:`~xrsr_lib.evaluate.trust.signals.data_consistency`, blur σ fitted on the calibration slab,
  window σ = :data:`CONSISTENCY_SMOOTH_VOXELS` voxels).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from xrsr_lib.config.trust import DomainConfig, TrustConfig
from xrsr_lib.evaluate.trust.conformal import calibrate, empirical_coverage
from xrsr_lib.evaluate.trust.domain import InputDomain, block_features
from xrsr_lib.evaluate.trust.signals import data_consistency, local_mean, tta_spread

__all__ = [
    "CONSISTENCY_SMOOTH_VOXELS",
    "DOMAIN_BLOCK",
    "DOMAIN_LEVEL",
    "MEANING",
    "SCORES",
    "TTA_SMOOTH_VOXELS",
    "TTA_TRANSFORMS",
    "Predict",
    "calibrate_trust",
    "context_voxels",
    "score_maps",
]

log = logging.getLogger(__name__)

_DEFAULTS = TrustConfig()  # one set of defaults for the study's trust maps and one's own scans
#: In-plane symmetries of the test-time augmentation (all eight: turns and flips of a slice).
TTA_TRANSFORMS = _DEFAULTS.tta_transforms
#: σ of the Gaussian local mean of the TTA spread, voxels of the prediction grid.
TTA_SMOOTH_VOXELS = _DEFAULTS.smooth_voxels
#: σ of the window of the data-consistency score, voxels of the prediction grid.
CONSISTENCY_SMOOTH_VOXELS = _DEFAULTS.consistency_smooth_voxels
#: Edge of the blocks whose input statistics define the input domain, voxels (smaller when the slab is).
DOMAIN_BLOCK = _DEFAULTS.domain_block
#: Conformal level of the input-domain threshold (with fewer than 99 calibration blocks, the
#: threshold is the largest calibration distance: :meth:`InputDomain.fit`).
DOMAIN_LEVEL = _DEFAULTS.domain_level
#: The scores a calibration records; the first is the default.
SCORES = ("tta", "consistency")
#: What a trust image holds (recorded with it).
MEANING = (
    "half-width of an interval around the prediction that holds the high-resolution value with "
    "the stated coverage (calibrated on held-out overlap slices; valid where the input looks like "
    "the calibration blocks)"
)

Predict = Callable[[np.ndarray], np.ndarray]


def _radius(sigma: float) -> int:
    """Reach of scipy's Gaussian filter of σ voxels (``truncate=4``), voxels."""
    return int(4.0 * float(sigma) + 0.5) if sigma > 0 else 0


class _FirstCall:
    """A predictor that keeps the output of its first call (the identity transform of ``tta_spread``)."""

    def __init__(self, predict: Predict):
        self.predict = predict
        self.first: np.ndarray | None = None

    def __call__(self, volume: np.ndarray) -> np.ndarray:
        y = np.asarray(self.predict(volume))
        if self.first is None:
            self.first = y
        return y


def score_maps(
    predict: Predict,
    x: np.ndarray,
    scores: Sequence[str] = SCORES,
    blur_sigma_voxels: float = 0.0,
    n_transforms: int = TTA_TRANSFORMS,
    smooth_voxels: float = TTA_SMOOTH_VOXELS,
    consistency_smooth_voxels: float = CONSISTENCY_SMOOTH_VOXELS,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Return the prediction of ``x`` and trust scores on the same grid.

    Parameters
    ----------
    predict : callable
        Input volume (z, y, x) -> prediction on the same grid.
    x : ndarray (z, y, x)
        The input on the prediction grid.
    scores : sequence of {"tta", "consistency"}
    blur_sigma_voxels : float
        σ (voxels) of the blur mapping the HRES image to the input (for ``"consistency"``).
    n_transforms, smooth_voxels, consistency_smooth_voxels
        See :data:`TTA_TRANSFORMS`, :data:`TTA_SMOOTH_VOXELS`, :data:`CONSISTENCY_SMOOTH_VOXELS`.

    Returns
    -------
    prediction : ndarray (z, y, x), float32
        ``predict(x)`` (the identity transform's output when ``"tta"`` is asked: not recomputed).
    maps : dict of str to ndarray (z, y, x), float32
        Each requested score, grey units.
    """
    unknown = set(scores) - set(SCORES)
    if unknown:
        raise ValueError(f"unknown trust scores {sorted(unknown)}; choose from {', '.join(SCORES)}")
    maps: dict[str, np.ndarray] = {}
    if "tta" in scores:
        first = _FirstCall(predict)
        maps["tta"] = local_mean(tta_spread(first, x, n_transforms)[1], smooth_voxels)
        assert first.first is not None
        p = first.first.astype(np.float32, copy=False)
    else:
        p = np.asarray(predict(x), np.float32)
    if "consistency" in scores:
        maps["consistency"] = data_consistency(p, x, blur_sigma_voxels, consistency_smooth_voxels)
    return p, maps


def context_voxels(trust: dict[str, Any]) -> int:
    """Context, voxels per side beyond the network's, for a block's score to equal a whole-volume one."""
    if trust["score"] == "tta":
        return _radius(trust["smooth_voxels"])
    return _radius(trust["blur_sigma_voxels"]) + _radius(trust["consistency_smooth_voxels"])


def _fit_domain(
    x: np.ndarray, mask: np.ndarray, config: DomainConfig
) -> tuple[InputDomain | None, int | None]:
    """Fit the input domain of a slab's blocks; return it and the block edge used, voxels.

    The blocks have edge :data:`DOMAIN_BLOCK`, down to 4 voxels until there are enough blocks for
    the features (``len(features) + 2``, at least 4), and overlap by the config's
    ``calibration_overlap``.
    """
    start = min(DOMAIN_BLOCK, *x.shape)
    need = max(4, len(config.features) + 2)
    for block in sorted({b for b in (start, 8, 4) if 4 <= b <= start}, reverse=True):
        stride = max(1, round(block * (1 - config.calibration_overlap)))
        feats = block_features(x, block, mask=mask, features=config.features, config=config, stride=stride)[0]
        if len(feats) >= need:
            break
    else:
        log.warning(
            "the calibration slab %s holds fewer than %d blocks of 4 voxels: no input domain stored",
            x.shape,
            need,
        )
        return None, None
    return InputDomain.fit(feats, DOMAIN_LEVEL, config.leave_one_out, config.features, log_scale=True), block


def calibrate_trust(
    predict: Predict,
    x: np.ndarray,
    y: np.ndarray,
    mask: np.ndarray,
    slab: tuple[int, int],
    coverage: float = 0.9,
    context: int = 0,
    score: str = "tta",
    domain: DomainConfig | None = None,
) -> dict[str, Any]:
    """Calibrate trust intervals on a held-out slab where the reference is known.

    Parameters
    ----------
    predict : callable
        Input volume (z, y, x) -> prediction on the same grid (e.g. ``LoadedModel.predict``).
    x, y : ndarray (z, y, x)
        Input (the LRES scan on the HRES grid) and reference (the HRES scan), one grid.
    mask : ndarray of bool (z, y, x)
        Voxels that are data (inside the LRES volume and the loss mask).
    slab : (z0, z1)
        The held-out slices (never in the loss).
    coverage : float
        Nominal coverage of the intervals, in (0, 1).
    context : int
        Slices of input the network needs beyond the slab (its z-halo); the scores' own smoothing
        reach is added.
    score : {"tta", "consistency"}
        The score a trust map uses by default.
    domain : DomainConfig, optional
        The block features and verdict rule of the input domain (default :class:`DomainConfig`).

    Returns
    -------
    dict
        ``score``, ``coverage``, ``tta_transforms``, ``smooth_voxels``, ``consistency_smooth_voxels``,
        ``blur_sigma_voxels`` (σ of the HRES -> LRES blur, voxels), ``rules`` (a
        :class:`ConformalInterval` dict per score), ``domain`` (an :class:`InputDomain` dict, or None),
        ``domain_block`` (voxels) and ``domain_config`` (the :class:`DomainConfig`), ``calibration``
        (``slices``, ``voxels``, ``coverage_check``: the empirical coverage of each rule on the slab),
        ``meaning``.

    Raises
    ------
    ValueError
        Bad slab, too few calibration voxels for the coverage, unknown score.
    """
    from xrsr_lib.evaluate.resolution import gaussian_fit

    if score not in SCORES:
        raise ValueError(f"unknown trust score {score!r}; choose from {', '.join(SCORES)}")
    nz = x.shape[0]
    z0, z1 = (int(v) for v in slab)
    if not 0 <= z0 < z1 <= nz:
        raise ValueError(f"calibration slab {z0}:{z1} lies outside the volume (0:{nz})")
    m = np.asarray(mask, bool)[z0:z1]
    if not m.any():
        raise ValueError(f"the calibration slab {z0}:{z1} holds no voxel inside the mask")
    xs, ys = x[z0:z1], y[z0:z1]
    sigma = float(gaussian_fit({"lres": xs}, ys, mask=m).refined_sigma["lres"])
    record: dict[str, Any] = {
        "score": score,
        "coverage": float(coverage),
        "tta_transforms": TTA_TRANSFORMS,
        "smooth_voxels": TTA_SMOOTH_VOXELS,
        "blur_sigma_voxels": sigma,
        "consistency_smooth_voxels": CONSISTENCY_SMOOTH_VOXELS,
    }
    reach = int(context) + max(context_voxels({**record, "score": s}) for s in SCORES)
    a, b = max(z0 - reach, 0), min(z1 + reach, nz)
    p, maps = score_maps(predict, x[a:b], SCORES, sigma)
    inner = slice(z0 - a, z1 - a)
    err = np.abs(p[inner] - ys)
    rules, check = {}, {}
    for name in SCORES:
        s = maps[name][inner]
        rule = calibrate(s, err, coverage, mask=m)
        if not math.isfinite(rule.quantile):
            raise ValueError(
                f"{rule.n_calibration} calibration voxels are too few for a coverage of {coverage}"
            )
        rules[name] = rule.to_dict()
        check[name] = empirical_coverage(rule.halfwidth(s), err, m)
    dcfg = domain or DomainConfig()
    dom, block = _fit_domain(xs, m, dcfg)
    record.update(
        rules=rules,
        domain=None if dom is None else dom.to_dict(),
        domain_block=block,
        domain_config=dcfg.model_dump(mode="json"),
        calibration={"slices": [z0, z1], "voxels": int(m.sum()), "coverage_check": check},
        meaning=MEANING,
    )
    log.info(
        "trust calibrated on slices %d:%d (%d voxels): coverage %s at nominal %g",
        z0,
        z1,
        int(m.sum()),
        {k: round(v, 3) for k, v in check.items()},
        coverage,
    )
    return record
