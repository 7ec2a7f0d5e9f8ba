"""Trust maps of a trained model: calibrated on held-out overlap slices, computed block by block.

:func:`calibrate_trust` runs on the slab of the HRES scan a training held out (the input there is
the LRES scan resampled onto the HRES grid, the reference the HRES scan): it computes the
identity prediction and the scores of :data:`SCORES` there, calibrates a conformal interval rule
for each (:func:`~xrsr_lib.evaluate.trust.conformal.calibrate`) and learns the input domain of the
slab's blocks (:class:`~xrsr_lib.evaluate.trust.domain.InputDomain`). The record it returns is
what :class:`xrsr_lib.Recovery` keeps as ``trust.json`` beside the model.

:class:`BlockTrust` applies such a record to one block of out-of-core prediction
(:func:`xrsr_lib.infer.chunked.predict_to_zarr` calls it, knowing nothing of this module): the
prediction (the identity transform's output), the interval half-width per voxel and the block's
input-domain state (its sub-blocks out of domain, their features); from the states of all blocks it
judges the whole volume (:meth:`BlockTrust.summarize`: a
:class:`~xrsr_lib.evaluate.trust.domain.DomainVerdict`). :meth:`BlockTrust.whole` does the same for
a volume in memory. It pickles to its record, so dask workers rebuild it.

The input domain of a record is described by the block features of its ``domain_config``
(:class:`~xrsr_lib.config.trust.DomainConfig`: grey level, resolution and noise); a record written
before it has none and keeps the grey-level three.

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
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from xrsr_lib.config.trust import LEVEL_FEATURES, DomainConfig, TrustConfig
from xrsr_lib.evaluate.trust.conformal import ConformalInterval, calibrate, empirical_coverage
from xrsr_lib.evaluate.trust.domain import DomainVerdict, InputDomain, block_features
from xrsr_lib.evaluate.trust.signals import data_consistency, local_mean, tta_spread

log = logging.getLogger(__name__)

__all__ = [
    "CONSISTENCY_SMOOTH_VOXELS",
    "DOMAIN_BLOCK",
    "DOMAIN_LEVEL",
    "MEANING",
    "SCORES",
    "TTA_SMOOTH_VOXELS",
    "TTA_TRANSFORMS",
    "BlockTrust",
    "TrustedPrediction",
    "calibrate_trust",
    "context_voxels",
    "score_maps",
]

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


@dataclass(frozen=True, eq=False)
class TrustedPrediction:
    """A prediction in memory and its trust map (:meth:`BlockTrust.whole`, ``Recovery.predict(trust=True)``).

    Attributes
    ----------
    prediction : ndarray (z, y, x), float32
        The recovered volume (the plain prediction).
    halfwidth : ndarray (z, y, x), float32
        Per voxel, the half-width (grey units) of the interval around ``prediction`` that holds the
        high-resolution value with probability ``coverage`` where the input is like the calibration.
    score : str
        The score the intervals scale (``"tta"`` or ``"consistency"``).
    coverage : float
        Nominal coverage of the intervals.
    verdict : DomainVerdict or None
        Is the input like the calibration (None: no input domain, or the volume is smaller than
        one domain block)?
    block_origins : ndarray (n, 3) of int
        First voxel of each domain block of the input.
    out_of_domain : ndarray (n,) of bool
        Which of those blocks are unlike the calibration blocks.
    block : int or None
        Edge of the domain blocks, voxels.
    """

    prediction: np.ndarray
    halfwidth: np.ndarray
    score: str
    coverage: float
    verdict: DomainVerdict | None
    block_origins: np.ndarray
    out_of_domain: np.ndarray
    block: int | None

    @property
    def lower(self) -> np.ndarray:
        """Lower interval bound per voxel, grey units of the prediction."""
        return self.prediction - self.halfwidth

    @property
    def upper(self) -> np.ndarray:
        """Upper interval bound per voxel, grey units of the prediction."""
        return self.prediction + self.halfwidth

    def out_of_domain_map(self) -> np.ndarray:
        """Per voxel: True inside a domain block unlike the calibration (voxels of no block: False)."""
        out = np.zeros(self.prediction.shape, bool)
        for (z, y, x), flag in zip(self.block_origins, self.out_of_domain, strict=True):
            if flag and self.block is not None:
                out[z : z + self.block, y : y + self.block, x : x + self.block] = True
        return out

    def summary(self) -> dict[str, Any]:
        """``score``, ``coverage``, ``out_of_domain_fraction`` (None without blocks), ``verdict`` (dict)."""
        n = len(self.out_of_domain)
        return {
            "score": self.score,
            "coverage": self.coverage,
            "out_of_domain_fraction": float(self.out_of_domain.mean()) if n else None,
            "verdict": None if self.verdict is None else self.verdict.to_dict(),
        }


@dataclass(frozen=True, eq=False)
class BlockTrust:
    """A calibration record (:func:`calibrate_trust`) applied to blocks of a prediction.

    Attributes
    ----------
    record : dict
        The calibration (``trust.json``).
    score : str, optional
        The score to use (default the record's ``score``).
    """

    record: dict[str, Any]
    score: str | None = None

    def __post_init__(self) -> None:
        """Resolve ``score`` (default the record's) and check that the record has a rule for it."""
        name = self.score or self.record.get("score")
        if name not in self.record.get("rules", {}):
            raise ValueError(
                f"the trust record has no rule for the score {name!r} "
                f"(has {sorted(self.record.get('rules', {}))})"
            )
        object.__setattr__(self, "score", name)

    @property
    def rule(self) -> ConformalInterval:
        """The record's interval rule of :attr:`score`."""
        return ConformalInterval.from_dict(self.record["rules"][self.score])

    def context(self) -> int:
        """Context, voxels per side, the score needs beyond the network's halo."""
        return context_voxels({**self.record, "score": self.score})

    def key(self) -> dict[str, Any]:
        """Return what makes two trust maps the same (part of a prediction job's key)."""
        return {
            "kind": f"{type(self).__module__}.{type(self).__qualname__}",
            "score": self.score,
            "record": self.record,
        }

    def attrs(self) -> dict[str, Any]:
        """Return what a trust image records about itself."""
        return {
            "kind": "trust",
            "score": self.score,
            "coverage": self.rule.coverage,
            "meaning": MEANING,
            "calibration": self.record.get("calibration"),
        }

    @property
    def domain(self) -> InputDomain | None:
        """The calibration's input domain (None when the slab was too small for one)."""
        dom = self.record.get("domain")
        return None if dom is None else InputDomain.from_dict(dom)

    @property
    def domain_config(self) -> DomainConfig:
        """The record's :class:`DomainConfig` (a record without one: the grey-level features)."""
        d = self.record.get("domain_config")
        return DomainConfig(**d) if d is not None else DomainConfig(features=LEVEL_FEATURES)

    def features(self, x: np.ndarray) -> np.ndarray:
        """Domain features of the blocks of ``x`` (edge ``domain_block``), shape (n, d); (0, d) if none."""
        dom, block = self.domain, self.record.get("domain_block")
        if dom is None or block is None or min(x.shape) < int(block):
            return np.zeros((0, 0 if dom is None else len(dom.features)))
        return block_features(x, int(block), features=dom.features, config=self.domain_config)[0]

    def out_of_domain(self, x: np.ndarray) -> tuple[int, int]:
        """Blocks of ``x`` (the record's ``domain_block``) out of the calibration domain, and blocks seen."""
        return self._state(self.features(x))["out_of_domain"]

    def _state(self, feats: np.ndarray) -> dict[str, Any]:
        dom = self.domain
        if dom is None or len(feats) == 0:
            return {"out_of_domain": (0, 0), "features": []}
        flags = dom.out_of_domain(feats)
        rows = [[None if not np.isfinite(v) else float(v) for v in r] for r in feats]
        return {"out_of_domain": (int(flags.sum()), len(feats)), "features": rows}

    def summarize(self, states: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Return the per-volume verdict from the states of all blocks (``__call__``'s third value).

        Returns
        -------
        dict
            ``{"verdict": DomainVerdict.to_dict()}``; the verdict is None without an input domain
            or without a whole domain block.
        """
        dom = self.domain
        rows = [r for s in states for r in s.get("features", [])]
        if dom is None or not rows:
            return {"verdict": None}
        feats = np.asarray([[np.nan if v is None else v for v in r] for r in rows], np.float64)
        return {"verdict": dom.verdict(feats, self.domain_config).to_dict()}

    def whole(self, predict: Predict, x: np.ndarray) -> TrustedPrediction:
        """Return the prediction, half-widths and domain verdict of a whole volume in memory.

        ``x`` is on the prediction grid; its edges use the nearest voxels as context.
        """
        p, maps = self._maps(predict, x)
        feats = self.features(x)
        dom, block = self.domain, self.record.get("domain_block")
        flags = np.zeros((0,), bool) if dom is None or len(feats) == 0 else dom.out_of_domain(feats)
        origins = (
            np.zeros((0, 3), int)
            if dom is None or len(feats) == 0
            else block_features(np.zeros(x.shape, np.float32), int(cast(int, block)))[1]
        )
        verdict = None if dom is None or len(feats) == 0 else dom.verdict(feats, self.domain_config)
        score = cast(str, self.score)  # set by __post_init__
        return TrustedPrediction(
            p,
            self.rule.halfwidth(maps[score]),
            score,
            self.rule.coverage,
            verdict,
            origins,
            flags,
            None if block is None else int(block),
        )

    def _maps(self, predict: Predict, x: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return score_maps(
            predict,
            x,
            (cast(str, self.score),),
            self.record["blur_sigma_voxels"],
            int(self.record["tta_transforms"]),
            float(self.record["smooth_voxels"]),
            float(self.record["consistency_smooth_voxels"]),
        )

    def __call__(
        self, predict: Predict, x: np.ndarray, inner: tuple[slice, ...]
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """One block: its prediction, interval half-widths (float32) and input-domain state.

        The state is ``{"out_of_domain": (flagged, seen), "features": [[...], ...]}``: the block's
        sub-blocks (edge ``domain_block``) out of domain and seen, and their features (None where
        not measured), which :meth:`summarize` turns into the volume's verdict.

        Parameters
        ----------
        predict : callable
            Input volume -> prediction on the same grid.
        x : ndarray (z, y, x)
            The block's input on the prediction grid, with context (:meth:`context` beyond the network's).
        inner : (slice, slice, slice)
            The block within ``x``.
        """
        p, maps = self._maps(predict, x)
        halfwidth = self.rule.halfwidth(maps[cast(str, self.score)][inner])
        return p[inner], halfwidth, self._state(self.features(x[inner]))
