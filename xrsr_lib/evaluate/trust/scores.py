"""How well a trust signal points at the errors, measured where the truth is known (simulations)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.stats import rankdata, spearmanr

__all__ = ["auroc", "hallucinated_pores", "precision_recall", "spearman"]


def auroc(score: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for the ``positive`` class (ties count half).

    The Mann-Whitney form: the probability that a random positive scores above a random negative.
    1 separates perfectly, 0.5 is chance, 0 is perfectly reversed.
    """
    s = np.asarray(score, np.float64).ravel()
    y = np.asarray(positive, bool).ravel()
    if s.shape != y.shape:
        raise ValueError(f"score ({s.size}) and positive ({y.size}) differ in size")
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("auroc needs both positives and negatives")
    ranks = rankdata(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def spearman(a: np.ndarray, b: np.ndarray, n_samples: int | None = 200_000, seed: int = 0) -> float:
    """Spearman rank correlation of two maps (on a random subset of ``n_samples`` voxels when larger)."""
    x, y = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"the maps differ in size: {x.size} and {y.size}")
    if n_samples is not None and x.size > n_samples:
        idx = np.random.default_rng(seed).choice(x.size, n_samples, replace=False)
        x, y = x[idx], y[idx]
    return float(spearmanr(x, y).statistic)


def precision_recall(flag: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """Precision and recall of boolean flags for a positive class (NaN where undefined)."""
    f, p = np.asarray(flag, bool).ravel(), np.asarray(positive, bool).ravel()
    if f.shape != p.shape:
        raise ValueError(f"flag ({f.size}) and positive ({p.size}) differ in size")
    tp = int((f & p).sum())
    precision = tp / int(f.sum()) if f.any() else float("nan")
    recall = tp / int(p.sum()) if p.any() else float("nan")
    return precision, recall


def hallucinated_pores(labels: np.ndarray, truth_pores: np.ndarray, max_overlap: float = 0.1) -> np.ndarray:
    """Which pores of a result have (almost) no pore of the truth under them.

    Parameters
    ----------
    labels : ndarray of int
        Pores of the result, ``1..n``.
    truth_pores : ndarray of bool
        Pore voxels of the truth (or, for the missed pores of the truth, swap the roles: the truth's
        labels against the result's pore mask).
    max_overlap : float
        A pore whose fraction of voxels on truth pores is at most this is hallucinated.

    Returns
    -------
    ndarray of bool, shape (n,)
        Entry ``i`` for label ``i + 1``.
    """
    lab = np.asarray(labels)
    truth = np.asarray(truth_pores, bool)
    if lab.shape != truth.shape:
        raise ValueError(f"labels {lab.shape} and truth_pores {truth.shape} differ in shape")
    n = int(lab.max()) if lab.size else 0
    if n == 0:
        return np.zeros(0, bool)
    index = np.arange(1, n + 1)
    frac = ndimage.sum_labels(truth.astype(np.float64), lab, index) / ndimage.sum_labels(
        np.ones(lab.shape), lab, index
    )
    return frac <= max_overlap
