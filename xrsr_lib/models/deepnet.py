"""DeepNet: a 2.5D U-Net for slice-stack resolution recovery.

The network sees a stack of ``n_slices`` adjacent z-slices of a reconstructed volume as channels,
``(B, n_slices, H, W)``, and predicts the same stack, ``(B, n_slices, H, W)``; inference code
averages the overlapping stacks along z.

Architecture
------------
* contracting path: ``depth`` levels of ``convs_per_level`` × (3×3 conv, norm, ReLU) followed by
  2×2 max pooling; the width doubles per level, starting from ``base_width``;
* bottleneck: a conv block at width ``base_width * 2**depth``;
* expansive path: 2× upsampling (a 2×2 transposed conv, or bilinear interpolation followed by a
  3×3 conv) halving the width, concatenation with the skip connection of the same level, conv block;
* ``extra_convs`` further 3×3 conv layers (norm, ReLU) at ``base_width``;
* a final 1×1 conv to ``n_slices`` outputs, added to the input when ``residual`` is true (the net
  then learns the correction).

Any ``H, W`` is accepted: the input is padded at the bottom/right (reflect, or replicate where the
image is too small for reflect) to a multiple of ``2**depth`` and the output is cropped back.
Padding only at the far edges keeps the pooling grid anchored at pixel (0, 0), so tiles whose
offsets are multiples of ``2**depth`` reproduce the full-image result exactly away from their
borders (see :meth:`DeepNet.receptive_field` for the margin needed).

Parameter counts (measured): the defaults (``base_width=32, depth=4, convs_per_level=2,
extra_convs=2``, batch norm, transposed-conv upsampling, 5 slices) have 7,782,309 trainable
parameters (receptive field 204 px); ``base_width=16, depth=4`` has 1,947,605; ``base_width=16,
depth=3`` has 487,765 (receptive field 100 px).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import nn

__all__ = ["DeepNet", "DeepNetConfig"]

NormKind = Literal["batch", "instance", "none"]


class DeepNetConfig(BaseModel):
    """Hyper-parameters of :class:`DeepNet` (immutable, validated)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_slices: int = Field(default=5, ge=1, le=63, description="adjacent z-slices in and out (odd)")
    base_width: int = Field(default=32, ge=1, le=1024, description="channels at the first level")
    depth: int = Field(default=4, ge=1, le=6, description="number of 2x2 poolings")
    convs_per_level: int = Field(default=2, ge=1, le=8, description="3x3 convs per conv block")
    extra_convs: int = Field(default=2, ge=0, le=16, description="3x3 convs after the U-Net")
    norm: NormKind = Field(default="batch", description="normalization after each 3x3 conv")
    upsampling: Literal["transpose", "bilinear"] = Field(default="transpose")
    residual: bool = Field(default=True, description="output = input + prediction")

    @field_validator("n_slices")
    @classmethod
    def _odd_slices(cls, v: int) -> int:
        if v % 2 == 0:
            raise ValueError(f"n_slices must be odd (a centre slice with equal context), got {v}")
        return v


