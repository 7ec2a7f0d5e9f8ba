"""Affine intensity normalization of network inputs and targets, stored with a trained model."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["Normalization"]


@dataclass(frozen=True)
class Normalization:
    """``(x - mean) / std`` of inputs and targets; :meth:`restore` maps outputs back.

    Attributes are in the units of the volumes (study A: material fraction).
    """

    input_mean: float
    input_std: float
    target_mean: float
    target_std: float

    @classmethod
    def fit(cls, inputs: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> Normalization:
        """Means and standard deviations over the voxels where ``mask`` (broadcast) is true."""
        sel = (slice(None),) if mask is None else np.broadcast_to(mask, inputs.shape)
        xi, xt = inputs[sel], target[sel]
        return cls(float(xi.mean()), float(xi.std()) or 1.0, float(xt.mean()), float(xt.std()) or 1.0)

    def inputs(self, x: np.ndarray) -> np.ndarray:
        """Normalize network inputs: ``(x - input_mean) / input_std`` as float32."""
        return ((x - self.input_mean) / self.input_std).astype(np.float32)

    def targets(self, x: np.ndarray) -> np.ndarray:
        """Normalize targets: ``(x - target_mean) / target_std`` as float32 (undone by :meth:`restore`)."""
        return ((x - self.target_mean) / self.target_std).astype(np.float32)

    def restore(self, y: np.ndarray) -> np.ndarray:
        """Network output back to target intensities."""
        return (y * self.target_std + self.target_mean).astype(np.float32)

    def as_dict(self) -> dict[str, float]:
        """Return the four fields as a dict (JSON-serialisable, stored with a trained model)."""
        return asdict(self)
