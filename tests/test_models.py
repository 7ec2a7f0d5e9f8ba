"""Tests of the network architectures (xrsr_lib.models): shapes, exact padding, tiling, configs."""

from __future__ import annotations

import pydantic
import pytest
import torch

from xrsr_lib.models import (
    MODELS,
    SRCNN3D,
    DeepNet,
    DeepNetConfig,
    SRCNN3DConfig,
    build_model,
    count_parameters,
    model_config_class,
)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _zero_head(net: DeepNet) -> None:
    with torch.no_grad():
        net.head.weight.zero_()
        net.head.bias.zero_()


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
@pytest.mark.parametrize("upsampling", ["transpose", "bilinear"])
def test_deepnet_output_shape_equals_input(depth: int, upsampling: str) -> None:
    net = DeepNet(DeepNetConfig(base_width=4, depth=depth, upsampling=upsampling, convs_per_level=1))
    for batch, h, w in [(1, 17, 32), (2, 45, 64), (3, 32, 17)]:
        x = torch.randn(batch, 5, h, w)
        assert net(x).shape == x.shape


@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
def test_deepnet_norms_and_slice_counts(norm: str) -> None:
    for n_slices in (1, 3, 7):
        net = DeepNet(DeepNetConfig(n_slices=n_slices, base_width=4, depth=2, norm=norm))
        x = torch.randn(2, n_slices, 21, 30)
        assert net(x).shape == x.shape


def test_deepnet_tiny_input_uses_replicate_padding() -> None:
    net = DeepNet(DeepNetConfig(base_width=4, depth=3)).eval()
    x = torch.randn(1, 5, 3, 5)  # padding to 8 exceeds the size: reflect impossible
    assert net(x).shape == x.shape


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("shape", [(7, 17, 32), (16, 45, 17), (7, 64, 45)])
def test_srcnn_output_shape_equals_input(batch: int, shape: tuple[int, int, int]) -> None:
    net = SRCNN3D(SRCNN3DConfig(kernel_sizes=(5, 3, 3), widths=(4, 4)))
    x = torch.randn(batch, 1, *shape)
    assert net(x).shape == x.shape


@pytest.mark.parametrize("padding_mode", ["replicate", "zeros", "reflect"])
def test_srcnn_padding_modes_and_default_kernels(padding_mode: str) -> None:
    net = SRCNN3D(SRCNN3DConfig(widths=(4, 4), padding_mode=padding_mode, batch_norm=False, residual=True))
    x = torch.randn(1, 1, 7, 16, 17)
    assert net(x).shape == x.shape


# --------------------------------------------------------------------------- exactness


@pytest.mark.parametrize("upsampling", ["transpose", "bilinear"])
@pytest.mark.parametrize("hw", [(17, 17), (45, 32), (33, 63), (5, 9)])
def test_deepnet_zero_head_is_identity(upsampling: str, hw: tuple[int, int]) -> None:
    net = DeepNet(DeepNetConfig(base_width=4, depth=3, upsampling=upsampling, residual=True))
    _zero_head(net)
    x = torch.randn(2, 5, *hw)
    assert torch.equal(net(x), x)  # training mode
    assert torch.equal(net.eval()(x), x)


