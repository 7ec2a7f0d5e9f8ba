"""UTSR: a U-shaped symmetric transformer for super-resolution (our reading of "Study B").

Study B (abstract only, no code) describes "a Transformer-based U-shaped symmetric network for
super-resolution with a Double Convolutional Feed-Forward Network (DCFFN) and Grouped Multi-scale
Window Self-Attention (GMSA)", of 45.72 G FLOPs, compared with SwinIR and Real-ESRGAN. Everything
below the abstract's words is our design, and every choice is a field of :class:`UTSRConfig`::

    x (B, C, H, W)
     │  pad (reflect) at the bottom/right to a multiple of 2^L    (L = len(depths); here L = 2)
     ▼
    conv 3×3, C → E ──────────────────────────────────────────────── F0 ─────┐
     ▼                                                                        │
    [blocks × depths[0]] @ E ─────────────────────── skip₀                    │
     ▼ down: 2×2 stride-2 conv, E → 2E                                        │
    [blocks × depths[1]] @ 2E ────────────────────── skip₁                    │
     ▼ down: 2×2 stride-2 conv, 2E → 4E                                       │
    [blocks × bottleneck_depth] @ 4E                                          │
     ▼ up: 3×3 conv 4E → 8E + PixelShuffle(2) → 2E                            │
    cat(·, skip₁) → 1×1 conv 4E → 2E → [blocks × depths[1]] @ 2E              │
     ▼ up: 3×3 conv 2E → 4E + PixelShuffle(2) → E                             │
    cat(·, skip₀) → 1×1 conv 2E → E → [blocks × depths[0]] @ E                │
     ▼                                                                        │
    conv 3×3, E → E,  + F0  ◄─────────────────────────────────────────────────┘
     ▼
    conv 3×3, E → C_out·s² → PixelShuffle(s),  + bilinear ×s upsampling of x,  crop to (s·H, s·W)

    block (on (B, H, W, C)):  x = x + GMSA(LayerNorm(x));  x = x + FFN(LayerNorm(x))

GMSA (after ELAN's grouped multi-scale self-attention, with separate q/k/v as in Swin): a linear
(1×1) projection to q, k, v; their channels are split into 3 groups that attend within
non-overlapping windows of ``window_sizes = (4, 8, 16)`` pixels respectively, ``num_heads`` heads
per group, with an optional relative position bias; on odd blocks of each stage the window grid
is shifted by half a window (cyclic shift + Swin mask); the groups are concatenated and projected
by a linear (1×1) layer. ``attention="single"`` is the ablation with one window size
(``single_window``) over all channels and ``3 × num_heads`` heads (same head width).

DCFFN: linear 1×1 expansion by ``ffn_ratio`` → depth-wise 3×3 conv → GELU → depth-wise 3×3 conv
→ linear 1×1 projection back; ``ffn="mlp"`` is the plain two-layer MLP (linear, GELU, linear).

Any ``H, W`` is accepted: the image is padded to a multiple of ``2**L`` for the down-sampling,
and inside each attention the feature map is zero-padded to a multiple of the window, the padding
masked out as keys and cropped back (a window side is reduced to the map's side, and not shifted,
where the map is not larger than the window, e.g. the 16-pixel group on small inputs).

Sizes (measured, grey, 1×1×64×64 input; FLOPs by :func:`xrsr_lib.models.flops.count_flops`, i.e.
2 per multiply-add, MACs = FLOPs / 2): the defaults (``embed_dim=48``, ``depths=(2, 2)``,
``bottleneck_depth=2``, 2 heads per group, scale 2) have 2,000,768 parameters and 3.19 G FLOPs
(1.60 G MACs). Study B's "45.72 G FLOPs" gives neither its input size nor its convention;
:meth:`UTSRConfig.paper_like` is a guess calibrated to it under the common reading of SR papers
(thop-style multiply-adds at a 64×64 input, ×4): 63.0 M parameters, 44.95 G MACs (89.9 G FLOPs)
at ×4, 44.88 G MACs at ×2.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal, cast

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

from xrsr_lib.models.swinir import (
    DropPath,
    ResidualInterpolation,
    WindowAttentionCore,
    ZeroInitHead,
    init_transformer_weights,
    pad_to_multiple,
    upsample_image,
)

__all__ = ["DCFFN", "GMSA", "GMSA_GROUPS", "UTSR", "TransformerStage", "UTSRBlock", "UTSRConfig"]

GMSA_GROUPS = 3
_Window = Annotated[int, Field(ge=2, le=64)]
_Depth = Annotated[int, Field(ge=0, le=32)]


class UTSRConfig(BaseModel):
    """Hyper-parameters of :class:`UTSR` (immutable, validated)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    in_channels: int = Field(default=1, ge=1, le=64, description="image channels in (1 = grey)")
    out_channels: int = Field(default=1, ge=1, le=64, description="image channels out")
    scale: Literal[1, 2, 3, 4] = Field(default=2, description="upscaling factor (1 = same-grid restoration)")
    embed_dim: int = Field(
        default=48, ge=3, le=1024, description="channels E at the first level (2^i E at level i)"
    )
    depths: tuple[_Depth, ...] = Field(
        default=(2, 2),
        min_length=1,
        max_length=4,
        description="transformer blocks per encoder level; the decoder mirrors them (symmetric U)",
    )
    bottleneck_depth: _Depth = Field(default=2, description="transformer blocks at the lowest resolution")
    num_heads: int = Field(
        default=2, ge=1, le=64, description="attention heads per window group (single attention: 3x this)"
    )
    attention: Literal["gmsa", "single"] = Field(
        default="gmsa", description="grouped multi-scale windows, or one window size over all channels"
    )
    window_sizes: tuple[_Window, ...] = Field(
        default=(4, 8, 16), description="window sides of the 3 channel groups of GMSA"
    )
    single_window: _Window = Field(default=8, description="window side of attention='single'")
    shift_windows: bool = Field(default=True, description="shift windows by half a window on odd blocks")
    relative_position_bias: bool = Field(default=True, description="learned relative position bias")
    qkv_bias: bool = Field(default=True, description="learnable bias of the q/k/v projection")
    ffn: Literal["dcffn", "mlp"] = Field(
        default="dcffn", description="double depth-wise conv feed-forward network, or a plain MLP"
    )
    ffn_ratio: float = Field(default=2.0, gt=0, le=16, description="FFN hidden width / block width")
    dcffn_init: Literal["identity", "default"] = Field(
        default="identity",
        description="DCFFN depth-wise kernels: near-identity (centre 1 + 0.1 × PyTorch's default) or default",
    )
    downsample: Literal["conv", "unshuffle"] = Field(
        default="conv", description="2x2 stride-2 conv, or 3x3 conv to C/2 + pixel-unshuffle(2)"
    )
    upsample: Literal["pixelshuffle", "transpose"] = Field(
        default="pixelshuffle", description="3x3 conv to 2C + pixel-shuffle(2), or 2x2 transposed conv"
    )
    skip_fusion: Literal["concat", "add"] = Field(
        default="concat", description="concatenate the skip and fuse by a 1x1 conv, or add it"
    )
    feature_residual: bool = Field(default=True, description="add the shallow features before the head")
    image_residual: bool = Field(default=True, description="add the bilinearly upsampled input to the output")
    residual_interpolation: ResidualInterpolation = "bilinear"
    zero_init_head: ZeroInitHead = False
    drop_path_rate: float = Field(
        default=0.0, ge=0, lt=1, description="stochastic depth, increasing linearly to this over blocks"
    )
    pad_mode: Literal["reflect", "replicate"] = Field(
        default="reflect",
        description="padding of the image to a multiple of 2^levels (reflect falls back "
        "to replicate on tiny images)",
    )

    @model_validator(mode="after")
    def _check(self) -> UTSRConfig:
        if self.attention == "gmsa" and len(self.window_sizes) != GMSA_GROUPS:
            raise ValueError(
                f"attention='gmsa' needs exactly {GMSA_GROUPS} window_sizes (one per channel group), "
                f"got {self.window_sizes}"
            )
        if self.embed_dim % (GMSA_GROUPS * self.num_heads):
            raise ValueError(
                f"embed_dim ({self.embed_dim}) must be divisible by {GMSA_GROUPS} groups x num_heads "
                f"({self.num_heads}) = {GMSA_GROUPS * self.num_heads}"
            )
        if self.downsample == "unshuffle" and self.embed_dim % 2:
            raise ValueError(f"downsample='unshuffle' needs an even embed_dim, got {self.embed_dim}")
        if self.image_residual and self.in_channels != self.out_channels:
            raise ValueError("image_residual needs in_channels == out_channels")
        return self

    @property
    def levels(self) -> int:
        """Number of down-samplings (``len(depths)``)."""
        return len(self.depths)

    @classmethod
    def paper_like(cls, **overrides: Any) -> UTSRConfig:
        """Return a configuration of the published model's size (a guess; see the module docstring).

        ELAN's width ``embed_dim=180`` (channels 180, 360, 720), two levels of 6 blocks and a
        bottleneck of 8 (32 blocks), 2 heads per group, windows (4, 8, 16), DCFFN ratio 2: about
        45 G multiply-adds at a 64×64 input. Fields can be overridden by keyword, e.g.
        ``UTSRConfig.paper_like(scale=4)``.
        """
        fields: dict[str, Any] = {
            "embed_dim": 180,
            "depths": (6, 6),
            "bottleneck_depth": 8,
            "num_heads": 2,
        }
        fields.update(overrides)
        return cls(**fields)


