"""Tests of the Study B networks (UTSR, SwinIR, RRDBNet) and of the FLOP counter.

Shapes for odd sizes and every scale, gradient flow, the ablation switches of UTSR, the
shifted-window attention mask (via input gradients), overfitting one image pair, FLOP counts
against the analytic values, and configuration validation. Small configurations throughout; the
file runs in well under a minute on one CPU thread.
"""

from __future__ import annotations

import math

import pydantic
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from xrsr_lib.models.flops import count_flops
from xrsr_lib.models.rrdbnet import RRDBNet, RRDBNetConfig
from xrsr_lib.models.swinir import SwinIR, SwinIRConfig, WindowAttentionCore
from xrsr_lib.models.utsr import DCFFN, GMSA, UTSR, TransformerStage, UTSRBlock, UTSRConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


TINY_UTSR = {"embed_dim": 12, "num_heads": 1, "depths": (1,), "bottleneck_depth": 2}
TINY_SWINIR = {"embed_dim": 12, "depths": (2,), "num_heads": 2, "window_size": 4, "drop_path_rate": 0.0}
TINY_RRDB = {"num_feat": 8, "num_block": 1, "num_grow_ch": 4}


def _build(kind: str, scale: int, **extra: object) -> nn.Module:
    if kind == "utsr":
        return UTSR(UTSRConfig(scale=scale, **TINY_UTSR, **extra))
    if kind == "swinir":
        return SwinIR(SwinIRConfig(scale=scale, **TINY_SWINIR, **extra))
    return RRDBNet(RRDBNetConfig(scale=scale, **TINY_RRDB, **extra))


def _check_forward_backward(net: nn.Module, shape: tuple[int, int, int, int], scale: int) -> None:
    b, c, h, w = shape
    out = net(torch.randn(shape))
    assert out.shape == (b, c, scale * h, scale * w)
    assert torch.isfinite(out).all()
    out.square().mean().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, f"no gradient reached {name}"
        assert torch.isfinite(p.grad).all(), f"non-finite gradient in {name}"


# --------------------------------------------------------------------------- shapes and gradients


@pytest.mark.parametrize("shape", [(1, 1, 17, 23), (2, 1, 33, 20)])
@pytest.mark.parametrize("scale", [1, 2, 3, 4])
@pytest.mark.parametrize("kind", ["utsr", "swinir", "rrdbnet"])
def test_output_shape_and_gradients(kind: str, scale: int, shape: tuple[int, int, int, int]) -> None:
    _check_forward_backward(_build(kind, scale), shape, scale)


