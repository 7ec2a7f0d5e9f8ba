"""Tiled whole-volume inference: tiles, blending weights, z-averaging of 2.5D stacks, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from xrsr_lib.infer.tiling import blend_weight, predict_2p5d, predict_3d, tile_margin, tile_starts


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny convolutions are dominated by thread start-up on a busy machine; run them on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def identity(x: torch.Tensor) -> torch.Tensor:
    return x


def max_cover(size: int, tile: int, overlap: int) -> int:
    """Largest number of tiles covering one position of an axis."""
    length = min(tile, size)
    cover = np.zeros(size, dtype=int)
    for s in tile_starts(size, tile, overlap):
        cover[s : s + length] += 1
    return int(cover.max())


def seam_free(size: int, tile: int, overlap: int, reach: int) -> np.ndarray:
    """Positions farther than ``reach`` from the inner edges of every tile that covers them."""
    length = min(tile, size)
    ok = np.ones(size, dtype=bool)
    for s in tile_starts(size, tile, overlap):
        if s > 0:
            ok[s : s + reach] = False
        if s + length < size:
            ok[s + length - reach : s + length] = False
    return ok


# ------------------------------------------------------------------------------------------ tile_starts
@given(size=st.integers(1, 200), tile=st.integers(1, 50), data=st.data())
@settings(max_examples=60, deadline=None)
def test_tile_starts_cover_with_overlap(size: int, tile: int, data: st.DataObject) -> None:
    overlap = data.draw(st.integers(0, (tile - 1) // 2))
    starts = tile_starts(size, tile, overlap)
    length = min(tile, size)
    assert starts[0] == 0
    assert starts[-1] + length == size  # last tile flush with the end
    assert all(b > a for a, b in zip(starts, starts[1:], strict=False))
    for a, b in zip(starts, starts[1:], strict=False):
        assert a + length - b >= 2 * overlap  # neighbours share at least 2 * overlap voxels
    if size <= tile:
        assert starts == [0]
    else:  # no more tiles than needed at the nominal stride
        assert len(starts) == math.ceil((size - tile) / (tile - 2 * overlap)) + 1


def test_tile_starts_examples() -> None:
    assert tile_starts(256, 128, 16) == [0, 96, 128]
    assert tile_starts(10, 4, 1) == [0, 2, 4, 6]
    assert tile_starts(3, 4, 1) == [0]
    assert tile_starts(4, 4, 1) == [0]
    assert tile_starts(5, 4, 1) == [0, 1]


# ----------------------------------------------------------------------------------------- blend_weight
def test_tile_margin_rule() -> None:
    # half the overlap, unless a receptive radius lies strictly between that and the overlap
    assert tile_margin(8) == 4 and tile_margin(9) == 4 and tile_margin(0) == 0
    assert tile_margin(8, 6) == 6  # SRCNN on cpu: radius 6 fits in overlap 8
    assert tile_margin(8, 3) == 4 and tile_margin(8, 4) == 4
    assert tile_margin(8, 8) == 4 and tile_margin(8, 12) == 4  # radius too large: tiles cannot equal a pass
    with pytest.raises(ValueError, match="overlap"):
        tile_margin(-1)


@pytest.mark.parametrize(
    ("n", "overlap"), [(1, 0), (5, 0), (5, 2), (8, 2), (9, 2), (16, 3), (7, 3), (576, 32)]
)
def test_blend_weight_positive_symmetric_flat_interior(n: int, overlap: int) -> None:
    w = blend_weight((n,), overlap)
    assert w.shape == (n,)
    assert (w > 0).all() and (w <= 1).all()
    np.testing.assert_allclose(w, w[::-1], atol=1e-15)
    if overlap:
        assert w.min() == pytest.approx(1 / (4 * overlap))
    if n >= 4 * overlap:  # ramps over the 2 * overlap shared voxels, flat 1 in between
        assert (w[2 * overlap : n - 2 * overlap] == 1).all()
        assert (w[: 2 * overlap] < 1).all()
    if overlap and n >= 4 * overlap:  # linear ramp (i + 0.5) / (2 * overlap)
        np.testing.assert_allclose(w[: 2 * overlap], (np.arange(2 * overlap) + 0.5) / (2 * overlap))


def test_blend_weight_separable_nd() -> None:
    w = blend_weight((10, 12, 9), (2, 3, 1))
    ref = np.einsum("i,j,k->ijk", blend_weight((10,), 2), blend_weight((12,), 3), blend_weight((9,), 1))
    np.testing.assert_allclose(w, ref)
    assert (w > 0).all()
    assert (w[4:-4, 6:-6, 2:-2] == 1).all()
    np.testing.assert_allclose(w, w[::-1, ::-1, ::-1])


def test_blend_weight_volume_border_flags() -> None:
    w = blend_weight((12, 12), 2, at_start=(True, False), at_end=(False, True))
    row = blend_weight((12,), 2)
    np.testing.assert_allclose(w[:8, 6], 1.0)  # no ramp towards the volume border at the low z side
    np.testing.assert_allclose(w[8:, 6], row[8:])
    np.testing.assert_allclose(w[6, :4], row[:4])
    np.testing.assert_allclose(w[6, 4:], 1.0)  # no ramp towards the high x border
    np.testing.assert_allclose(blend_weight((6,), 2, (True,), (True,)), 1.0)


def test_blend_weight_margin() -> None:
    w = blend_weight((16,), 4, margin=1)
    assert w[0] == 0 and w[-1] == 0
    assert (w[1:-1] > 0).all()
    np.testing.assert_allclose(w[1:7], (np.arange(6) + 0.5) / 6)
    assert (w[7:9] == 1).all()
    # at a volume border the margin is not applied
    assert (blend_weight((16,), 4, at_start=(True,), margin=1)[:9] == 1).all()


@given(
    tile=st.integers(2, 40),
    n_tiles=st.integers(1, 6),
    extra=st.integers(0, 30),
    data=st.data(),
)
@settings(max_examples=50, deadline=None)
def test_blend_weight_partition_of_unity(tile: int, n_tiles: int, extra: int, data: st.DataObject) -> None:
    overlap = data.draw(st.integers(0, (tile - 1) // 2))
    margin = data.draw(st.integers(0, max(overlap - 1, 0)))
    stride = tile - 2 * overlap
    nominal = data.draw(st.booleans())
    size = tile + (n_tiles - 1) * stride if nominal else tile + extra
    starts = tile_starts(size, tile, overlap)
    length = min(tile, size)
    weights = [
        blend_weight((length,), overlap, (s == 0,), (s + length == size,), margin=margin) for s in starts
    ]
    total = np.zeros(size)
    for s, w in zip(starts, weights, strict=True):
        total[s : s + length] += w
    assert (total > 0).all()
    normalized = np.zeros(size)
    for s, w in zip(starts, weights, strict=True):
        normalized[s : s + length] += w / total[s : s + length]
    np.testing.assert_allclose(normalized, 1.0, atol=1e-12)
    if nominal and tile >= 4 * overlap:  # complementary ramps: a linear cross-fade, raw sum is exactly 1
        np.testing.assert_allclose(total, 1.0, atol=1e-12)


# ------------------------------------------------------------------------------ identity: exact output
@st.composite
def tiling_case(draw: st.DrawFn, ndim_tiled: int) -> tuple[tuple[int, ...], tuple[int, ...], int, int]:
    tile = tuple(draw(st.integers(2, 9)) for _ in range(ndim_tiled))
    overlap = draw(st.integers(0, (min(tile) - 1) // 2))
    margin = draw(st.integers(0, max(overlap - 1, 0)))
    shape = tuple(
        draw(st.one_of(st.sampled_from([1, t - 1, t, t + 1, 2 * t + 1]), st.integers(1, 23))) for t in tile
    )
    return tuple(max(s, 1) for s in shape), tile, overlap, margin


@given(
    case=tiling_case(2),
    n_slices=st.sampled_from([1, 3, 5]),
    extra_z=st.integers(0, 6),
    batch_size=st.sampled_from([1, 3]),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=40, deadline=None)
def test_2p5d_identity_is_exact(case, n_slices: int, extra_z: int, batch_size: int, seed: int) -> None:
    (ny, nx), tile, overlap, margin = case
    nz = n_slices + extra_z
    vol = np.random.default_rng(seed).uniform(-1, 1, (nz, ny, nx)).astype(np.float32)
    before = vol.copy()
    out = predict_2p5d(
        identity, vol, n_slices, tile, overlap, batch_size=batch_size, device="cpu", margin=margin
    )
    assert out.dtype == np.float32 and out.shape == vol.shape
    # float32 accumulation: the rounding error grows with the number of tiles covering a voxel
    cover = min(n_slices, nz - n_slices + 1)
    cover *= max_cover(ny, tile[0], overlap) * max_cover(nx, tile[1], overlap)
    np.testing.assert_allclose(out, vol, rtol=0, atol=2e-7 * max(cover, 5))
    np.testing.assert_array_equal(vol, before)


@given(case=tiling_case(3), batch_size=st.sampled_from([1, 3]), seed=st.integers(0, 2**16))
@settings(max_examples=40, deadline=None)
def test_3d_identity_is_exact(case, batch_size: int, seed: int) -> None:
    shape, tile, overlap, margin = case
    vol = np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)
    out = predict_3d(identity, vol, tile, overlap, batch_size=batch_size, device="cpu", margin=margin)
    assert out.dtype == np.float32 and out.shape == vol.shape
    cover = math.prod(max_cover(n, t, overlap) for n, t in zip(shape, tile, strict=True))
    np.testing.assert_allclose(out, vol, rtol=0, atol=2e-7 * max(cover, 5))


def test_identity_realistic_tiling_within_1e6() -> None:
    vol = np.random.default_rng(1).uniform(-1, 1, (9, 70, 61)).astype(np.float32)
    assert np.abs(predict_2p5d(identity, vol, tile=32, overlap=4, batch_size=3) - vol).max() < 1e-6
    assert np.abs(predict_3d(identity, vol, tile=(8, 32, 32), overlap=2, batch_size=2) - vol).max() < 1e-6


# -------------------------------------------------------------------------------------- z-averaging
def test_2p5d_constant_offset() -> None:
    vol = np.random.default_rng(2).normal(size=(8, 21, 19)).astype(np.float32)
    out = predict_2p5d(lambda x: x + 0.75, vol, tile=8, overlap=2, batch_size=4)
    np.testing.assert_allclose(out, vol + 0.75, atol=2e-6)


@pytest.mark.parametrize(("nz", "n_slices"), [(11, 5), (5, 5), (7, 5), (6, 3), (4, 1)])
def test_2p5d_z_average_over_stacks(nz: int, n_slices: int) -> None:
    """Channel k of every stack gets +k: slice z is the mean of k = z - z0 over the stacks z0 holding it."""

    def add_channel_index(x: torch.Tensor) -> torch.Tensor:
        return x + torch.arange(x.shape[1], dtype=x.dtype, device=x.device).view(1, -1, 1, 1)

    vol = np.random.default_rng(3).uniform(size=(nz, 13, 10)).astype(np.float32)
    out = predict_2p5d(add_channel_index, vol, n_slices=n_slices, tile=6, overlap=1, batch_size=2)
    expected = np.array(
        [np.mean([z - z0 for z0 in range(nz - n_slices + 1) if z0 <= z < z0 + n_slices]) for z in range(nz)]
    )
    np.testing.assert_allclose((out - vol).mean(axis=(1, 2)), expected, atol=1e-5)
    np.testing.assert_allclose(out - vol, np.broadcast_to(expected[:, None, None], vol.shape), atol=1e-5)
    assert expected[0] == 0  # slice 0 only in the first stack, at k = 0
    assert expected[-1] == n_slices - 1  # the last slice only in the last stack, at k = n - 1
    if nz >= 2 * n_slices - 1:  # slices held by all n stacks see k = 0 .. n-1
        assert expected[n_slices - 1] == (n_slices - 1) / 2


# -------------------------------------------------------------------------- tiled vs untiled conv net
def conv_net_2d(channels: int) -> torch.nn.Module:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(channels, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, channels, 3, padding=1),
    )
    return net.eval()


def conv_net_3d() -> torch.nn.Module:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv3d(1, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv3d(4, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv3d(4, 1, 3, padding=1),
    )
    return net.eval()


RF = 3  # receptive-field radius of three 3x3 convolutions


def untiled_2p5d(net: torch.nn.Module, vol: np.ndarray, n: int) -> np.ndarray:
    acc = np.zeros(vol.shape)
    count = np.zeros(vol.shape[0])
    with torch.inference_mode():
        for z0 in range(vol.shape[0] - n + 1):
            acc[z0 : z0 + n] += net(torch.from_numpy(vol[z0 : z0 + n])[None])[0].numpy()
            count[z0 : z0 + n] += 1
    return (acc / count[:, None, None]).astype(np.float32)


def test_2p5d_tiled_matches_untiled_conv_net() -> None:
    vol = np.random.default_rng(4).normal(size=(9, 37, 41)).astype(np.float32)
    net = conv_net_2d(5)
    ref = untiled_2p5d(net, vol, 5)
    tile, overlap = (20, 22), 6
    # margin >= receptive field: tile-edge zero padding never reaches the result, equal everywhere
    exact = predict_2p5d(net, vol, 5, tile, overlap, batch_size=3, margin=RF)
    np.testing.assert_allclose(exact, ref, atol=1e-4)
    # plain triangular blending (margin 0): equal wherever no covering tile sees its own inner edge
    plain = predict_2p5d(net, vol, 5, tile, overlap, batch_size=2)
    mask = np.outer(seam_free(37, tile[0], overlap, RF), seam_free(41, tile[1], overlap, RF))
    assert mask.mean() > 0.5
    np.testing.assert_allclose(plain[:, mask], ref[:, mask], atol=1e-4)
    assert np.abs(plain - ref).max() > 1e-3  # seams exist with margin 0: the masked check is not vacuous


def test_3d_tiled_matches_untiled_conv_net() -> None:
    vol = np.random.default_rng(5).normal(size=(19, 23, 21)).astype(np.float32)
    net = conv_net_3d()
    with torch.inference_mode():
        ref = net(torch.from_numpy(vol)[None, None])[0, 0].numpy()
    tile, overlap = (10, 11, 9), 4
    exact = predict_3d(net, vol, tile, overlap, batch_size=4, margin=RF)
    np.testing.assert_allclose(exact, ref, atol=1e-4)
    plain = predict_3d(net, vol, tile, overlap)
    masks = [seam_free(n, t, overlap, RF) for n, t in zip(vol.shape, tile, strict=True)]
    mask = np.einsum("i,j,k->ijk", *masks).astype(bool)
    assert mask.any()
    np.testing.assert_allclose(plain[mask], ref[mask], atol=1e-4)


# ------------------------------------------------------------------------------------ calls, batching
def test_batching_and_inference_mode() -> None:
    calls: list[tuple[int, ...]] = []

    def spy(x: torch.Tensor) -> torch.Tensor:
        assert torch.is_inference_mode_enabled()
        assert x.dtype == torch.float32
        calls.append(tuple(x.shape))
        return x * 2

    vol = np.ones((7, 20, 9), dtype=np.float32)
    out = predict_2p5d(spy, vol, n_slices=5, tile=8, overlap=1, batch_size=4, progress=True)
    n_tiles = 3 * len(tile_starts(20, 8, 1)) * len(tile_starts(9, 8, 1))
    assert sum(c[0] for c in calls) == n_tiles
    assert len(calls) == math.ceil(n_tiles / 4)
    assert all(c[1:] == (5, 8, 8) for c in calls)
    np.testing.assert_allclose(out, 2.0)
    calls.clear()
    predict_3d(spy, vol, tile=(4, 30, 5), overlap=1, batch_size=2)
    assert all(c[1:] == (1, 4, 20, 5) for c in calls)


def test_model_device_and_dtype_follow_parameters() -> None:
    net = torch.nn.Conv3d(1, 1, 1, bias=False).double().eval()
    torch.nn.init.ones_(net.weight)
    vol = np.random.default_rng(6).uniform(size=(5, 6, 7)).astype(np.float64)
    out = predict_3d(net, vol, tile=4, overlap=1)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, vol, atol=1e-6)


# --------------------------------------------------------------------------------------------- errors
def test_errors() -> None:
    vol = np.zeros((4, 8, 8), dtype=np.float32)
    with pytest.raises(ValueError, match=r"Z = 4.*n_slices = 5"):
        predict_2p5d(identity, vol, n_slices=5)
    with pytest.raises(ValueError, match="overlap must be < tile / 2"):
        predict_2p5d(identity, vol, n_slices=3, tile=8, overlap=4)
    with pytest.raises(ValueError, match="overlap must be < tile / 2"):
        predict_3d(identity, vol, tile=6, overlap=3)
    with pytest.raises(ValueError, match="overlap must be < tile / 2"):
        tile_starts(10, 4, 2)
    with pytest.raises(ValueError, match="overlap must be < tile / 2"):
        blend_weight((4, 8), 2)
    with pytest.raises(ValueError, match="margin must be 0 or < overlap"):
        predict_3d(identity, vol, tile=6, overlap=2, margin=2)
    with pytest.raises(ValueError, match=r"model output shape \(1, 3, 8, 8\) differs from its input shape"):
        predict_2p5d(lambda x: x[:, :3], vol, n_slices=5 - 1, tile=8, overlap=1)
    with pytest.raises(ValueError, match="model output shape"):
        predict_3d(lambda x: x[..., 1:], vol, tile=8, overlap=1)
    with pytest.raises(ValueError, match="must return a torch.Tensor"):
        predict_3d(lambda x: x.numpy(), vol, tile=8, overlap=1)
    bad = vol.copy()
    bad[1, 2, 3] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        predict_2p5d(identity, bad, n_slices=3)
    with pytest.raises(ValueError, match="NaN or infinite"):
        predict_3d(identity, np.full((2, 2, 2), np.inf))
    with pytest.raises(ValueError, match=r"3-D \(z, y, x\), got shape \(8, 8\)"):
        predict_2p5d(identity, vol[0], n_slices=1)
    with pytest.raises(ValueError, match="3-D"):
        predict_3d(identity, vol[None])
    with pytest.raises(ValueError, match="is empty"):
        predict_3d(identity, np.zeros((0, 4, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        predict_3d(identity, vol, batch_size=0)
    with pytest.raises(ValueError, match="tile must be an int or 2 ints"):
        predict_2p5d(identity, vol, n_slices=3, tile=(8, 8, 8))
    with pytest.raises(ValueError, match="one flag per axis"):
        blend_weight((8, 8), 1, at_start=(True,))
