"""RRDBNet: the ESRGAN / Real-ESRGAN generator (residual-in-residual dense blocks).

After Wang et al. (2018), "ESRGAN", and Wang et al. (2021), "Real-ESRGAN" (the ``x4plus``
generator), for grey images by default::

    x ─► conv 3×3 (C → F) ─┬─► RRDB × num_block ─► conv 3×3 ─► (+) ─► upsampling steps ─►
                           └──────────────────────────────────┘
         ─► conv 3×3 (HR) ─► LReLU ─► conv 3×3 (F → C_out)

    RRDB:  x + β · RDB(RDB(RDB(x)))                      (β = residual_scale = 0.2)
    RDB:   5 convs 3×3 with dense connections (growth G = num_grow_ch), LReLU(0.2) after the
           first 4; output x + β · conv₅(...)

Upsampling steps (each: nearest-neighbour interpolation, 3×3 conv F → F, LReLU):
scale 4 → two ×2 steps; scale 2 → one ×2 step; scale 3 → one ×3 step; scale 1 → none.
With ``unshuffle_input`` (Real-ESRGAN's ×2 and ×1 models) scales 1 and 2 instead pixel-unshuffle
the input by 4 / scale (``C·16`` or ``C·4`` channels into ``conv_first``) and always use the two
×2 steps; the image is then padded (reflect) to a multiple of 4 / scale and the output cropped.
The dense-block convs are initialised with Kaiming-normal weights scaled by ``init_scale`` (0.1).

There is no global image residual (as in the original). Any ``H, W`` is accepted.

Parameter counts (measured): the defaults (grey, ``num_feat=64``, ``num_block=23``,
``num_grow_ch=32``, scale 2, one upsampling step) have 16,658,753 trainable parameters; at scale 4
16,695,681, and 16,697,987 with 3 channels (the Real-ESRGAN x4plus generator).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, cast

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

__all__ = ["RRDB", "RRDBNet", "RRDBNetConfig", "ResidualDenseBlock"]


class RRDBNetConfig(BaseModel):
    """Hyper-parameters of :class:`RRDBNet` (immutable, validated); defaults = Real-ESRGAN x4plus."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    in_channels: int = Field(default=1, ge=1, le=64, description="image channels in (1 = grey)")
    out_channels: int = Field(default=1, ge=1, le=64, description="image channels out")
    scale: Literal[1, 2, 3, 4] = Field(default=2, description="upscaling factor (1 = same-grid restoration)")
    num_feat: int = Field(default=64, ge=1, le=1024, description="trunk feature channels")
    num_block: int = Field(default=23, ge=0, le=128, description="RRDB blocks in the trunk")
    num_grow_ch: int = Field(default=32, ge=1, le=1024, description="growth channels of the dense blocks")
    residual_scale: float = Field(default=0.2, gt=0, le=1, description="scaling of dense-block residuals")
    negative_slope: float = Field(default=0.2, ge=0, lt=1, description="slope of the LeakyReLUs")
    init_scale: float = Field(default=0.1, gt=0, le=1, description="scaling of the dense-conv init weights")
    unshuffle_input: bool = Field(
        default=False,
        description="scales 1 and 2: pixel-unshuffle the input by 4/scale and upsample x4 (Real-ESRGAN)",
    )


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3×3 convs with a scaled residual."""

    def __init__(self, num_feat: int, num_grow_ch: int, cfg: RRDBNetConfig) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(num_feat + i * num_grow_ch, num_grow_ch if i < 4 else num_feat, 3, padding=1)
            for i in range(5)
        )
        self.act = nn.LeakyReLU(cfg.negative_slope, inplace=True)
        self.residual_scale = cfg.residual_scale
        for conv in cast(Iterable[nn.Conv2d], self.convs):
            nn.init.kaiming_normal_(conv.weight)
            conv.weight.data.mul_(cfg.init_scale)
            nn.init.zeros_(cast(torch.Tensor, conv.bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, F, H, W)`` to the same shape."""
        features = [x]
        for conv in self.convs[:-1]:
            features.append(self.act(conv(torch.cat(features, dim=1))))
        return x + self.residual_scale * self.convs[-1](torch.cat(features, dim=1))


class RRDB(nn.Module):
    """Residual-in-residual dense block: three dense blocks and a scaled residual."""

    def __init__(self, num_feat: int, num_grow_ch: int, cfg: RRDBNetConfig) -> None:
        super().__init__()
        self.rdbs = nn.Sequential(*(ResidualDenseBlock(num_feat, num_grow_ch, cfg) for _ in range(3)))
        self.residual_scale = cfg.residual_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, F, H, W)`` to the same shape."""
        return x + self.residual_scale * self.rdbs(x)


class RRDBNet(nn.Module):
    """ESRGAN generator mapping ``(B, C_in, H, W)`` to ``(B, C_out, s·H, s·W)``.

    Parameters
    ----------
    config
        Architecture; the defaults of :class:`RRDBNetConfig` when ``None``.

    Examples
    --------
    >>> import torch
    >>> cfg = RRDBNetConfig(num_feat=8, num_block=1, num_grow_ch=4, scale=3)
    >>> RRDBNet(cfg).eval()(torch.zeros(1, 1, 9, 7)).shape
    torch.Size([1, 1, 27, 21])
    """

    def __init__(self, config: RRDBNetConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else RRDBNetConfig()
        cfg = self.config
        nf = cfg.num_feat
        self.unshuffle = 4 // cfg.scale if cfg.unshuffle_input and cfg.scale in (1, 2) else 1
        if self.unshuffle > 1:
            self.steps: tuple[int, ...] = (2, 2)
        else:
            self.steps = {1: (), 2: (2,), 3: (3,), 4: (2, 2)}[cfg.scale]
        self.conv_first = nn.Conv2d(cfg.in_channels * self.unshuffle**2, nf, 3, padding=1)
        self.body = nn.Sequential(*(RRDB(nf, cfg.num_grow_ch, cfg) for _ in range(cfg.num_block)))
        self.conv_body = nn.Conv2d(nf, nf, 3, padding=1)
        self.conv_ups = nn.ModuleList(nn.Conv2d(nf, nf, 3, padding=1) for _ in self.steps)
        self.conv_hr = nn.Conv2d(nf, nf, 3, padding=1)
        self.conv_last = nn.Conv2d(nf, cfg.out_channels, 3, padding=1)
        self.act = nn.LeakyReLU(cfg.negative_slope, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(B, C_in, H, W)`` to ``(B, C_out, scale·H, scale·W)``."""
        cfg = self.config
        if x.ndim != 4 or x.shape[1] != cfg.in_channels:
            raise ValueError(
                f"RRDBNet expects a 4-D tensor (batch, {cfg.in_channels} channels, height, width); "
                f"got shape {tuple(x.shape)}"
            )
        h, w = x.shape[-2:]
        if self.unshuffle > 1:
            r = self.unshuffle
            pad_h, pad_w = (-h) % r, (-w) % r
            if pad_h or pad_w:
                mode = "reflect" if pad_h < h and pad_w < w else "replicate"
                x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
            x = F.pixel_unshuffle(x, r)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        for factor, conv in zip(self.steps, self.conv_ups, strict=True):
            feat = self.act(conv(F.interpolate(feat, scale_factor=factor, mode="nearest")))
        out = self.conv_last(self.act(self.conv_hr(feat)))
        return out[..., : cfg.scale * h, : cfg.scale * w]