@pytest.mark.parametrize("scale", [1, 2])
def test_rrdbnet_real_esrgan_unshuffle_variant(scale: int) -> None:
    net = _build("rrdbnet", scale, unshuffle_input=True)
    assert net.unshuffle == 4 // scale and net.steps == (2, 2)
    assert net.conv_first.in_channels == (4 // scale) ** 2
    _check_forward_backward(net, (1, 1, 17, 23), scale)


@pytest.mark.parametrize("kind", ["utsr", "swinir", "rrdbnet"])
def test_multichannel_and_tiny_inputs(kind: str) -> None:
    net = _build(kind, 2, in_channels=3, out_channels=3).eval()
    for h, w in [(1, 1), (3, 2), (5, 7)]:  # smaller than every window and than 2**levels
        out = net(torch.rand(1, 3, h, w))
        assert out.shape == (1, 3, 2 * h, 2 * w) and torch.isfinite(out).all()


@pytest.mark.parametrize("kind", ["utsr", "swinir", "rrdbnet"])
def test_wrong_input_raises(kind: str) -> None:
    net = _build(kind, 2)
    with pytest.raises(ValueError, match="channels"):
        net(torch.zeros(1, 2, 8, 8))
    with pytest.raises(ValueError, match="4-D"):
        net(torch.zeros(1, 8, 8))


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_utsr_zero_head_returns_the_interpolated_input(mode: str) -> None:
    net = _build("utsr", 2, residual_interpolation=mode).eval()
    with torch.no_grad():
        net.head[0].weight.zero_()
        net.head[0].bias.zero_()
    x = torch.rand(1, 1, 9, 14)
    expected = F.interpolate(x, scale_factor=2, mode=mode, align_corners=False)
    torch.testing.assert_close(net(x), expected)


def test_config_round_trip() -> None:
    for net in (_build("utsr", 3), _build("swinir", 3), _build("rrdbnet", 3)):
        rebuilt = type(net)(type(net.config).model_validate(net.config.model_dump()))
        assert rebuilt.config == net.config
        assert sum(p.numel() for p in rebuilt.parameters()) == sum(p.numel() for p in net.parameters())


# --------------------------------------------------------------------------- UTSR structure and ablations


@pytest.mark.parametrize("attention", ["gmsa", "single"])
@pytest.mark.parametrize("ffn", ["dcffn", "mlp"])
def test_utsr_ablations(attention: str, ffn: str) -> None:
    net = _build("utsr", 2, attention=attention, ffn=ffn)
    blocks = [m for m in net.modules() if isinstance(m, UTSRBlock)]
    assert len(blocks) == 2 * 1 + 2
    for block in blocks:
        windows = [core.window_size for core in block.attn.groups]
        assert windows == ([4, 8, 16] if attention == "gmsa" else [8])
        dim = block.norm1.normalized_shape[0]
        assert [core.dim for core in block.attn.groups] == [dim // len(windows)] * len(windows)
        assert all(core.num_heads == (1 if attention == "gmsa" else 3) for core in block.attn.groups)
        assert isinstance(block.ffn, DCFFN) == (ffn == "dcffn")
    _check_forward_backward(net, (1, 1, 17, 23), 2)


def test_utsr_shift_alternates_and_variants() -> None:
    net = UTSR(UTSRConfig(embed_dim=12, num_heads=1, depths=(3, 2), bottleneck_depth=4))
    stages = [m for m in net.modules() if isinstance(m, TransformerStage)]
    assert len(stages) == 5  # 2 encoder levels, bottleneck, 2 decoder levels
    for stage in stages:
        shifts = [block.attn.shifted for block in stage.blocks]
        assert shifts == [i % 2 == 1 for i in range(len(stage.blocks))]
        for block in stage.blocks:
            assert all(core.shifted == block.attn.shifted for core in block.attn.groups)
    unshifted = UTSR(UTSRConfig(**TINY_UTSR, shift_windows=False))
    assert not any(m.shifted for m in unshifted.modules() if isinstance(m, GMSA))
    variants = {"downsample": "unshuffle", "upsample": "transpose", "skip_fusion": "add"}
    other = UTSR(UTSRConfig(embed_dim=12, num_heads=1, depths=(1, 1), bottleneck_depth=1, **variants))
    _check_forward_backward(other, (2, 1, 13, 10), 2)


def test_utsr_small_inputs_shrink_large_windows() -> None:
    core = WindowAttentionCore(dim=4, num_heads=1, window_size=16, shifted=True)
    assert core.geometry(5, 40) == (5, 16, 0, 8)  # one window, unshifted, along the short side
    fixed = WindowAttentionCore(dim=4, num_heads=1, window_size=16, shifted=True, adapt_to_small_inputs=False)
    assert fixed.geometry(5, 40) == (16, 16, 8, 8)
    net = _build("utsr", 2).eval()
    out = net(torch.rand(2, 1, 11, 6))  # smaller than the 16-pixel window at every level
    assert out.shape == (2, 1, 22, 12) and torch.isfinite(out).all()


# --------------------------------------------------------------------------- the shifted-window mask


def _window_1d(i: int, n: int, ws: int, shifted: bool, adapt: bool) -> set[int]:
    """Indices along one axis that share pixel ``i``'s (shifted) window, derived independently."""
    if adapt and n <= ws:
        return set(range(n))
    s = ws // 2 if shifted else 0
    if i < s:  # the first s pixels wrap around to the far end and form a window of their own
        return set(range(s))
    return {j for j in range(s, n) if (j - s) // ws == (i - s) // ws}


@pytest.mark.parametrize(
    ("height", "width", "shifted", "adapt"),
    [(13, 10, True, True), (13, 10, False, True), (8, 12, True, False), (6, 11, True, True)],
)
def test_window_attention_depends_only_on_own_window(
    height: int, width: int, shifted: bool, adapt: bool
) -> None:
    ws, dim = 4, 4
    attn = GMSA(dim, (ws,), num_heads=2, shifted=shifted)
    attn.groups[0].adapt_to_small_inputs = adapt
    x = torch.randn(1, height, width, dim, requires_grad=True)
    out = attn(x)
    for pi, pj in [(0, 0), (1, 1), (2, 3), (5, 9), (height - 1, width - 1), (height // 2, 0), (7, 2)]:
        if pi >= height or pj >= width:
            continue
        (grad,) = torch.autograd.grad(out[0, pi, pj].sum(), x, retain_graph=True)
        depends = grad[0].abs().sum(-1) > 0
        rows = _window_1d(pi, height, ws, shifted, adapt)
        cols = _window_1d(pj, width, ws, shifted, adapt)
        expected = torch.zeros(height, width, dtype=torch.bool)
        expected[torch.tensor(sorted(rows))[:, None], torch.tensor(sorted(cols))[None, :]] = True
        assert torch.equal(depends, expected), f"pixel {(pi, pj)}: {depends.int()} vs {expected.int()}"


def test_padding_is_invisible_to_attention() -> None:
    # Un-shifted windows of 4 on a 13x10 map: the bottom-right window holds 1x2 real pixels and is
    # padded; its output must equal attention over those pixels alone.
    attn = GMSA(6, (4,), num_heads=2, shifted=False).eval()
    x = torch.randn(1, 13, 10, 6)
    with torch.no_grad():
        torch.testing.assert_close(attn(x)[:, 12:, 8:], attn(x[:, 12:, 8:]))
        torch.testing.assert_close(attn(x)[:, :4, :4], attn(x[:, :4, :4]))


# --------------------------------------------------------------------------- training


@pytest.mark.slow
def test_utsr_overfits_one_pair() -> None:
    torch.manual_seed(0)
    low = torch.rand(1, 1, 24, 24)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 48), torch.linspace(0, 1, 48), indexing="ij")
    target = (0.5 + 0.3 * torch.sin(2 * math.pi * xx) * torch.cos(3 * math.pi * yy))[None, None]
    net = UTSR(UTSRConfig(embed_dim=12, num_heads=1, depths=(1,), bottleneck_depth=1, scale=2))
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    first = loss = None
    for _ in range(300):
        loss = (net(low) - target).abs().mean()
        first = loss.item() if first is None else first
        if loss.item() < 0.1 * first:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss is not None and first is not None
    assert loss.item() < 0.1 * first, f"L1 {loss.item():.4f} not below 10 % of the initial {first:.4f}"


# --------------------------------------------------------------------------- FLOPs


def test_count_flops_matches_analytic_conv_count() -> None:
    net = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),  # with bias: the bias is not counted
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False),  # depth-wise
        nn.Conv2d(4, 3, 1, bias=False),
    )
    b, h, w = 2, 10, 12
    result = count_flops(net, (b, 2, h, w))
    expected = 2 * b * h * w * (2 * 4 * 9 + 1 * 4 * 9 + 4 * 3 * 1)
    assert result["flops"] == expected
    assert result["macs"] == expected // 2
    assert result["params"] == sum(p.numel() for p in net.parameters())
    assert result["input_shape"] == (b, 2, h, w)
    assert net.training  # restored

    linear = nn.Linear(5, 7)
    assert count_flops(linear, (3, 5))["flops"] == 2 * 3 * 5 * 7


