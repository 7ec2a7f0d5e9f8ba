"""Trust maps of a trained model, computed block by block from a calibration record.

:class:`BlockTrust` applies a record of :func:`~xrsr_lib.evaluate.trust.calibration.calibrate_trust`
to one block of out-of-core prediction (:func:`xrsr_lib.infer.chunked.predict_to_zarr` calls it,
knowing nothing of this module): the prediction (the identity transform's output), the interval
half-width per voxel and the block's input-domain state (its sub-blocks out of domain, their
features); from the states of all blocks it judges the whole volume (:meth:`BlockTrust.summarize`:
a :class:`~xrsr_lib.evaluate.trust.domain.DomainVerdict`). :meth:`BlockTrust.whole` does the same
for a volume in memory (a :class:`TrustedPrediction`). It pickles to its record, so dask workers
rebuild it.

The input domain of a record is described by the block features of its ``domain_config``
(:class:`~xrsr_lib.config.trust.DomainConfig`: grey level, resolution and noise); a record written
before it has none and keeps the grey-level three. The calibration and its constants
(:data:`~xrsr_lib.evaluate.trust.calibration.SCORES` ...) are in
:mod:`~xrsr_lib.evaluate.trust.calibration` and importable from here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from xrsr_lib.config.trust import LEVEL_FEATURES, DomainConfig
from xrsr_lib.evaluate.trust.calibration import (
    CONSISTENCY_SMOOTH_VOXELS,
    DOMAIN_BLOCK,
    DOMAIN_LEVEL,
    MEANING,
    SCORES,
    TTA_SMOOTH_VOXELS,
    TTA_TRANSFORMS,
    Predict,
    calibrate_trust,
    context_voxels,
    score_maps,
)
from xrsr_lib.evaluate.trust.conformal import ConformalInterval
from xrsr_lib.evaluate.trust.domain import DomainVerdict, InputDomain, block_features

__all__ = [
    "BlockTrust",
    "CONSISTENCY_SMOOTH_VOXELS",
    "DOMAIN_BLOCK",
    "DOMAIN_LEVEL",
    "MEANING",
    "Predict",
    "SCORES",
    "TTA_SMOOTH_VOXELS",
    "TTA_TRANSFORMS",
    "TrustedPrediction",
    "calibrate_trust",
    "context_voxels",
    "score_maps",
]


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
