"""SwinIR: image restoration with residual Swin transformer groups (lightweight SR variant).

After Liang et al. (2021), "SwinIR: Image Restoration Using Swin Transformer" (ICCV workshops),
in the lightweight super-resolution configuration, for grey images by default::

    x (B, C, H, W) ── pad (reflect) to a multiple of the window ──┐
                                                                  ▼
    conv 3×3 (C → E) ─── F0 ──► LayerNorm ─► RSTB₁ ─► … ─► RSTBₙ ─► LayerNorm ─► conv 3×3 ─► (+ F0)
                                                                                               │
    crop to (s·H, s·W) ◄── PixelShuffle(s) ◄── conv 3×3 (E → C_out·s²)  ("pixelshuffledirect") ◄┘

    RSTB:  y ─► [Swin block] × depth ─► conv 3×3 ─► (+ y)
    Swin block:  x + MSA(LN(x)) in windows of w×w (shifted by w/2 on odd blocks, with the mask);
                 then x + MLP(LN(x)) (Linear E → r·E, GELU, Linear r·E → E).

Defaults are the lightweight model: ``embed_dim=60``, four groups of depth 6, 6 heads, window 8,
MLP ratio 2, relative position bias, stochastic depth 0.1. The input is zero-mean already for
grey images (SwinIR subtracts the DIV2K RGB mean only for 3-channel images, and uses
``img_range=1``), so no normalisation is applied here. With ``image_residual`` the bilinearly
upsampled input is added to the output (SwinIR's denoising models add the input at scale 1; its
SR models do not).

Any ``H, W`` is accepted: like SwinIR's ``check_image_size``, the input is padded at the
bottom/right to a multiple of ``window_size`` (reflect, or replicate where the image is too small
for reflect) and the output cropped back. The shifted-window masks are computed for the actual
(padded) size at run time and cached.

This module also hosts the windowed-attention machinery shared with :mod:`xrsr_lib.models.utsr`:
:func:`window_partition`, :func:`window_reverse`, :func:`shifted_window_blocked` (the mask) and
:class:`WindowAttentionCore`.

Parameter counts (measured): the defaults (grey, scale 2) have 904,744 trainable parameters
(911,236 at scale 4). With ``in_channels=out_channels=3`` they have 910,152 (×2) and 929,628 (×4);
without the 24 relative-position-bias tables (32,400 parameters) these are the 878 K and 897 K
that the paper reports for lightweight SwinIR.
"""

from __future__ import annotations

import functools
import math
from typing import Annotated, Literal, cast

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

__all__ = [
    "RSTB",
    "DropPath",
    "SwinBlock",
    "SwinIR",
    "SwinIRConfig",
    "WindowAttentionCore",
    "init_transformer_weights",
    "pad_to_multiple",
    "shifted_window_blocked",
    "upsample_image",
    "window_partition",
    "window_reverse",
]

Scale = Literal[1, 2, 3, 4]


# --------------------------------------------------------------------------- shared helpers


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = "reflect") -> torch.Tensor:
    """Pad the last two dims of ``x`` at the bottom/right up to a multiple of ``multiple``.

    ``mode="reflect"`` falls back to ``"replicate"`` where a padding is not smaller than the size
    (reflect padding is impossible there).
    """
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    if pad_h == 0 and pad_w == 0:
        return x
    if mode == "reflect" and not (pad_h < h and pad_w < w):
        mode = "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


class DropPath(nn.Module):
    """Stochastic depth: zero a residual branch per sample with probability ``p`` (training only)."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Identity in eval mode or when ``p == 0``; otherwise drop and rescale by ``1 / (1 - p)``."""
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        """Return the drop probability for the module's ``repr``."""
        return f"p={self.p}"