def test_count_flops_utsr_scales_with_pixels() -> None:
    net = UTSR()
    small = count_flops(net, (1, 1, 64, 64))
    large = count_flops(net, (1, 1, 128, 128))
    assert "aten.bmm" in small["by_operator"]  # the attention products are counted
    assert small["params"] == large["params"] == sum(p.numel() for p in net.parameters())
    assert 3.9 < large["flops"] / small["flops"] < 4.1


# --------------------------------------------------------------------------- configuration validation


def test_utsr_config_validation() -> None:
    with pytest.raises(pydantic.ValidationError):
        UTSRConfig(scale=5)
    with pytest.raises(pydantic.ValidationError, match="exactly 3 window_sizes"):
        UTSRConfig(window_sizes=(4, 8))
    with pytest.raises(pydantic.ValidationError, match="exactly 3 window_sizes"):
        UTSRConfig(window_sizes=(4, 8, 16, 32))
    assert UTSRConfig(attention="single", window_sizes=(4, 8)).single_window == 8
    with pytest.raises(pydantic.ValidationError, match="divisible by 3 groups x num_heads"):
        UTSRConfig(embed_dim=32)
    with pytest.raises(ValueError, match="divisible"):
        UTSRConfig(embed_dim=48, num_heads=5)
    with pytest.raises(pydantic.ValidationError, match="even embed_dim"):
        UTSRConfig(embed_dim=9, num_heads=1, downsample="unshuffle")
    with pytest.raises(pydantic.ValidationError, match="in_channels == out_channels"):
        UTSRConfig(out_channels=3)
    with pytest.raises(pydantic.ValidationError):
        UTSRConfig(window_sizes=(4, 8, 1))
    with pytest.raises(pydantic.ValidationError):
        UTSRConfig(depths=())
    with pytest.raises(pydantic.ValidationError):
        UTSRConfig(ffn="conv")
    with pytest.raises(pydantic.ValidationError):
        UTSRConfig(unknown_field=1)
    cfg = UTSRConfig()
    with pytest.raises(pydantic.ValidationError):
        cfg.scale = 4  # frozen

    paper = UTSRConfig.paper_like(scale=4)
    assert paper.scale == 4 and paper.embed_dim == 180 and paper.depths == (6, 6)


