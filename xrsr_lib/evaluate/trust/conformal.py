"""Conformal intervals: a per-voxel score turned into intervals with a stated coverage.

Split conformal prediction with a normalized residual (Angelopoulos & Bates 2021, §2.3; the
image-to-image form of Angelopoulos et al. 2022): on calibration voxels where the reference
exists (held-out blocks of the training overlap, never trained on), the residual
``r = |prediction - reference| / (score + floor)`` is computed and its
``ceil((n + 1)·coverage) / n`` empirical quantile ``q`` kept. On new voxels the interval is
``prediction ± q·(score + floor)``. When calibration and new voxels are exchangeable, the
interval holds the reference with probability at least ``coverage`` (and below
``coverage + 1/(n+1)``), whatever the model and the score; a good score makes the intervals
narrow where the model is right and wide where it is not. Voxels of one volume are not
independent, so the coverage holds on average over volumes, and the spread of the measured
coverage around it is larger than a binomial's.

:func:`pore_flags` reads the intervals at the pore threshold: a pore of the result is *doubtful*
when, over most of its voxels, the interval reaches the matrix side of the threshold.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

__all__ = ["ConformalInterval", "calibrate", "empirical_coverage", "pore_flags"]


@dataclass(frozen=True)
class ConformalInterval:
    """A calibrated interval rule: half-width ``quantile × (score + floor)``.

    Attributes
    ----------
    coverage : float
        The nominal coverage (e.g. 0.9).
    quantile : float
        The conformal quantile of the normalized residuals (``inf`` when there are too few).
    floor : float
        Added to every score, in the score's units (keeps intervals open where the score is 0).
    n_calibration : int
        Calibration voxels used.
    """

    coverage: float
    quantile: float
    floor: float
    n_calibration: int

    def halfwidth(self, score: np.ndarray) -> np.ndarray:
        """Half-width of the interval at each voxel, in the prediction's grey units (float32)."""
        s = np.asarray(score, np.float32)
        if (s < 0).any():
            raise ValueError("scores must be >= 0")
        return (np.float32(self.quantile) * (s + np.float32(self.floor))).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """Return the rule as a JSON-able dict (its fields; :meth:`from_dict` reads it back)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ConformalInterval:
        """Return the rule that :meth:`to_dict` wrote."""
        return cls(float(d["coverage"]), float(d["quantile"]), float(d["floor"]), int(d["n_calibration"]))


def _flat(x: np.ndarray, mask: np.ndarray | None, name: str) -> np.ndarray:
    a = np.asarray(x, np.float64)
    if mask is not None:
        m = np.asarray(mask, bool)
        if m.shape != a.shape:
            raise ValueError(f"mask {m.shape} and {name} {a.shape} differ in shape")
        a = a[m]
    a = a.ravel()
    if not np.isfinite(a).all():
        raise ValueError(f"{name} has NaN or infinite values")
    return a


def calibrate(
    score: np.ndarray,
    abs_error: np.ndarray,
    coverage: float = 0.9,
    floor: float | None = None,
    mask: np.ndarray | None = None,
) -> ConformalInterval:
    """Calibrate intervals on voxels where the error is known.

    Parameters
    ----------
    score : ndarray
        The non-negative score on the calibration voxels (any shape).
    abs_error : ndarray
        ``|prediction - reference|`` on the same voxels.
    coverage : float
        Nominal coverage, in (0, 1).
    floor : float, optional
        Added to the score; default 5 % of the median score (a tiny positive value when that is 0).
    mask : ndarray of bool, optional
        Calibration voxels (default all).

    Returns
    -------
    ConformalInterval
    """
    if not 0 < coverage < 1:
        raise ValueError(f"coverage must lie in (0, 1), got {coverage}")
    s, e = _flat(score, mask, "score"), _flat(abs_error, mask, "abs_error")
    if s.shape != e.shape:
        raise ValueError(f"score ({s.size} voxels) and abs_error ({e.size}) differ in size")
    if s.size == 0:
        raise ValueError("no calibration voxel")
    if (s < 0).any() or (e < 0).any():
        raise ValueError("score and abs_error must be >= 0")
    if floor is None:
        floor = 0.05 * float(np.median(s)) or 1e-6
    if floor <= 0:
        raise ValueError(f"floor must be > 0, got {floor}")
    n = s.size
    rank = math.ceil((n + 1) * coverage)
    q = math.inf if rank > n else float(np.partition(e / (s + floor), rank - 1)[rank - 1])
    return ConformalInterval(float(coverage), q, float(floor), int(n))


def empirical_coverage(halfwidth: np.ndarray, abs_error: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Fraction of voxels whose error lies within the half-width."""
    h, e = _flat(halfwidth, mask, "halfwidth"), _flat(abs_error, mask, "abs_error")
    if h.shape != e.shape or h.size == 0:
        raise ValueError(f"halfwidth ({h.size} voxels) and abs_error ({e.size}) must be equal and non-empty")
    return float(np.mean(e <= h))


def pore_flags(
    labels: np.ndarray,
    prediction: np.ndarray,
    halfwidth: np.ndarray,
    threshold: float,
    min_fraction: float = 0.5,
) -> pd.DataFrame:
    """Tell per pore of a result whether it is *doubtful* (could its voxels be matrix, within the intervals).

    Parameters
    ----------
    labels : ndarray of int (z, y, x)
        Pores of the result, ``1..n`` (e.g. :func:`xrsr_lib.evaluate.pores.segment_pores`), 0 elsewhere.
    prediction, halfwidth : ndarray (z, y, x)
        The result and its interval half-widths (:meth:`ConformalInterval.halfwidth`).
    threshold : float
        The grey value separating pores (below) from matrix.
    min_fraction : float
        A pore is doubtful when more than this fraction of its voxels have an interval reaching
        the threshold (``prediction + halfwidth >= threshold``).

    Returns
    -------
    DataFrame
        One row per label: ``label``, ``n_voxels``, ``doubtful_fraction``, ``margin`` (median over the
        pore of ``(threshold - prediction) / halfwidth``: below 1, its interval crosses), ``doubtful``.
    """
    lab = np.asarray(labels)
    if lab.shape != np.shape(prediction) or lab.shape != np.shape(halfwidth):
        raise ValueError(
            f"labels {lab.shape}, prediction {np.shape(prediction)} and halfwidth "
            f"{np.shape(halfwidth)} must share one shape"
        )
    if not 0 <= min_fraction < 1:
        raise ValueError(f"min_fraction must lie in [0, 1), got {min_fraction}")
    n = int(lab.max()) if lab.size else 0
    index = np.arange(1, n + 1)
    p, h = np.asarray(prediction, np.float64), np.asarray(halfwidth, np.float64)
    if n == 0:
        return pd.DataFrame({c: [] for c in ("label", "n_voxels", "doubtful_fraction", "margin", "doubtful")})
    counts = ndimage.sum_labels(np.ones_like(p), lab, index)
    reach = ndimage.sum_labels((p + h >= threshold).astype(np.float64), lab, index) / counts
    margin = ndimage.median(np.clip((threshold - p) / np.maximum(h, 1e-12), -1e6, 1e6), lab, index)
    return pd.DataFrame(
        {
            "label": index,
            "n_voxels": counts.astype(int),
            "doubtful_fraction": reach,
            "margin": np.asarray(margin, float),
            "doubtful": reach > min_fraction,
        }
    )