def test_srcnn_residual_zero_last_layer_is_identity() -> None:
    net = SRCNN3D(SRCNN3DConfig(kernel_sizes=(3, 3, 3), widths=(4, 4), residual=True))
    last = net.layers[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
    x = torch.randn(1, 1, 7, 9, 11)
    assert torch.equal(net(x), x)


@pytest.mark.parametrize(
    ("norm", "upsampling"), [("none", "transpose"), ("batch", "transpose"), ("none", "bilinear")]
)
def test_deepnet_crop_matches_full_image_away_from_borders(norm: str, upsampling: str) -> None:
    """Tiled inference works: a tile at an offset that is a multiple of 2**depth reproduces the
    whole-image output wherever the tile border is further than half the receptive field."""
    net = DeepNet(DeepNetConfig(base_width=4, depth=2, norm=norm, upsampling=upsampling))
    if norm == "batch":  # non-trivial running statistics
        net.train()
        with torch.no_grad():
            net(torch.randn(4, 5, 32, 32) * 2 + 0.5)
    net.eval()
    half = net.receptive_field() // 2 + 1
    full_img = torch.randn(1, 5, 140, 150)
    with torch.no_grad():
        full = net(full_img)
        for (y0, x0), (h, w) in [((20, 32), (2 * half + 13, 2 * half + 9)), ((48, 8), (2 * half + 20,) * 2)]:
            assert y0 % net.size_multiple == 0 and x0 % net.size_multiple == 0
            tile = net(full_img[..., y0 : y0 + h, x0 : x0 + w])
            inner_tile = tile[..., half : h - half, half : w - half]
            inner_full = full[..., y0 + half : y0 + h - half, x0 + half : x0 + w - half]
            torch.testing.assert_close(inner_tile, inner_full, rtol=1e-5, atol=1e-5)


def test_deepnet_receptive_field_bounds_influence() -> None:
    """A perturbation further than the receptive field allows does not change an output pixel."""
    net = DeepNet(DeepNetConfig(base_width=4, depth=2, norm="none")).eval()
    rf = net.receptive_field()
    x = torch.randn(1, 5, 96, 96, requires_grad=True)
    net(x)[0, 2, 48, 48].backward()
    rows = torch.nonzero(x.grad.abs().sum(dim=(0, 1, 3)) > 0).flatten()
    assert 1 < rows.max() - rows.min() + 1 <= rf


# --------------------------------------------------------------------------- parameters


def test_parameter_counts_grow_with_width_and_depth() -> None:
    def n(**kw: int) -> int:
        return count_parameters(DeepNet(DeepNetConfig(**kw)))

    assert n(base_width=8, depth=2) < n(base_width=16, depth=2) < n(base_width=16, depth=3)
    assert n(base_width=16, depth=3) < n(base_width=16, depth=4)
    assert n(base_width=8, depth=2) == 30_989
    assert n() == 7_782_309  # paper-scale defaults, see the deepnet module docstring
    assert count_parameters(SRCNN3D()) == 306_849
    assert count_parameters(SRCNN3D(SRCNN3DConfig(kernel_sizes=(5, 3, 3), widths=(32, 16)))) == 18_353


def test_count_parameters_ignores_frozen() -> None:
    net = SRCNN3D(SRCNN3DConfig(kernel_sizes=(3, 3, 3), widths=(4, 4)))
    total = count_parameters(net)
    net.layers[0].weight.requires_grad_(False)
    assert count_parameters(net) == total - net.layers[0].weight.numel()


# --------------------------------------------------------------------------- errors


def test_deepnet_wrong_input_raises() -> None:
    net = DeepNet(DeepNetConfig(base_width=4, depth=1))
    with pytest.raises(ValueError, match="5 slices"):
        net(torch.randn(1, 3, 16, 16))
    with pytest.raises(ValueError, match="4-D"):
        net(torch.randn(5, 16, 16))
    with pytest.raises(ValueError, match="5 slices"):
        net(torch.randn(1, 1, 5, 16, 16))


def test_srcnn_wrong_input_raises() -> None:
    net = SRCNN3D(SRCNN3DConfig(kernel_sizes=(3, 3, 3), widths=(4, 4)))
    with pytest.raises(ValueError, match="5-D"):
        net(torch.randn(1, 8, 8, 8))
    with pytest.raises(ValueError, match="1 channel"):
        net(torch.randn(1, 2, 8, 8, 8))


@pytest.mark.parametrize(
    "bad",
    [
        {"n_slices": 4},
        {"n_slices": 0},
        {"depth": 0},
        {"depth": 7},
        {"base_width": 0},
        {"norm": "group"},
        {"upsampling": "nearest"},
        {"extra_convs": -1},
        {"unknown": 1},
    ],
)
def test_deepnet_config_rejects_bad_values(bad: dict) -> None:
    with pytest.raises(pydantic.ValidationError):
        DeepNetConfig(**bad)


@pytest.mark.parametrize(
    "bad",
    [
        {"kernel_sizes": (9, 4, 5)},
        {"kernel_sizes": (9, 5)},
        {"widths": (0, 32)},
        {"padding_mode": "circular"},
        {"kernel_sizes": (0, 1, 1)},
        {"extra": True},
    ],
)
def test_srcnn_config_rejects_bad_values(bad: dict) -> None:
    with pytest.raises(pydantic.ValidationError):
        SRCNN3DConfig(**bad)


def test_configs_are_frozen() -> None:
    cfg = DeepNetConfig()
    with pytest.raises(pydantic.ValidationError):
        cfg.depth = 2  # type: ignore[misc]


# --------------------------------------------------------------------------- registry


def _architecture(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize(
    ("method", "config"),
    [
        (
            "deepnet",
            DeepNetConfig(base_width=6, depth=3, norm="instance", upsampling="bilinear", extra_convs=1),
        ),
        ("srcnn", SRCNN3DConfig(kernel_sizes=(5, 3, 1), widths=(8, 4), batch_norm=False)),
    ],
)
def test_build_model_round_trip(method: str, config: pydantic.BaseModel) -> None:
    model = build_model(method, config)
    assert model.config == config
    again = build_model(method, model.config.model_dump())
    assert again.config == config
    assert _architecture(again) == _architecture(model)
    json_again = build_model(method, model_config_class(method).model_validate_json(config.model_dump_json()))
    assert _architecture(json_again) == _architecture(model)


def test_build_model_defaults_and_errors() -> None:
    assert set(MODELS) >= {"deepnet", "srcnn"}
    assert isinstance(build_model("srcnn"), SRCNN3D)
    assert model_config_class("deepnet") is DeepNetConfig
    with pytest.raises(ValueError, match="deepnet"):
        build_model("unet9000")
    with pytest.raises(ValueError, match="unknown model"):
        model_config_class("nope")
    with pytest.raises(ValueError, match="DeepNetConfig"):
        build_model("deepnet", SRCNN3DConfig())
    with pytest.raises(pydantic.ValidationError):
        build_model("deepnet", {"depth": 0})


# --------------------------------------------------------------------------- training


def test_tiny_deepnet_overfits_one_pair() -> None:
    """Gradients flow through every path: a tiny residual DeepNet fits one pair in 100 Adam steps.

    The target is the input plus a smooth random correction; white noise to independent white
    noise would need a translation-equivariant net to memorize positions, which takes far longer.
    """
    net = DeepNet(DeepNetConfig(base_width=8, depth=2))
    x = torch.randn(1, 5, 32, 32)
    y = x + torch.nn.functional.interpolate(torch.randn(1, 5, 8, 8), size=(32, 32), mode="bilinear")
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(100):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(net(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 10


def test_srcnn_gradients_reach_every_parameter() -> None:
    net = SRCNN3D(SRCNN3DConfig(kernel_sizes=(3, 3, 3), widths=(4, 4)))
    net(torch.randn(2, 1, 6, 6, 6)).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_srcnn_channels_last_weights_give_the_same_training_step() -> None:
    """SRCNN keeps its conv weights channels-last (a CPU speed-up); the layout survives a state-dict
    round trip, and outputs and gradients equal those of the same weights stored contiguously."""
    cfg = SRCNN3DConfig(kernel_sizes=(5, 3, 3), widths=(8, 4))
    net = SRCNN3D(cfg)
    conv_weights = [m.weight for m in net.modules() if isinstance(m, torch.nn.Conv3d)]
    assert all(w.is_contiguous(memory_format=torch.channels_last_3d) for w in conv_weights)
    assert not conv_weights[1].is_contiguous()  # 8 -> 4 channels: the layouts really differ
    plain = SRCNN3D(cfg)
    plain.load_state_dict(net.state_dict())
    assert all(
        m.weight.is_contiguous(memory_format=torch.channels_last_3d)
        for m in plain.modules()
        if isinstance(m, torch.nn.Conv3d)
    )
    plain = plain.to(memory_format=torch.contiguous_format)
    assert conv_weights[1].is_contiguous(memory_format=torch.channels_last_3d)
    assert all(m.weight.is_contiguous() for m in plain.modules() if isinstance(m, torch.nn.Conv3d))
    x = torch.randn(2, 1, 10, 9, 8)
    y1, y2 = net(x), plain(x)
    torch.testing.assert_close(y1, y2, rtol=1e-5, atol=1e-5)
    y1.square().mean().backward()
    y2.square().mean().backward()
    for p1, p2 in zip(net.parameters(), plain.parameters(), strict=True):
        torch.testing.assert_close(p1.grad, p2.grad, rtol=1e-4, atol=1e-6)