def test_swinir_and_rrdbnet_config_validation() -> None:
    with pytest.raises(pydantic.ValidationError, match="divisible by num_heads"):
        SwinIRConfig(embed_dim=60, num_heads=7)
    with pytest.raises(pydantic.ValidationError):
        SwinIRConfig(scale=8)
    with pytest.raises(pydantic.ValidationError, match="non-empty"):
        SwinIRConfig(depths=())
    with pytest.raises(pydantic.ValidationError):
        RRDBNetConfig(scale=0)
    with pytest.raises(pydantic.ValidationError):
        RRDBNetConfig(num_feat=0)
    defaults = SwinIRConfig()
    assert (defaults.embed_dim, defaults.depths, defaults.num_heads) == (60, (6, 6, 6, 6), 6)
    assert defaults.window_size == 8
    assert defaults.mlp_ratio == 2.0 and defaults.upsampler == "pixelshuffledirect"
    rrdb = RRDBNetConfig()
    assert (rrdb.num_feat, rrdb.num_block, rrdb.num_grow_ch) == (64, 23, 32)


@pytest.mark.parametrize("kind", ["utsr", "swinir"])
def test_training_works_after_inference_mode(kind: str) -> None:
    """Cached attention masks first built under torch.inference_mode() must not break training."""
    x = torch.rand(1, 1, 13, 11)  # a size no other test uses, so the mask is built here
    net = _build(kind, 2).eval()
    with torch.inference_mode():
        net(x)
    net.train()
    net(x).mean().backward()


def test_dcffn_identity_init_starts_as_the_mlp() -> None:
    from xrsr_lib.models.utsr import DCFFN

    torch.manual_seed(0)
    ffn = DCFFN(8, 2.0, init="identity")
    for conv in (ffn.dwconv1, ffn.dwconv2):
        centre = conv.weight[:, 0, 1, 1]
        assert torch.all((centre > 0.9) & (centre < 1.1))  # 1 + 0.1 × a default weight (|w| < 1/3)
        assert conv.weight.abs().sum() - centre.abs().sum() < 0.04 * conv.weight.numel()
    # with the random part removed the block is exactly the MLP it starts next to
    with torch.no_grad():
        for conv in (ffn.dwconv1, ffn.dwconv2):
            conv.weight.zero_()
            conv.weight[:, 0, 1, 1] = 1.0
    x = torch.rand(2, 5, 6, 8)
    expected = ffn.project(ffn.act(ffn.expand(x)))
    torch.testing.assert_close(ffn(x), expected)
    default = DCFFN(8, 2.0, init="default")
    assert default.dwconv1.weight.abs().max() < 1 / 3 + 1e-6  # PyTorch's kaiming-uniform bound, 1/√9
    with pytest.raises(ValueError, match="unknown DCFFN init"):
        DCFFN(8, 2.0, init="zeros")
