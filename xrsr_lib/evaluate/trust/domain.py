"""Tell whether a region of the target is like the calibration blocks (the conformal guarantee assumes it).

Each block of an input volume is described by a few statistics (:data:`DOMAIN_FEATURES`): its grey
level (mean, standard deviation, mean gradient magnitude) and what sees resolution and noise
(:mod:`~xrsr_lib.evaluate.trust.features`: the fraction of power at high frequencies, a robust
noise σ, the width of its strongest edges). :class:`InputDomain` learns them on the calibration
blocks; a block of the target whose Mahalanobis distance from them exceeds the ``level``
conformal quantile of the calibration blocks' own distances is *out of domain*. With
``leave_one_out`` each calibration block's distance is taken from a domain fitted without it (as a
new block's is), which makes the rate valid for small calibrations too: on a target exchangeable
with the calibration about ``1 - level`` of the blocks are flagged by chance. With fewer than
``level / (1 - level)`` calibration blocks that quantile does not exist and the largest
calibration distance is the threshold (a level of ``n / (n + 1)``).

:meth:`InputDomain.verdict` judges a whole volume (:class:`DomainVerdict`): *not like the
calibration* when more of its blocks are flagged than chance allows (binomial tail below
``verdict_alpha``, and at least ``verdict_min_fraction`` of them), or when a feature *moved*: the
median over the target's blocks lies ``moved_sd`` or more calibration standard deviations from the
calibration blocks' mean (the spread of single blocks: a volume whose typical block is that
unusual differs as a whole, even where each block alone passes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binom, chi2

from xrsr_lib.config.trust import DOMAIN_FEATURES, LEVEL_FEATURES, DomainConfig
from xrsr_lib.evaluate.trust.features import edge_width, hf_fraction, noise_sigma

__all__ = ["DOMAIN_FEATURES", "FEATURES", "DomainVerdict", "InputDomain", "block_features"]

#: The level-only features (the default of :func:`block_features`, as before the others existed).
FEATURES = LEVEL_FEATURES


def _check_features(features: Sequence[str]) -> tuple[str, ...]:
    names = tuple(features)
    unknown = [f for f in names if f not in DOMAIN_FEATURES]
    if unknown or not names:
        raise ValueError(f"unknown block features {unknown}; choose from {', '.join(DOMAIN_FEATURES)}")
    return names


def block_features(
    volume: np.ndarray,
    block: int,
    mask: np.ndarray | None = None,
    min_inside: float = 0.5,
    features: Sequence[str] = FEATURES,
    config: DomainConfig | None = None,
    stride: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Statistics of the whole blocks of a volume.

    Parameters
    ----------
    volume : ndarray (z, y, x)
    block : int
        Edge of the cubic blocks, voxels (the volume's remainder at the far edges is left out).
    mask : ndarray of bool, optional
        Voxels that count; blocks with less than ``min_inside`` of their voxels inside are dropped.
    min_inside : float
        See ``mask``.
    features : sequence of str
        Names from :data:`DOMAIN_FEATURES` (default the grey-level three, :data:`FEATURES`).
        ``hf_fraction`` uses the whole block; the others its voxels inside the mask.
    config : DomainConfig, optional
        ``hf_cutoff``, ``edge_reblur_voxels``, ``edge_strongest`` (default :class:`DomainConfig`).
    stride : int, optional
        Voxels between block origins (default ``block``: blocks side by side; smaller: overlapping
        blocks, e.g. more calibration blocks from a thin slab).

    Returns
    -------
    features : ndarray (n, len(features))
        The features of each kept block, computed from its own voxels only (grey units; the edge
        width in voxels; the fraction in [0, 1]).
    origins : ndarray (n, 3) of int
        The first voxel (z, y, x) of each kept block.
    """
    names = _check_features(features)
    cfg = config or DomainConfig()
    v = np.asarray(volume, np.float32)
    if v.ndim != 3:
        raise ValueError(f"volume must be 3-D, got shape {v.shape}")
    if block < 4 or any(n < block for n in v.shape):
        raise ValueError(f"block must be >= 4 voxels and fit in the volume {v.shape}, got {block}")
    step = block if stride is None else int(stride)
    if not 1 <= step <= block:
        raise ValueError(f"stride must lie in 1..{block} voxels, got {stride}")
    m = np.ones(v.shape, bool) if mask is None else np.asarray(mask, bool)
    if m.shape != v.shape:
        raise ValueError(f"mask {m.shape} and volume {v.shape} differ in shape")
    blocks, insides, origins = [], [], []
    for z in range(0, v.shape[0] - block + 1, step):
        for y in range(0, v.shape[1] - block + 1, step):
            for x in range(0, v.shape[2] - block + 1, step):
                sl = (slice(z, z + block), slice(y, y + block), slice(x, x + block))
                if m[sl].mean() < min_inside:
                    continue
                blocks.append(v[sl])
                insides.append(m[sl])
                origins.append((z, y, x))
    origins_arr = np.asarray(origins, int).reshape(-1, 3)
    if not blocks:
        return np.zeros((0, len(names))), origins_arr
    b = np.stack(blocks).astype(np.float64)
    inside = np.stack(insides)
    everywhere = bool(inside.all())
    cols: dict[str, np.ndarray] = {}
    if {"mean", "std"} & set(names):
        vals = np.where(inside, b, np.nan).reshape(len(b), -1)
        cols["mean"], cols["std"] = np.nanmean(vals, 1), np.nanstd(vals, 1)
    if "gradient" in names:
        grad = np.sqrt(sum(g * g for g in np.gradient(b, axis=(1, 2, 3))))
        cols["gradient"] = np.nanmean(np.where(inside, grad, np.nan).reshape(len(b), -1), 1)
    if "hf_fraction" in names:
        cols["hf_fraction"] = hf_fraction(b, cfg.hf_cutoff)
    if "noise" in names:
        cols["noise"] = noise_sigma(b, None if everywhere else inside)
    if "edge_width" in names:
        cols["edge_width"] = edge_width(
            b, cfg.edge_reblur_voxels, cfg.edge_strongest, None if everywhere else inside, cfg.edge_min_snr
        )
    return np.column_stack([cols[n] for n in names]).astype(np.float64), origins_arr