# --------------------------------------------------------------------------- building blocks


class GMSA(nn.Module):
    """Grouped multi-scale window self-attention on ``(B, H, W, C)``.

    q, k, v come from one linear projection; their channels are split into ``len(window_sizes)``
    equal groups, group ``g`` attending within windows of ``window_sizes[g]`` (``num_heads`` heads);
    the outputs are concatenated and projected. One window size gives plain (shifted) window MSA.

    Parameters
    ----------
    dim
        Channels in and out.
    window_sizes
        Window side of each channel group.
    num_heads
        Heads per group.
    shifted
        Shift each group's windows by half its window (Swin mask).
    qkv_bias, relative_position_bias
        See :class:`UTSRConfig`.
    """

    def __init__(
        self,
        dim: int,
        window_sizes: Sequence[int],
        num_heads: int,
        shifted: bool,
        qkv_bias: bool = True,
        relative_position_bias: bool = True,
    ) -> None:
        super().__init__()
        n_groups = len(window_sizes)
        if dim % (n_groups * num_heads):
            raise ValueError(f"dim {dim} is not divisible by {n_groups} groups x {num_heads} heads")
        self.window_sizes = tuple(window_sizes)
        self.shifted = shifted
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.groups = nn.ModuleList(
            WindowAttentionCore(dim // n_groups, num_heads, ws, shifted, relative_position_bias)
            for ws in window_sizes
        )
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, H, W, C)`` to the same shape, for any ``H, W``."""
        n = len(self.groups)
        q, k, v = (t.chunk(n, dim=-1) for t in self.qkv(x).chunk(3, dim=-1))
        out = [core(qg, kg, vg) for core, qg, kg, vg in zip(self.groups, q, k, v, strict=True)]
        return self.proj(torch.cat(out, dim=-1))


class DCFFN(nn.Module):
    """Double convolutional FFN on ``(B, H, W, C)``: 1×1 up, dw 3×3, GELU, dw 3×3, 1×1 down."""

    def __init__(self, dim: int, ratio: float, init: str = "identity") -> None:
        super().__init__()
        hidden = max(1, round(dim * ratio))
        self.expand = nn.Linear(dim, hidden)
        self.dwconv1 = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.act = nn.GELU()
        self.dwconv2 = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.project = nn.Linear(hidden, dim)
        if init == "identity":
            # near-identity depth-wise kernels: the block starts as the MLP and learns its spatial
            # mixing; two default-initialised depth-wise convs in series shrink the signal and
            # slow down the start of training
            with torch.no_grad():
                for conv in (self.dwconv1, self.dwconv2):
                    conv.weight.mul_(0.1)
                    conv.weight[:, 0, 1, 1] += 1.0
                    cast(torch.Tensor, conv.bias).zero_()
        elif init != "default":
            raise ValueError(f"unknown DCFFN init {init!r}; choose 'identity' or 'default'")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, H, W, C)`` to the same shape."""
        y = self.expand(x).permute(0, 3, 1, 2)
        y = self.dwconv2(self.act(self.dwconv1(y)))
        return self.project(y.permute(0, 2, 3, 1))