def window_partition(x: torch.Tensor, wh: int, ww: int) -> torch.Tensor:
    """Split ``(B, H, W, C)`` into ``(B·nW, wh·ww, C)`` windows (``H, W`` multiples of ``wh, ww``).

    Windows are ordered batch-major, then row-major over the window grid.
    """
    b, h, w, c = x.shape
    x = x.view(b, h // wh, wh, w // ww, ww, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, wh * ww, c)


def window_reverse(windows: torch.Tensor, wh: int, ww: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: ``(B·nW, wh·ww, C)`` back to ``(B, H, W, C)``."""
    c = windows.shape[-1]
    b = windows.shape[0] // ((h // wh) * (w // ww))
    x = windows.view(b, h // wh, w // ww, wh, ww, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, w, c)


@functools.lru_cache(maxsize=128)
def shifted_window_blocked(
    height: int, width: int, wh: int, ww: int, shift_h: int, shift_w: int
) -> torch.Tensor | None:
    """Which query→key pairs are forbidden in windowed attention, as a bool ``(nW, N, N)`` tensor.

    The feature map of ``height × width`` is zero-padded at the bottom/right to multiples of
    ``wh × ww`` and cyclically shifted by ``(-shift_h, -shift_w)`` before the window partition
    (``N = wh·ww``, ``nW`` windows). Inside a window, a key is forbidden (``True``) when

    * it came from the other side of the cyclic wrap-around than the query (the Swin mask: pixels
      that wrapped around are not neighbours of the ones they now share a window with), or
    * it is padding (outside the ``height × width`` map),

    except that every pixel may always attend to itself, so no softmax row is empty (rows of
    padded queries are cropped away afterwards). ``None`` when nothing is forbidden (no shift, no
    padding). Cached; do not modify the result in place.
    """
    hp, wp = math.ceil(height / wh) * wh, math.ceil(width / ww) * ww
    if shift_h == 0 and shift_w == 0 and hp == height and wp == width:
        return None
    # cached tensors must be ordinary ones even when first built under torch.inference_mode()
    with torch.inference_mode(False):
        return _blocked_mask(height, width, wh, ww, shift_h, shift_w, hp, wp)


def _blocked_mask(
    height: int, width: int, wh: int, ww: int, shift_h: int, shift_w: int, hp: int, wp: int
) -> torch.Tensor:
    rows = torch.arange(hp) + shift_h  # original row (before wrap) of each shifted row
    cols = torch.arange(wp) + shift_w
    label = (rows >= hp).long()[:, None] * 2 + (cols >= wp).long()[None, :]  # wrapped in h / in w
    valid = ((rows % hp) < height)[:, None] & ((cols % wp) < width)[None, :]
    label_w = window_partition(label[None, :, :, None], wh, ww)[..., 0]  # (nW, N)
    valid_w = window_partition(valid[None, :, :, None], wh, ww)[..., 0]
    allowed = (label_w[:, :, None] == label_w[:, None, :]) & valid_w[:, None, :]
    allowed |= torch.eye(wh * ww, dtype=torch.bool)
    return ~allowed


@functools.lru_cache(maxsize=128)
def _relative_position_index(wh: int, ww: int, window: int) -> torch.Tensor:
    """``(N, N)`` index into a ``(2·window − 1)²`` relative-position table for a ``wh × ww`` window."""
    with torch.inference_mode(False):  # cached: an ordinary tensor even if built under inference mode
        coords = torch.stack(torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing="ij")).flatten(1)
        rel = coords[:, :, None] - coords[:, None, :] + (window - 1)  # (2, N, N), in [0, 2·window − 2]
        return rel[0] * (2 * window - 1) + rel[1]


class WindowAttentionCore(nn.Module):
    """Multi-head self-attention of given q, k, v maps inside non-overlapping (shifted) windows.

    No projections: :class:`SwinIR`'s blocks and :class:`~xrsr_lib.models.utsr.GMSA` wrap it with
    their q/k/v and output projections.

    Parameters
    ----------
    dim
        Channels of q, k and v (split into ``num_heads`` heads).
    num_heads
        Attention heads.
    window_size
        Side ``w`` of the square windows.
    shifted
        Shift the window grid by ``w // 2`` (cyclic shift + mask, as in Swin).
    relative_position_bias
        Learn a ``(2w − 1)² × num_heads`` table of biases added to the attention logits.
    adapt_to_small_inputs
        When a side of the feature map is not larger than ``w``, use a window of the map's size
        along it and no shift (one window already covers it), as Swin does for small stages.
        When false, such maps are padded to ``w`` (masked) and still shifted.

    Notes
    -----
    Maps whose size is not a multiple of the window are zero-padded at the bottom/right; the
    padded keys are masked out (see :func:`shifted_window_blocked`), so the padding never
    influences real pixels, and the output is cropped back.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: int,
        shifted: bool,
        relative_position_bias: bool = True,
        adapt_to_small_inputs: bool = True,
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.dim = dim
        self.num_heads = num_heads
        self.window_size = window_size
        self.shifted = shifted
        self.adapt_to_small_inputs = adapt_to_small_inputs
        self.scale = (dim // num_heads) ** -0.5
        if relative_position_bias:
            self.relative_position_bias_table = nn.Parameter(
                torch.zeros((2 * window_size - 1) ** 2, num_heads)
            )
            nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        else:
            self.register_parameter("relative_position_bias_table", None)

    def geometry(self, height: int, width: int) -> tuple[int, int, int, int]:
        """Window height/width and shift along h/w used for a ``height × width`` map."""
        ws = self.window_size
        shift = ws // 2 if self.shifted else 0
        if not self.adapt_to_small_inputs:
            return ws, ws, shift, shift
        wh, ww = min(ws, height), min(ws, width)
        return wh, ww, (shift if height > ws else 0), (shift if width > ws else 0)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Attend ``(B, H, W, dim)`` queries to keys/values of the same windows; same shape out."""
        b, h, w, c = q.shape
        wh, ww, sh, sw = self.geometry(h, w)
        hp, wp = math.ceil(h / wh) * wh, math.ceil(w / ww) * ww
        n, heads = wh * ww, self.num_heads

        def to_windows(t: torch.Tensor) -> torch.Tensor:
            if hp != h or wp != w:
                t = F.pad(t, (0, 0, 0, wp - w, 0, hp - h))
            if sh or sw:
                t = torch.roll(t, shifts=(-sh, -sw), dims=(1, 2))
            return window_partition(t, wh, ww).view(-1, n, heads, c // heads).transpose(1, 2)

        qw, kw, vw = to_windows(q * self.scale), to_windows(k), to_windows(v)  # (B·nW, heads, N, d)
        attn = qw @ kw.transpose(-2, -1)  # (B·nW, heads, N, N)
        if self.relative_position_bias_table is not None:
            index = _relative_position_index(wh, ww, self.window_size).to(attn.device)
            bias = self.relative_position_bias_table[index.view(-1)].view(n, n, heads).permute(2, 0, 1)
            attn = attn + bias.to(attn.dtype)
        blocked = shifted_window_blocked(h, w, wh, ww, sh, sw)
        if blocked is not None:
            n_win = blocked.shape[0]
            blocked = blocked.to(attn.device)[None, :, None]  # (1, nW, 1, N, N)
            attn = attn.view(b, n_win, heads, n, n).masked_fill(blocked, float("-inf")).view(-1, heads, n, n)
        out = (attn.softmax(dim=-1) @ vw).transpose(1, 2).reshape(-1, n, c)
        out = window_reverse(out, wh, ww, hp, wp)
        if sh or sw:
            out = torch.roll(out, shifts=(sh, sw), dims=(1, 2))
        return out[:, :h, :w, :]

    def extra_repr(self) -> str:
        """Return the width, heads, window size and shift for the module's ``repr``."""
        return (
            f"dim={self.dim}, num_heads={self.num_heads}, window_size={self.window_size}, "
            f"shifted={self.shifted}"
        )


def init_transformer_weights(module: nn.Module) -> None:
    """Swin-style initialisation: truncated normal (std 0.02) linear weights, zero biases, unit norms."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


# --------------------------------------------------------------------------- SwinIR


#: Config fields shared by the transformer SR networks (SwinIR, UTSR).
ResidualInterpolation = Annotated[
    Literal["bilinear", "bicubic"],
    Field(description="interpolation of the image residual (torch, align_corners=False)"),
]
ZeroInitHead = Annotated[
    bool,
    Field(
        description="initialise the last convolution to zero, so that with image_residual the untrained "
        "network returns the interpolated input and learns a correction to it"
    ),
]


class SwinIRConfig(BaseModel):
    """Hyper-parameters of :class:`SwinIR` (immutable, validated); defaults = lightweight SwinIR."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    in_channels: int = Field(default=1, ge=1, le=64, description="image channels in (1 = grey)")
    out_channels: int = Field(default=1, ge=1, le=64, description="image channels out")
    scale: Scale = Field(default=2, description="upscaling factor (1 = same-grid restoration)")
    embed_dim: int = Field(default=60, ge=1, le=1024, description="feature channels of the transformer")
    depths: tuple[int, ...] = Field(
        default=(6, 6, 6, 6), description="Swin blocks in each residual Swin transformer group (RSTB)"
    )
    num_heads: int = Field(default=6, ge=1, le=64, description="attention heads in every block")
    window_size: int = Field(default=8, ge=2, le=64, description="side of the attention windows")
    mlp_ratio: float = Field(default=2.0, gt=0, le=16, description="MLP hidden width / embed_dim")
    qkv_bias: bool = Field(default=True, description="learnable bias of the q/k/v projection")
    relative_position_bias: bool = Field(default=True, description="learned relative position bias")
    patch_norm: bool = Field(default=True, description="LayerNorm after the shallow feature embedding")
    drop_path_rate: float = Field(
        default=0.1, ge=0, lt=1, description="stochastic depth, increasing linearly to this over blocks"
    )
    upsampler: Literal["pixelshuffledirect"] = Field(
        default="pixelshuffledirect", description="one 3x3 conv to out_channels*scale^2 + PixelShuffle(scale)"
    )
    image_residual: bool = Field(
        default=False, description="add the bilinearly upsampled input to the output"
    )
    residual_interpolation: ResidualInterpolation = "bilinear"
    zero_init_head: ZeroInitHead = False

    @model_validator(mode="after")
    def _check(self) -> SwinIRConfig:
        if not self.depths or any(d < 1 for d in self.depths):
            raise ValueError(f"depths must be a non-empty tuple of positive block counts, got {self.depths}")
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"embed_dim ({self.embed_dim}) must be divisible by num_heads ({self.num_heads})"
            )
        if self.image_residual and self.in_channels != self.out_channels:
            raise ValueError("image_residual needs in_channels == out_channels")
        return self


class SwinBlock(nn.Module):
    """Swin transformer block on ``(B, H, W, C)``: windowed MSA and MLP, each pre-norm and residual."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: int,
        shifted: bool,
        mlp_ratio: float,
        qkv_bias: bool,
        relative_position_bias: bool,
        drop_path: float,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.attn = WindowAttentionCore(
            dim, num_heads, window_size, shifted, relative_position_bias, adapt_to_small_inputs=False
        )
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        hidden = max(1, int(dim * mlp_ratio))
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, H, W, C)`` to the same shape; ``H, W`` must be multiples of the window size."""
        q, k, v = self.qkv(self.norm1(x)).chunk(3, dim=-1)
        x = x + self.drop_path(self.proj(self.attn(q, k, v)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class RSTB(nn.Module):
    """Residual Swin transformer group: Swin blocks (shift on odd ones), a 3×3 conv, a skip."""

    def __init__(self, dim: int, depth: int, cfg: SwinIRConfig, drop_paths: list[float]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            SwinBlock(
                dim,
                cfg.num_heads,
                cfg.window_size,
                shifted=i % 2 == 1,
                mlp_ratio=cfg.mlp_ratio,
                qkv_bias=cfg.qkv_bias,
                relative_position_bias=cfg.relative_position_bias,
                drop_path=drop_paths[i],
            )
            for i in range(depth)
        )
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, H, W, C)`` to the same shape."""
        y = x
        for block in self.blocks:
            y = block(y)
        y = self.conv(y.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return x + y


class SwinIR(nn.Module):
    """Lightweight SwinIR mapping ``(B, C_in, H, W)`` to ``(B, C_out, s·H, s·W)``.

    Parameters
    ----------
    config
        Architecture; the defaults of :class:`SwinIRConfig` (lightweight SwinIR) when ``None``.

    Examples
    --------
    >>> import torch
    >>> cfg = SwinIRConfig(embed_dim=12, depths=(2,), num_heads=2, window_size=4, scale=2)
    >>> SwinIR(cfg).eval()(torch.zeros(1, 1, 9, 7)).shape
    torch.Size([1, 1, 18, 14])
    """

    def __init__(self, config: SwinIRConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else SwinIRConfig()
        cfg = self.config
        e = cfg.embed_dim
        self.conv_first = nn.Conv2d(cfg.in_channels, e, 3, padding=1)
        self.patch_norm = nn.LayerNorm(e) if cfg.patch_norm else nn.Identity()
        rates = torch.linspace(0, cfg.drop_path_rate, sum(cfg.depths)).tolist()
        self.layers = nn.ModuleList()
        start = 0
        for depth in cfg.depths:
            self.layers.append(RSTB(e, depth, cfg, rates[start : start + depth]))
            start += depth
        self.norm = nn.LayerNorm(e)
        self.conv_after_body = nn.Conv2d(e, e, 3, padding=1)
        self.upsample = nn.Sequential(
            nn.Conv2d(e, cfg.out_channels * cfg.scale**2, 3, padding=1), nn.PixelShuffle(cfg.scale)
        )
        self.apply(init_transformer_weights)
        if cfg.zero_init_head:
            head = cast(nn.Conv2d, self.upsample[0])
            nn.init.zeros_(head.weight)
            nn.init.zeros_(cast(torch.Tensor, head.bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(B, C_in, H, W)`` to ``(B, C_out, scale·H, scale·W)``."""
        cfg = self.config
        if x.ndim != 4 or x.shape[1] != cfg.in_channels:
            raise ValueError(
                f"SwinIR expects a 4-D tensor (batch, {cfg.in_channels} channels, height, width); "
                f"got shape {tuple(x.shape)}"
            )
        h, w = x.shape[-2:]
        feat = self.conv_first(pad_to_multiple(x, cfg.window_size))
        y = self.patch_norm(feat.permute(0, 2, 3, 1))
        for layer in self.layers:
            y = layer(y)
        y = self.norm(y).permute(0, 3, 1, 2)
        y = self.conv_after_body(y) + feat
        out = self.upsample(y)[..., : cfg.scale * h, : cfg.scale * w]
        if cfg.image_residual:
            out = out + upsample_image(x, cfg.scale, cfg.residual_interpolation)
        return out


def upsample_image(x: torch.Tensor, scale: int, mode: str = "bilinear") -> torch.Tensor:
    """``x`` interpolated by ``scale`` (``mode`` "bilinear" or "bicubic", pixel-area geometry)."""
    if scale == 1:
        return x
    return F.interpolate(x, scale_factor=scale, mode=mode, align_corners=False)
