"""SRCNN3D: the three-layer super-resolution CNN of Dong et al., in 3D.

After Wang, Armstrong & Mostaghimi (2019), who applied a volumetric SRCNN to micro-CT images of
rocks: patch extraction (``k1``³ conv to ``w1`` features), non-linear mapping (``k2``³ conv to
``w2`` features) and reconstruction (``k3``³ conv to one channel), with ReLU after the first two
layers and, optionally, batch normalization before each ReLU. Every conv pads by ``k // 2`` so the
output has the input's size; ``padding_mode`` chooses how ("reflect" needs each spatial size to
exceed ``k // 2``). Input and output are ``(B, 1, D, H, W)``; with ``residual`` the output is
input + prediction (the original predicts the image itself).

Parameter counts (measured): the defaults (kernels (9, 5, 5), widths (64, 32), batch norm) have
306,849 trainable parameters; kernels (5, 3, 3) with widths (32, 16) have 18,353.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import nn

__all__ = ["SRCNN3D", "SRCNN3DConfig"]

_Kernel = Annotated[int, Field(ge=1, le=31)]
_Width = Annotated[int, Field(ge=1, le=4096)]


class SRCNN3DConfig(BaseModel):
    """Hyper-parameters of :class:`SRCNN3D` (immutable, validated)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kernel_sizes: tuple[_Kernel, _Kernel, _Kernel] = Field(
        default=(9, 5, 5), description="cubic kernel sizes of the three layers (odd)"
    )
    widths: tuple[_Width, _Width] = Field(default=(64, 32), description="features after layers 1 and 2")
    batch_norm: bool = Field(default=True, description="BatchNorm3d after the first two convs")
    padding_mode: Literal["replicate", "zeros", "reflect"] = Field(default="replicate")
    residual: bool = Field(default=False, description="output = input + prediction")

    @field_validator("kernel_sizes")
    @classmethod
    def _odd_kernels(cls, v: tuple[int, int, int]) -> tuple[int, int, int]:
        if any(k % 2 == 0 for k in v):
            raise ValueError(f"kernel_sizes must all be odd for 'same' output size, got {v}")
        return v


class SRCNN3D(nn.Module):
    """Three-layer 3D SRCNN mapping ``(B, 1, D, H, W)`` to the same shape.

    Parameters
    ----------
    config
        Architecture; the defaults of :class:`SRCNN3DConfig` when ``None``.

    Examples
    --------
    >>> import torch
    >>> net = SRCNN3D(SRCNN3DConfig(kernel_sizes=(5, 3, 3), widths=(8, 4))).eval()
    >>> net(torch.zeros(2, 1, 7, 9, 11)).shape
    torch.Size([2, 1, 7, 9, 11])
    """

    def __init__(self, config: SRCNN3DConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else SRCNN3DConfig()
        cfg = self.config
        k1, k2, k3 = cfg.kernel_sizes
        w1, w2 = cfg.widths
        bn = cfg.batch_norm

        def conv(c_in: int, c_out: int, k: int, bias: bool) -> nn.Conv3d:
            return nn.Conv3d(c_in, c_out, k, padding=k // 2, padding_mode=cfg.padding_mode, bias=bias)

        self.layers = nn.Sequential(
            conv(1, w1, k1, bias=not bn),
            nn.BatchNorm3d(w1) if bn else nn.Identity(),
            nn.ReLU(inplace=True),
            conv(w1, w2, k2, bias=not bn),
            nn.BatchNorm3d(w2) if bn else nn.Identity(),
            nn.ReLU(inplace=True),
            conv(w2, 1, k3, bias=True),
        )
        # oneDNN's 3D convolution backward is ~2.5x faster on CPU with channels-last weights
        # (measured: cpu-profile SRCNN, batch 8 of 24³, 2 threads: 445 -> 180 ms per training step;
        # inference 0.46 -> 0.39 s per 80³). The layout survives .to(device) and load_state_dict.
        self.to(memory_format=torch.channels_last_3d)  # type: ignore[call-overload]  # torch's stub lacks it

    def receptive_field(self) -> int:
        """Side length, in voxels, of the input cube that can influence one output voxel."""
        return sum(self.config.kernel_sizes) - 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(B, 1, D, H, W)`` to ``(B, 1, D, H, W)``."""
        if x.ndim != 5 or x.shape[1] != 1:
            raise ValueError(
                f"SRCNN3D expects a 5-D tensor (batch, 1 channel, depth, height, width); "
                f"got shape {tuple(x.shape)}"
            )
        y = self.layers(x)
        return x + y if self.config.residual else y