def _mlp(dim: int, ratio: float) -> nn.Sequential:
    hidden = max(1, round(dim * ratio))
    return nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))


class UTSRBlock(nn.Module):
    """Pre-norm transformer block on ``(B, H, W, C)``: attention and FFN, each with a residual."""

    def __init__(self, dim: int, cfg: UTSRConfig, shifted: bool, drop_path: float) -> None:
        super().__init__()
        if cfg.attention == "gmsa":
            windows, heads = cfg.window_sizes, cfg.num_heads
        else:
            windows, heads = (cfg.single_window,), GMSA_GROUPS * cfg.num_heads
        self.norm1 = nn.LayerNorm(dim)
        self.attn = GMSA(dim, windows, heads, shifted, cfg.qkv_bias, cfg.relative_position_bias)
        self.norm2 = nn.LayerNorm(dim)
        if cfg.ffn == "dcffn":
            self.ffn: nn.Module = DCFFN(dim, cfg.ffn_ratio, cfg.dcffn_init)
        else:
            self.ffn = _mlp(dim, cfg.ffn_ratio)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, H, W, C)`` to the same shape."""
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.ffn(self.norm2(x)))


class TransformerStage(nn.Module):
    """``depth`` :class:`UTSRBlock` blocks on a ``(B, C, H, W)`` map; shifted windows on odd blocks."""

    def __init__(self, dim: int, depth: int, cfg: UTSRConfig, drop_paths: Sequence[float]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            UTSRBlock(dim, cfg, shifted=cfg.shift_windows and i % 2 == 1, drop_path=drop_paths[i])
            for i in range(depth)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` to the same shape."""
        if not self.blocks:
            return x
        y = x.permute(0, 2, 3, 1)
        for block in self.blocks:
            y = block(y)
        return y.permute(0, 3, 1, 2)