#: Features that scale with the grey level or a length (compared on a log scale when ``log_scale``).
_POSITIVE = ("std", "gradient", "noise", "edge_width")


def _transform(f: np.ndarray, names: Sequence[str], on: bool) -> np.ndarray:
    """Features on the scale the domain compares them: log of the positive ones, logit of the fraction."""
    if not on:
        return f
    out = np.array(f, np.float64, copy=True)
    for i, name in enumerate(names):
        if name in _POSITIVE:
            out[:, i] = np.log(np.maximum(out[:, i], 1e-30))
        elif name == "hf_fraction":
            p = np.clip(out[:, i], 1e-9, 1 - 1e-9)
            out[:, i] = np.log(p / (1 - p))
    return out


def _untransform(value: float, name: str, on: bool) -> float:
    if not on or not math.isfinite(value):
        return value
    if name in _POSITIVE:
        return math.exp(value)
    if name == "hf_fraction":
        return 1 / (1 + math.exp(-value))
    return value


def _moments(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of rows with missing (NaN) entries (pairwise complete), regularized.

    A feature never measured gets mean 0 and variance 1 (it is then never observed either).
    """
    d = f.shape[1]
    mean = np.zeros(d)
    seen = np.isfinite(f).any(0)
    mean[seen] = np.nanmean(f[:, seen], 0)
    if np.isfinite(f).all():
        cov = np.cov(f, rowvar=False).reshape(d, d)
    else:
        cov = pd.DataFrame(f).cov(min_periods=2).to_numpy()
        var = np.diag(cov).copy()
        cov = np.nan_to_num(cov, nan=0.0)
        cov[np.diag_indices(d)] = np.where(np.isfinite(var), var, 1.0)
    var = np.diag(cov)
    scale = max(float(np.nanmax(np.abs(f))) if np.isfinite(f).any() else 1.0, 1e-12)
    return mean, cov + np.diag(1e-9 * np.maximum(var, 1e-12 * scale**2))


def _mahalanobis_sq(f: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Squared Mahalanobis distance of each row over its measured features, and their count."""
    f = np.atleast_2d(f)
    seen = np.isfinite(f)
    d2, k = np.zeros(len(f)), seen.sum(1)
    for pattern in {tuple(r) for r in seen}:
        rows = (seen == np.asarray(pattern)).all(1)
        idx = np.flatnonzero(pattern)
        if idx.size == 0:
            continue
        u = f[np.ix_(rows, idx)] - mean[idx]
        d2[rows] = np.einsum("ij,jk,ik->i", u, np.linalg.inv(cov[np.ix_(idx, idx)]), u)
    return np.maximum(d2, 0.0), k


def _statistic(f: np.ndarray, mean: np.ndarray, cov: np.ndarray, kind: str) -> np.ndarray:
    """Return the statistic ``kind`` of each row of ``f``.

    ``"distance"``: Mahalanobis distance (all features measured); ``"chi2"``: ``-log P(χ²_k >= d²)``
    over the k measured features (comparable between blocks with different features measured; 0
    for a block with none).
    """
    d2, k = _mahalanobis_sq(f, mean, cov)
    if kind == "distance":
        return np.sqrt(d2)
    out = np.zeros(len(d2))
    some = k > 0
    out[some] = -chi2.logsf(d2[some], k[some])
    return out


@dataclass(frozen=True)
class DomainVerdict:
    """Whether a whole volume is like the calibration (:meth:`InputDomain.verdict`).

    Attributes
    ----------
    like : bool
        False when more blocks are flagged than chance allows, or a feature moved (see the module
        docstring).
    flagged_fraction : float
        Fraction of the volume's blocks out of domain.
    n_blocks : int
        Blocks judged.
    expected_fraction : float
        The fraction flagged by chance for blocks exchangeable with the calibration.
    p_value : float
        Probability of at least this many flagged blocks by chance (binomial; blocks of one volume
        are not independent, hence also ``min_fraction``).
    features : list of dict
        Per feature: ``name``, ``calibration`` (the calibration blocks' mean, or geometric mean on a
        log scale), ``target_median`` (over the blocks where it is measured, ``measured_blocks``),
        ``shift_sd`` (the median's distance from the calibration mean in calibration standard
        deviations, on the domain's scale), ``moved`` (``|shift_sd| >= moved_sd``); the largest
        shifts first.
    """

    like: bool
    flagged_fraction: float
    n_blocks: int
    expected_fraction: float
    p_value: float
    features: list[dict[str, Any]] = field(default_factory=list)

    @property
    def moved(self) -> list[str]:
        """Names of the features that moved, largest shift first."""
        return [f["name"] for f in self.features if f["moved"]]

    def to_dict(self) -> dict[str, Any]:
        """Return the verdict as a JSON-able dict: its fields, ``moved`` and the sentence ``verdict``."""
        return {"verdict": str(self), **asdict(self), "moved": self.moved}

    def __str__(self) -> str:
        """Return the verdict in one sentence (flagged blocks, %, against chance; the features that moved)."""
        head = "like the calibration" if self.like else "not like the calibration"
        moved = ", ".join(f"{f['name']} {f['shift_sd']:+.1f} sd" for f in self.features if f["moved"])
        return (
            f"{head}: {100 * self.flagged_fraction:.1f} % of {self.n_blocks} blocks out of domain "
            f"(chance {100 * self.expected_fraction:.1f} %)" + (f"; moved: {moved}" if moved else "")
        )


@dataclass(frozen=True)
class InputDomain:
    """Mean and covariance of the calibration blocks' features, and the statistic that flags a block.

    ``statistic`` is ``"distance"`` (the Mahalanobis distance; every feature must be measured) or
    ``"chi2"`` (``-log P(χ²_k >= d²)`` over the k features measured in a block: ``edge_width`` is
    not measured where a block has no edge). With ``log_scale`` the mean and covariance are those
    of the logarithms of the positive features (std, gradient, noise, edge width) and of the logit
    of ``hf_fraction`` (a gain is then a shift, and the blocks' spread less skewed).
    """

    mean: tuple[float, ...]
    covariance: tuple[tuple[float, ...], ...]
    threshold: float
    level: float
    n_blocks: int
    features: tuple[str, ...] = FEATURES
    statistic: str = "distance"
    log_scale: bool = False

    @classmethod
    def fit(
        cls,
        features: np.ndarray,
        level: float = 0.99,
        leave_one_out: bool = False,
        names: Sequence[str] | None = None,
        log_scale: bool = False,
    ) -> InputDomain:
        """Learn the domain from calibration block features (:func:`block_features`).

        Parameters
        ----------
        features : ndarray (n, d)
            At least ``max(4, d + 2)`` blocks. NaN marks a feature not measured in a block (then
            the statistic is ``"chi2"``, else ``"distance"``).
        level : float
            Conformal level of the threshold, in (0, 1).
        leave_one_out : bool
            Rank each calibration block's statistic against a domain fitted without it (exchangeable
            with a new block's) instead of its in-sample one (smaller: too many new blocks are
            flagged when there are few calibration blocks per feature).
        names : sequence of str, optional
            The feature names (default :data:`FEATURES`; their number must be ``d``).
        log_scale : bool
            Compare the positive features on a log scale (see the class docstring).
        """
        f = np.asarray(features, np.float64)
        names = tuple(names) if names is not None else FEATURES
        if f.ndim != 2 or f.shape[1] != len(names):
            raise ValueError(f"features of shape {f.shape} do not hold the {len(names)} features {names}")
        if f.shape[0] < max(4, f.shape[1] + 2):
            raise ValueError(
                f"need at least {max(4, f.shape[1] + 2)} calibration blocks of {f.shape[1]} "
                f"features, got {f.shape[0]}"
            )
        if not 0 < level < 1:
            raise ValueError(f"level must lie in (0, 1), got {level}")
        if np.isinf(f).any():
            raise ValueError("calibration block features have infinite values")
        kind = "distance" if np.isfinite(f).all() else "chi2"
        f = _transform(f, names, log_scale)
        mean, cov = _moments(f)
        if leave_one_out:
            stat = np.empty(len(f))
            for i in range(len(f)):
                rest = np.delete(f, i, axis=0)
                stat[i] = _statistic(f[i : i + 1], *_moments(rest), kind)[0]
        else:
            stat = _statistic(f, mean, cov, kind)
        d = np.sort(stat)
        rank = math.ceil((len(d) + 1) * level)
        return cls(
            tuple(map(float, mean)),
            tuple(tuple(map(float, r)) for r in cov),
            float(d[min(rank, len(d)) - 1]),
            float(level),
            int(f.shape[0]),
            names,
            kind,
            bool(log_scale),
        )

    @property
    def expected_fraction(self) -> float:
        """Fraction of exchangeable blocks flagged by chance: ``1 - min(ceil((n+1)·level), n) / (n+1)``."""
        n = self.n_blocks
        return 1.0 - min(math.ceil((n + 1) * self.level), n) / (n + 1)

    def distance(self, features: np.ndarray) -> np.ndarray:
        """Return the statistic of each row of features (``statistic``: Mahalanobis distance or χ² score)."""
        f = np.asarray(features, np.float64).reshape(-1, len(self.mean))
        f = _transform(f, self.features, self.log_scale)
        return _statistic(f, np.asarray(self.mean), np.asarray(self.covariance), self.statistic)

    def out_of_domain(self, features: np.ndarray) -> np.ndarray:
        """Flag the blocks beyond the calibration threshold (True: out of domain)."""
        return self.distance(features) > self.threshold

    def verdict(self, features: np.ndarray, config: DomainConfig | None = None) -> DomainVerdict:
        """Judge a whole volume from the features of all its blocks (see :class:`DomainVerdict`).

        Raises
        ------
        ValueError
            If there is no block.
        """
        cfg = config or DomainConfig()
        f = np.asarray(features, np.float64).reshape(-1, len(self.mean))
        if len(f) == 0:
            raise ValueError("no block to judge: the volume is smaller than one domain block")
        k, n = int(self.out_of_domain(f).sum()), len(f)
        p0 = self.expected_fraction
        p_value = float(binom.sf(k - 1, n, p0)) if k else 1.0
        excess = p_value < cfg.verdict_alpha and k / n >= cfg.verdict_min_fraction
        sd = np.sqrt(np.diag(np.asarray(self.covariance)))
        ft = _transform(f, self.features, self.log_scale)
        rows: list[dict[str, Any]] = []
        for i, name in enumerate(self.features):
            measured = ft[np.isfinite(ft[:, i]), i]
            med = float(np.median(measured)) if measured.size else float("nan")
            shift = float((med - self.mean[i]) / sd[i]) if sd[i] > 0 and measured.size else 0.0
            rows.append(
                {
                    "name": name,
                    "calibration": _untransform(self.mean[i], name, self.log_scale),
                    "target_median": _untransform(med, name, self.log_scale),
                    "measured_blocks": int(measured.size),
                    "shift_sd": shift,
                    "moved": abs(shift) >= cfg.moved_sd,
                }
            )
        rows.sort(key=lambda r: -abs(r["shift_sd"]))
        return DomainVerdict(not (excess or any(r["moved"] for r in rows)), k / n, n, p0, p_value, rows)

    def to_dict(self) -> dict[str, Any]:
        """Return the domain as a JSON-able dict (its fields; :meth:`from_dict` reads it back)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InputDomain:
        """Return the domain that :meth:`to_dict` wrote (older records: the default features)."""
        return cls(
            tuple(d["mean"]),
            tuple(map(tuple, d["covariance"])),
            float(d["threshold"]),
            float(d["level"]),
            int(d["n_blocks"]),
            tuple(d.get("features", FEATURES)),
            str(d.get("statistic", "distance")),
            bool(d.get("log_scale", False)),
        )