def _norm(kind: NormKind, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    return nn.Identity()


def _conv_block(c_in: int, c_out: int, n_convs: int, norm: NormKind) -> nn.Sequential:
    """``n_convs`` × (3×3 conv, norm, ReLU); the conv bias is dropped when a norm follows."""
    layers: list[nn.Module] = []
    for i in range(n_convs):
        layers += [
            nn.Conv2d(c_in if i == 0 else c_out, c_out, 3, padding=1, bias=norm == "none"),
            _norm(norm, c_out),
            nn.ReLU(inplace=True),
        ]
    return nn.Sequential(*layers)


def _upsampler(c_in: int, c_out: int, kind: str) -> nn.Module:
    if kind == "transpose":
        return nn.ConvTranspose2d(c_in, c_out, kernel_size=2, stride=2)
    return nn.Sequential(
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
        nn.Conv2d(c_in, c_out, 3, padding=1),
    )


class DeepNet(nn.Module):
    """2.5D U-Net mapping a stack of ``n_slices`` z-slices to the same stack.

    Parameters
    ----------
    config
        Architecture; the defaults of :class:`DeepNetConfig` when ``None``.

    Examples
    --------
    >>> import torch
    >>> net = DeepNet(DeepNetConfig(base_width=4, depth=2)).eval()
    >>> net(torch.zeros(1, 5, 19, 23)).shape
    torch.Size([1, 5, 19, 23])
    """

    def __init__(self, config: DeepNetConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else DeepNetConfig()
        cfg = self.config
        widths = [cfg.base_width * 2**level for level in range(cfg.depth + 1)]

        self.encoders = nn.ModuleList()
        c_in = cfg.n_slices
        for level in range(cfg.depth):
            self.encoders.append(_conv_block(c_in, widths[level], cfg.convs_per_level, cfg.norm))
            c_in = widths[level]
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = _conv_block(c_in, widths[-1], cfg.convs_per_level, cfg.norm)

        self.upsamplers = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for level in reversed(range(cfg.depth)):
            self.upsamplers.append(_upsampler(widths[level + 1], widths[level], cfg.upsampling))
            self.decoders.append(_conv_block(2 * widths[level], widths[level], cfg.convs_per_level, cfg.norm))

        self.extra = (
            _conv_block(widths[0], widths[0], cfg.extra_convs, cfg.norm) if cfg.extra_convs else nn.Identity()
        )
        self.head = nn.Conv2d(widths[0], cfg.n_slices, kernel_size=1)

    @property
    def size_multiple(self) -> int:
        """Spatial sizes are padded internally to a multiple of this (``2**depth``)."""
        return 2**self.config.depth

    def receptive_field(self) -> int:
        """Side length, in pixels, of the input region that can influence one output pixel.

        Exact for transposed-conv upsampling, an upper bound for bilinear upsampling.

        Tiled inference needs an overlap (halo) of at least half of this on each side for the
        tiles to agree with a whole-image pass (exactly so when tile offsets are multiples of
        :attr:`size_multiple`).
        """
        cfg = self.config
        rf = 1
        for level in range(cfg.depth):  # encoder convs + 2x2 pooling
            rf += 2 * cfg.convs_per_level * 2**level + 2**level
        rf += 2 * cfg.convs_per_level * 2**cfg.depth  # bottleneck
        for level in range(cfg.depth):  # decoder convs (+ bilinear support and its 3x3 conv)
            rf += 2 * cfg.convs_per_level * 2**level
            if cfg.upsampling == "bilinear":  # conservative: interpolation support depends on phase
                rf += 2 * 2 ** (level + 1) + 2 * 2**level
        rf += 2 * cfg.extra_convs
        return rf

    def _check_input(self, x: torch.Tensor) -> None:
        n = self.config.n_slices
        if x.ndim != 4:
            raise ValueError(
                f"DeepNet expects a 4-D tensor (batch, {n} slices, height, width); got shape {tuple(x.shape)}"
            )
        if x.shape[1] != n:
            raise ValueError(
                f"DeepNet expects {n} slices as channels (config.n_slices={n}); got {x.shape[1]} "
                f"channels in input of shape {tuple(x.shape)}"
            )

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        m = self.size_multiple
        h, w = x.shape[-2:]
        pad_h, pad_w = (-h) % m, (-w) % m
        if pad_h == 0 and pad_w == 0:
            return x
        mode = "reflect" if pad_h < h and pad_w < w else "replicate"
        return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(B, n_slices, H, W)`` to ``(B, n_slices, H, W)``."""
        self._check_input(x)
        h, w = x.shape[-2:]
        y = self._pad(x)
        skips = []
        for encoder in self.encoders:
            y = encoder(y)
            skips.append(y)
            y = self.pool(y)
        y = self.bottleneck(y)
        for upsample, decoder, skip in zip(self.upsamplers, self.decoders, reversed(skips), strict=True):
            y = decoder(torch.cat([upsample(y), skip], dim=1))
        y = self.head(self.extra(y))[..., :h, :w]
        return x + y if self.config.residual else y