def _downsampler(dim: int, kind: str) -> nn.Module:
    """Halve the resolution, double the channels."""
    if kind == "conv":
        return nn.Conv2d(dim, 2 * dim, kernel_size=2, stride=2)
    return nn.Sequential(nn.Conv2d(dim, dim // 2, 3, padding=1), nn.PixelUnshuffle(2))


def _upsampler(dim: int, kind: str) -> nn.Module:
    """Double the resolution, halve the channels (``dim`` → ``dim // 2``)."""
    if kind == "pixelshuffle":
        return nn.Sequential(nn.Conv2d(dim, 2 * dim, 3, padding=1), nn.PixelShuffle(2))
    return nn.ConvTranspose2d(dim, dim // 2, kernel_size=2, stride=2)


# --------------------------------------------------------------------------- the network


class UTSR(nn.Module):
    """U-shaped symmetric transformer mapping ``(B, C_in, H, W)`` to ``(B, C_out, s·H, s·W)``.

    Parameters
    ----------
    config
        Architecture; the defaults of :class:`UTSRConfig` when ``None``.

    Examples
    --------
    >>> import torch
    >>> cfg = UTSRConfig(embed_dim=12, num_heads=1, depths=(1,), bottleneck_depth=1, scale=2)
    >>> UTSR(cfg).eval()(torch.zeros(1, 1, 9, 7)).shape
    torch.Size([1, 1, 18, 14])
    """

    def __init__(self, config: UTSRConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else UTSRConfig()
        cfg = self.config
        e = cfg.embed_dim
        n_blocks = 2 * sum(cfg.depths) + cfg.bottleneck_depth
        rates = iter(torch.linspace(0, cfg.drop_path_rate, max(n_blocks, 1)).tolist())

        def stage(dim: int, depth: int) -> TransformerStage:
            return TransformerStage(dim, depth, cfg, [next(rates) for _ in range(depth)])

        self.embed = nn.Conv2d(cfg.in_channels, e, 3, padding=1)
        self.encoders = nn.ModuleList()
        self.downsamplers = nn.ModuleList()
        for level, depth in enumerate(cfg.depths):
            self.encoders.append(stage(e * 2**level, depth))
            self.downsamplers.append(_downsampler(e * 2**level, cfg.downsample))
        self.bottleneck = stage(e * 2**cfg.levels, cfg.bottleneck_depth)
        self.upsamplers = nn.ModuleList()
        self.fusions = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for level in reversed(range(cfg.levels)):
            dim = e * 2**level
            self.upsamplers.append(_upsampler(2 * dim, cfg.upsample))
            self.fusions.append(nn.Conv2d(2 * dim, dim, 1) if cfg.skip_fusion == "concat" else nn.Identity())
            self.decoders.append(stage(dim, cfg.depths[level]))
        self.refine = nn.Conv2d(e, e, 3, padding=1)
        self.head = nn.Sequential(
            nn.Conv2d(e, cfg.out_channels * cfg.scale**2, 3, padding=1), nn.PixelShuffle(cfg.scale)
        )
        self.apply(init_transformer_weights)
        if cfg.zero_init_head:
            head = cast(nn.Conv2d, self.head[0])
            nn.init.zeros_(head.weight)
            nn.init.zeros_(cast(torch.Tensor, head.bias))

    @property
    def size_multiple(self) -> int:
        """The image is padded internally to a multiple of this (``2**levels``)."""
        return 2**self.config.levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(B, C_in, H, W)`` to ``(B, C_out, scale·H, scale·W)``."""
        cfg = self.config
        if x.ndim != 4 or x.shape[1] != cfg.in_channels:
            raise ValueError(
                f"UTSR expects a 4-D tensor (batch, {cfg.in_channels} channels, height, width); "
                f"got shape {tuple(x.shape)}"
            )
        h, w = x.shape[-2:]
        f0 = self.embed(pad_to_multiple(x, self.size_multiple, cfg.pad_mode))
        y = f0
        skips = []
        for encoder, down in zip(self.encoders, self.downsamplers, strict=True):
            y = encoder(y)
            skips.append(y)
            y = down(y)
        y = self.bottleneck(y)
        for up, fuse, decoder, skip in zip(
            self.upsamplers, self.fusions, self.decoders, reversed(skips), strict=True
        ):
            y = up(y)
            y = fuse(torch.cat([y, skip], dim=1)) if cfg.skip_fusion == "concat" else y + skip
            y = decoder(y)
        y = self.refine(y)
        if cfg.feature_residual:
            y = y + f0
        out = self.head(y)[..., : cfg.scale * h, : cfg.scale * w]
        if cfg.image_residual:
            out = out + upsample_image(x, cfg.scale, cfg.residual_interpolation)
        return out
