"""Is a region of the target like the calibration blocks? (The conformal guarantee assumes it is.)

Each block of an input volume is described by three statistics: mean, standard deviation and
mean gradient magnitude of its grey values. :class:`InputDomain` learns them on the calibration
blocks; a block of the target whose Mahalanobis distance from them exceeds the ``level``
conformal quantile of the calibration blocks' own distances is *out of domain*. On a target
exchangeable with the calibration about ``1 - level`` of the blocks are flagged by chance. With
fewer than ``level / (1 - level)`` calibration blocks that quantile does not exist and the largest
calibration distance is the threshold (a level of ``n / (n + 1)``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["FEATURES", "InputDomain", "block_features"]

FEATURES = ("mean", "std", "gradient")


def block_features(
    volume: np.ndarray, block: int, mask: np.ndarray | None = None, min_inside: float = 0.5
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

    Returns
    -------
    features : ndarray (n, 3)
        :data:`FEATURES` of each kept block (over its voxels inside the mask).
    origins : ndarray (n, 3) of int
        The first voxel (z, y, x) of each kept block.
    """
    v = np.asarray(volume, np.float32)
    if v.ndim != 3:
        raise ValueError(f"volume must be 3-D, got shape {v.shape}")
    if block < 2 or any(n < block for n in v.shape):
        raise ValueError(f"block must be >= 2 voxels and fit in the volume {v.shape}, got {block}")
    m = np.ones(v.shape, bool) if mask is None else np.asarray(mask, bool)
    if m.shape != v.shape:
        raise ValueError(f"mask {m.shape} and volume {v.shape} differ in shape")
    feats, origins = [], []
    for z in range(0, v.shape[0] - block + 1, block):
        for y in range(0, v.shape[1] - block + 1, block):
            for x in range(0, v.shape[2] - block + 1, block):
                sl = (slice(z, z + block), slice(y, y + block), slice(x, x + block))
                inside = m[sl]
                if inside.mean() < min_inside:
                    continue
                b = v[sl]
                grad = np.sqrt(sum(g * g for g in np.gradient(b)))
                vals = b[inside]
                feats.append((vals.mean(), vals.std(), grad[inside].mean()))
                origins.append((z, y, x))
    return np.asarray(feats, np.float64).reshape(-1, 3), np.asarray(origins, int).reshape(-1, 3)


@dataclass(frozen=True)
class InputDomain:
    """Mean and covariance of the calibration blocks' features, and the distance that flags a block."""

    mean: tuple[float, ...]
    covariance: tuple[tuple[float, ...], ...]
    threshold: float
    level: float
    n_blocks: int

    @classmethod
    def fit(cls, features: np.ndarray, level: float = 0.99) -> InputDomain:
        """Learn the domain from calibration block features (:func:`block_features`), n ≥ 4 blocks."""
        f = np.asarray(features, np.float64)
        if f.ndim != 2 or f.shape[0] < 4:
            raise ValueError(f"need at least 4 calibration blocks of features, got shape {f.shape}")
        if not 0 < level < 1:
            raise ValueError(f"level must lie in (0, 1), got {level}")
        mean = f.mean(0)
        cov = np.cov(f, rowvar=False) + 1e-9 * np.eye(f.shape[1]) * max(np.abs(f).max(), 1e-12) ** 2
        dom = cls(tuple(mean), tuple(map(tuple, cov)), math.inf, float(level), int(f.shape[0]))
        d = np.sort(dom.distance(f))
        rank = math.ceil((len(d) + 1) * level)
        return cls(dom.mean, dom.covariance, float(d[min(rank, len(d)) - 1]), float(level), int(f.shape[0]))

    def distance(self, features: np.ndarray) -> np.ndarray:
        """Mahalanobis distance of each row of features from the calibration blocks."""
        f = np.asarray(features, np.float64).reshape(-1, len(self.mean)) - np.asarray(self.mean)
        inv = np.linalg.inv(np.asarray(self.covariance))
        return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", f, inv, f), 0.0))

    def out_of_domain(self, features: np.ndarray) -> np.ndarray:
        """True for blocks farther than the calibration threshold."""
        return self.distance(features) > self.threshold

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InputDomain:
        return cls(tuple(d["mean"]), tuple(map(tuple, d["covariance"])), float(d["threshold"]),
                   float(d["level"]), int(d["n_blocks"]))
