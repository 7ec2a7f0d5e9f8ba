"""Losses for the 2-D super-resolution networks of study B: L1 plus a Sobel edge term.

Thin cracks are a few pixels wide, so a plain pixel loss is dominated by the large uniform
matrix; the edge term compares Sobel gradient magnitudes and so weights the crack and pore
boundaries explicitly::

    loss = L1(pred, target) + λ · L1(|∇ pred|, |∇ target|)

Sobel normalization
-------------------
The kernels are **unnormalized**: ``gx = [1, 2, 1]ᵀ ⊗ [-1, 0, 1]`` (smoothing along rows,
central difference along columns) and ``gy = gxᵀ``. A vertical step edge of height ``h`` thus
gives ``|g| = 4·h`` on the two columns next to the step, and a linear ramp of slope ``a`` per pixel
gives ``|g| = 8·a`` (divide by 8 for a per-pixel derivative estimate). The kernels are applied by
cross-correlation (``torch.nn.functional.conv2d``), so ``gx > 0`` where the image increases
with the column index and ``gy > 0`` where it increases with the row index. Borders use replicate
padding, so a constant image has zero gradient everywhere, borders included.

Examples
--------
>>> import torch
>>> from xrsr_lib.train.losses import SREdgeLoss, sobel_magnitude
>>> step = torch.zeros(1, 1, 5, 6)
>>> step[..., 3:] = 1.0
>>> sobel_magnitude(step)[0, 0, 2].round().tolist()
[0.0, 0.0, 4.0, 4.0, 0.0, 0.0]
>>> float(SREdgeLoss(edge_weight=0.1)(step, step))
0.0
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SOBEL_EPS", "SREdgeLoss", "sobel_edge_loss", "sobel_gradients", "sobel_magnitude"]

#: Added to gx² + gy² before the square root: keeps the gradient of the magnitude finite on flat
#: regions (where gx = gy = 0). The magnitude of a flat image is sqrt(eps) = 1e-3 instead of 0 and
#: a true magnitude g is reported as sqrt(g² + eps) (error < eps / (2 g), e.g. 1.25e-7 at g = 4).
SOBEL_EPS = 1e-6

_SMOOTH = (1.0, 2.0, 1.0)
_DIFF = (-1.0, 0.0, 1.0)


def _check_4d(x: torch.Tensor, name: str) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a 4-D tensor (batch, channels, height, width), got {shape}")


def sobel_gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unnormalized Sobel derivatives ``(gx, gy)`` of each channel of ``x`` (B, C, H, W).

    ``gx`` is the derivative along the columns (width), ``gy`` along the rows (height); see the
    module docstring for the kernels and the normalization. Replicate padding keeps the shape.
    """
    _check_4d(x, "x")
    c = x.shape[1]
    smooth = torch.tensor(_SMOOTH, dtype=x.dtype, device=x.device)
    diff = torch.tensor(_DIFF, dtype=x.dtype, device=x.device)
    kx = torch.outer(smooth, diff)  # rows smoothed, columns differenced
    ky = kx.t()
    weight = torch.stack([kx, ky])[:, None].repeat(c, 1, 1, 1)  # (2C, 1, 3, 3): gx, gy per channel
    g = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), weight, groups=c)
    return g[:, 0::2], g[:, 1::2]


def sobel_magnitude(x: torch.Tensor, eps: float = SOBEL_EPS) -> torch.Tensor:
    """Sobel gradient magnitude ``sqrt(gx² + gy² + eps)`` per channel, same shape as ``x``.

    Parameters
    ----------
    x : Tensor (B, C, H, W)
    eps : float
        Stabilizer inside the square root (:data:`SOBEL_EPS`); must be > 0 for finite gradients.
    """
    gx, gy = sobel_gradients(x)
    return torch.sqrt(gx * gx + gy * gy + eps)


def sobel_edge_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of the Sobel gradient magnitudes of ``pred`` and ``target``."""
    _check_4d(pred, "pred")
    _check_4d(target, "target")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    return F.l1_loss(sobel_magnitude(pred), sobel_magnitude(target))


class SREdgeLoss(nn.Module):
    """``L1(pred, target) + edge_weight · sobel_edge_loss(pred, target)``.

    Parameters
    ----------
    edge_weight : float >= 0
        Weight λ of the edge term; 0 gives plain L1.
    """

    def __init__(self, edge_weight: float = 0.1) -> None:
        super().__init__()
        if not math.isfinite(edge_weight) or edge_weight < 0:
            raise ValueError(f"edge_weight must be a finite number >= 0, got {edge_weight!r}")
        self.edge_weight = float(edge_weight)

    def terms(
        self, pred: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(total, l1, edge)``: the loss and its two unweighted terms."""
        edge = sobel_edge_loss(pred, target)  # validates shapes
        l1 = F.l1_loss(pred, target)
        return l1 + self.edge_weight * edge, l1, edge

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Return the total loss (a scalar tensor)."""
        return self.terms(pred, target)[0]

    def extra_repr(self) -> str:
        """Return the settings shown in the module's ``repr`` (``edge_weight``)."""
        return f"edge_weight={self.edge_weight}"
