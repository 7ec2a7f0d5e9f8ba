"""Whole-volume inference with overlapping tiles and linear-ramp blending.

Study A applies two kinds of networks to volumes far larger than what fits in one forward pass:

* a 2.5D network (``DeepNet``) mapping a stack of ``n_slices`` adjacent z-slices, given as channels,
  to the same ``n_slices`` slices: :func:`predict_2p5d` runs it on every stack ``volume[z0:z0+n]``
  (stride 1 in z) cut into overlapping (y, x) tiles, and every output slice is the average over
  the (up to ``n_slices``) stacks that contain it -- slice 0 only comes from the first stack,
  slice 1 from the first two, and so on;
* a 3D network (``SRCNN3D``): :func:`predict_3d` runs it on overlapping 3D blocks.

Overlapping tiles are blended with the separable weight of :func:`blend_weight`
(``sum(weight * output) / sum(weight)`` per voxel).

Tiling and weights
------------------
Along an axis of length ``size`` the tiles have length ``min(tile, size)`` and start every
``tile - 2 * overlap`` voxels (:func:`tile_starts`), the last one flush with the end; so
``overlap`` is the margin *on each side* of a tile that a neighbour also covers (the paper's
576-px tiles with 32 px overlap share 64 px with each neighbour).

The weight ramps linearly over these ``2 * overlap`` shared voxels, ``(i + 0.5) / (2 * overlap)``
for ``i = 0 .. 2 * overlap - 1`` from the tile edge, and is 1 in between. At the nominal stride the
rising ramp of one tile and the falling ramp of its neighbour add up to exactly 1: a linear
cross-fade. **Border choice:** a tile side lying on the volume border has no neighbour to fade
into, so it gets no ramp (weight 1 up to the edge). Ramps never reach 0 (the smallest value is
``1 / (4 * overlap)``), so the weights are strictly positive everywhere and the normalization never
divides by zero or amplifies noise near the volume edge.

Optionally ``margin`` voxels at every *inner* tile edge get weight 0 and the ramp runs over the
remaining ``2 * (overlap - margin)`` shared voxels. With a margin at least the network's receptive
field radius, the zero padding at tile edges never reaches the result and tiled inference equals
untiled inference; ``margin=0`` (default) is the paper's plain triangular blending. Every voxel
keeps a positive total weight as long as ``margin < overlap``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from xrsr_lib.device import resolve_device
from xrsr_lib.io.validate import check_array, check_int

__all__ = ["blend_weight", "predict_2p5d", "predict_3d", "tile_margin", "tile_starts"]

Model = Callable[[torch.Tensor], torch.Tensor]


# ------------------------------------------------------------------------------------------- validation
def _check_int(value: Any, name: str, minimum: int) -> int:
    return check_int(value, name, minimum)


def _per_axis(value: Any, ndim: int, name: str, minimum: int) -> tuple[int, ...]:
    """Return ``value`` per axis: an int broadcast to ``ndim`` axes, or a sequence of ``ndim`` ints."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != ndim:
            raise ValueError(f"{name} must be an int or {ndim} ints, got {value!r}")
        return tuple(_check_int(v, name, minimum) for v in value)
    return (_check_int(value, name, minimum),) * ndim


def _check_overlap(tile: int, overlap: int, margin: int = 0) -> None:
    if 2 * overlap >= tile:
        raise ValueError(f"overlap must be < tile / 2 (tile {tile}, overlap {overlap})")
    if margin and margin >= overlap:
        raise ValueError(f"margin must be 0 or < overlap (overlap {overlap}, margin {margin})")


def _check_volume(volume: Any) -> np.ndarray:
    return np.ascontiguousarray(check_array(volume, "volume", 3, axes="(z, y, x)"))


# --------------------------------------------------------------------------------------- tiles, weights
def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Start indices of the tiles covering ``[0, size)`` along one axis.

    Tiles have length ``min(tile, size)`` and start every ``tile - 2 * overlap`` voxels, so adjacent
    tiles share at least ``2 * overlap`` voxels (``overlap`` on each side of a tile); the last tile is
    flush with the end and may share more. ``size <= tile`` gives the single start ``[0]`` (one tile
    of length ``size``).

    Parameters
    ----------
    size : int
        Length of the axis (>= 1).
    tile : int
        Tile length (>= 1).
    overlap : int
        Overlap on each side of a tile, ``0 <= overlap < tile / 2``.

    Returns
    -------
    list of int
        Increasing start indices; the first is 0 and the last is ``max(size - tile, 0)``.
    """
    size = _check_int(size, "size", 1)
    tile = _check_int(tile, "tile", 1)
    overlap = _check_int(overlap, "overlap", 0)
    _check_overlap(tile, overlap)
    if size <= tile:
        return [0]
    return list(range(0, size - tile, tile - 2 * overlap)) + [size - tile]


def tile_margin(overlap: int, receptive_radius: int | None = None) -> int:
    """Voxels at every inner tile edge that get zero blending weight.

    Half the overlap, so tile-edge padding effects never reach the result and the triangular ramp
    blends the inner half. A network whose receptive radius (voxels) lies between that and the
    overlap gets the radius instead: no output voxel within it of an inner edge is kept, so the tiles
    equal one whole-volume pass (SRCNN on ``cpu``: radius 6, overlap 8 -> margin 6).

    Parameters
    ----------
    overlap : int
        Tile overlap (voxels), >= 0.
    receptive_radius : int, optional
        Half the network's receptive field (voxels); ``None`` for networks whose field is not
        bounded by the tile (2.5D U-Nets reach far beyond it).
    """
    ov = _check_int(overlap, "overlap", 0)
    margin = ov // 2
    if receptive_radius is not None and margin < int(receptive_radius) < ov:
        margin = int(receptive_radius)
    return margin


def _ramp_1d(length: int, overlap: int, margin: int, at_start: bool, at_end: bool) -> np.ndarray:
    """1D blending weight (float64) of a tile of ``length`` voxels; see the module docstring."""
    w = np.ones(length)
    width = 2 * (overlap - margin)  # voxels over which the weight rises from ~0 to ~1
    if overlap == 0 or width <= 0:
        return w
    i = np.arange(length, dtype=np.float64)
    if not at_start:
        w = np.minimum(w, np.clip((i - margin + 0.5) / width, 0.0, None))
    if not at_end:
        w = np.minimum(w, np.clip((length - margin - i - 0.5) / width, 0.0, None))
    return w


def blend_weight(
    tile_shape: tuple[int, ...],
    overlap: int | tuple[int, ...],
    at_start: tuple[bool, ...] | None = None,
    at_end: tuple[bool, ...] | None = None,
    margin: int | tuple[int, ...] = 0,
) -> np.ndarray:
    """Separable linear-ramp (triangular) blending weight of one tile.

    Along each axis the weight rises as ``(i + 0.5) / (2 * overlap)`` over the ``2 * overlap`` voxels
    next to each tile edge, is 1 in between, and mirrors at the far edge; when ``tile < 4 * overlap``
    the two ramps meet and the weight is a tent that stays below 1. A side flagged in ``at_start`` /
    ``at_end`` (a tile touching the volume border) gets no ramp: weight 1 up to the edge. With
    ``margin == 0`` the weight is strictly positive everywhere (minimum ``1 / (4 * overlap)``).

    Parameters
    ----------
    tile_shape : tuple of int
        Shape of the tile (any number of axes).
    overlap : int or tuple of int
        Overlap on each side of the tile, per axis or for all axes (``0 <= overlap < tile / 2``).
    at_start, at_end : tuple of bool, optional
        Per axis, whether the tile's low / high side lies on the volume border. Default: no side does.
    margin : int or tuple of int, optional
        Voxels at each inner edge given weight 0 (``0`` or ``< overlap``); the ramp then runs over the
        ``2 * (overlap - margin)`` voxels after them. Default 0.

    Returns
    -------
    numpy.ndarray
        float64 array of shape ``tile_shape``, values in ``[0, 1]`` (``(0, 1]`` when ``margin == 0``).
    """
    if isinstance(tile_shape, int | np.integer) or not isinstance(tile_shape, Sequence) or not tile_shape:
        raise ValueError(f"tile_shape must be a non-empty tuple of ints, got {tile_shape!r}")
    shape = tuple(_check_int(n, "tile_shape", 1) for n in tile_shape)
    ndim = len(shape)
    overlaps = _per_axis(overlap, ndim, "overlap", 0)
    margins = _per_axis(margin, ndim, "margin", 0)
    flags = []
    for name, value in (("at_start", at_start), ("at_end", at_end)):
        value = (False,) * ndim if value is None else tuple(value)
        if len(value) != ndim:
            raise ValueError(f"{name} must have one flag per axis ({ndim}), got {value!r}")
        flags.append(tuple(bool(v) for v in value))
    weight = np.ones(shape)
    for ax in range(ndim):
        _check_overlap(shape[ax], overlaps[ax], margins[ax])
        w1 = _ramp_1d(shape[ax], overlaps[ax], margins[ax], flags[0][ax], flags[1][ax])
        weight = weight * w1.reshape((-1,) + (1,) * (ndim - ax - 1))
    return weight


def _axis_layout(size: int, tile: int, overlap: int, margin: int) -> tuple[int, list[int], list[np.ndarray]]:
    """Tile length, starts and 1D weights of the tiles along one axis."""
    starts = tile_starts(size, tile, overlap)
    length = min(tile, size)
    weights = [_ramp_1d(length, overlap, margin, s == 0, s + length == size) for s in starts]
    return length, starts, weights


# ---------------------------------------------------------------------------------------------- engine
def _model_device_dtype(model: Model, device: str | torch.device | None) -> tuple[torch.device, torch.dtype]:
    """Device to feed (explicit, else the model's, else CUDA if available, else CPU) and input dtype."""
    param = None
    if isinstance(model, torch.nn.Module):
        param = next(itertools.chain(model.parameters(), model.buffers()), None)
    dev = resolve_device(device, like=param)
    dtype = param.dtype if param is not None and param.dtype.is_floating_point else torch.float32
    return dev, dtype


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _run_tiled(
    model: Model,
    volume: np.ndarray,
    block: tuple[int, int, int],
    starts: tuple[list[int], list[int], list[int]],
    weights: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]],
    channels_are_z: bool,
    batch_size: int,
    device: str | torch.device | None,
    progress: bool,
    desc: str,
) -> np.ndarray:
    """Run ``model`` on every block of a (z, y, x) grid of starts and blend the outputs.

    The weight of the block at ``(i, j, k)`` is ``weights[0][i] ⊗ weights[1][j] ⊗ weights[2][k]``; being
    separable over a tensor grid of blocks, the per-voxel weight sum is the product of three 1D sums.
    ``channels_are_z`` feeds blocks as ``(B, bz, by, bx)`` (the 2.5D stacks), otherwise as
    ``(B, 1, bz, by, bx)``.
    """
    dev, dtype = _model_device_dtype(model, device)
    bz, by, bx = block
    acc = np.zeros(volume.shape, dtype=np.float32)
    den = []
    for ax in range(3):
        d = np.zeros(volume.shape[ax])
        for s, w in zip(starts[ax], weights[ax], strict=True):
            d[s : s + block[ax]] += w
        den.append(d)
    den_yx = np.outer(den[1], den[2])
    if den[0].min() <= 0 or den_yx.min() <= 0:  # cannot happen with margin < overlap
        raise RuntimeError("internal error: a voxel is covered by no tile with positive weight")

    scratch = np.empty(block, dtype=np.float32)
    z_flat = [bool(np.all(w == 1.0)) for w in weights[0]]
    w_yx: dict[tuple[int, int], np.ndarray] = {}
    jobs = list(itertools.product(*(range(len(s)) for s in starts)))
    with torch.inference_mode(), tqdm(total=len(jobs), desc=desc, unit="tile", disable=not progress) as bar:
        for chunk in _batches(jobs, batch_size):
            origins = [(starts[0][i], starts[1][j], starts[2][k]) for i, j, k in chunk]
            batch = np.stack([volume[z : z + bz, y : y + by, x : x + bx] for z, y, x in origins])
            inp = torch.from_numpy(batch)
            if not channels_are_z:
                inp = inp.unsqueeze(1)
            inp = inp.to(device=dev, dtype=dtype)
            out = model(inp)
            if not isinstance(out, torch.Tensor):
                raise ValueError(f"model must return a torch.Tensor, got {type(out).__name__}")
            if out.shape != inp.shape:
                raise ValueError(
                    f"model output shape {tuple(out.shape)} differs from its input shape {tuple(inp.shape)}"
                )
            preds = out.detach().to(device="cpu", dtype=torch.float32).numpy().reshape(len(chunk), bz, by, bx)
            for (i, j, k), (z, y, x), pred in zip(chunk, origins, preds, strict=True):
                if (j, k) not in w_yx:
                    w_yx[j, k] = np.outer(weights[1][j], weights[2][k]).astype(np.float32)
                w = w_yx[j, k] if z_flat[i] else weights[0][i].astype(np.float32)[:, None, None] * w_yx[j, k]
                np.multiply(pred, w, out=scratch)  # never write into the model's output
                acc[z : z + bz, y : y + by, x : x + bx] += scratch
            bar.update(len(chunk))
    for z in range(volume.shape[0]):
        acc[z] /= (den[0][z] * den_yx).astype(np.float32)
    return acc


# --------------------------------------------------------------------------------------------- public
def _tiling(tile: object, overlap: object, margin: object, n_axes: int) -> tuple[tuple[int, ...], ...]:
    """Per-axis tile sizes, overlaps and margins, checked against each other."""
    tiles = _per_axis(tile, n_axes, "tile", 1)
    overlaps = _per_axis(overlap, n_axes, "overlap", 0)
    margins = _per_axis(margin, n_axes, "margin", 0)
    for t, o, m in zip(tiles, overlaps, margins, strict=True):
        _check_overlap(t, o, m)
    return tiles, overlaps, margins


def predict_2p5d(
    model: Model,
    volume: np.ndarray,
    n_slices: int = 5,
    tile: int | tuple[int, int] = 576,
    overlap: int | tuple[int, int] = 32,
    batch_size: int = 1,
    device: str | torch.device | None = None,
    progress: bool = False,
    margin: int | tuple[int, int] = 0,
) -> np.ndarray:
    """Apply a 2.5D network (``n_slices`` adjacent z-slices in, the same slices out) to a whole volume.

    Every stack ``volume[z0 : z0 + n_slices]``, ``z0 = 0 .. Z - n_slices`` (stride 1), is cut into
    overlapping (y, x) tiles fed as ``(B, n_slices, ty, tx)``. Tiles are blended with
    :func:`blend_weight` in (y, x); in z each output slice is the plain average of the predictions of
    the stacks containing it (``min(z + 1, Z - z, n_slices, Z - n_slices + 1)`` of them).

    Parameters
    ----------
    model : callable
        Maps a float tensor ``(B, n_slices, ty, tx)`` to a tensor of the same shape (e.g. an
        ``nn.Module`` in eval mode, already on ``device``). Called under ``torch.inference_mode()``.
    volume : numpy.ndarray
        (Z, Y, X) volume with ``Z >= n_slices``; finite values.
    n_slices : int, optional
        Slices per stack (network channels). Default 5.
    tile : int or (int, int), optional
        (y, x) tile size; an axis shorter than the tile is processed whole. Default 576.
    overlap : int or (int, int), optional
        Overlap on each side of a tile (``< tile / 2``), see :func:`tile_starts`. Default 32.
    batch_size : int, optional
        Tiles per model call (tiles of consecutive stacks are batched together). Default 1.
    device : str or torch.device, optional
        Device the tiles are sent to. Default: the model's device, else CUDA when available, else CPU.
    progress : bool, optional
        Show a tqdm progress bar over tiles.
    margin : int or (int, int), optional
        Inner tile-edge voxels given zero weight (``0`` or ``< overlap``), see :func:`blend_weight`.

    Returns
    -------
    numpy.ndarray
        float32 (Z, Y, X) prediction.
    """
    n_slices = _check_int(n_slices, "n_slices", 1)
    batch_size = _check_int(batch_size, "batch_size", 1)
    tiles, overlaps, margins = _tiling(tile, overlap, margin, 2)
    vol = _check_volume(volume)
    nz, ny, nx = vol.shape
    if nz < n_slices:
        raise ValueError(f"volume has Z = {nz} slices, fewer than n_slices = {n_slices}")
    ly, sy, wy = _axis_layout(ny, tiles[0], overlaps[0], margins[0])
    lx, sx, wx = _axis_layout(nx, tiles[1], overlaps[1], margins[1])
    sz = list(range(nz - n_slices + 1))
    wz = [np.ones(n_slices)] * len(sz)
    return _run_tiled(
        model, vol, (n_slices, ly, lx), (sz, sy, sx), (wz, wy, wx), True, batch_size, device, progress, "2.5D"
    )


def predict_3d(
    model: Model,
    volume: np.ndarray,
    tile: int | tuple[int, int, int] = 64,
    overlap: int | tuple[int, int, int] = 8,
    batch_size: int = 1,
    device: str | torch.device | None = None,
    progress: bool = False,
    margin: int | tuple[int, int, int] = 0,
) -> np.ndarray:
    """Apply a 3D network to a whole volume in overlapping, blended 3D blocks.

    Parameters
    ----------
    model : callable
        Maps a float tensor ``(B, 1, tz, ty, tx)`` to a tensor of the same shape (e.g. an
        ``nn.Module`` in eval mode, already on ``device``). Called under ``torch.inference_mode()``.
    volume : numpy.ndarray
        (Z, Y, X) volume; finite values.
    tile : int or (int, int, int), optional
        Block size; an axis shorter than the block is processed whole. Default 64.
    overlap : int or (int, int, int), optional
        Overlap on each side of a block (``< tile / 2``), see :func:`tile_starts`. Default 8.
    batch_size : int, optional
        Blocks per model call. Default 1.
    device : str or torch.device, optional
        Device the blocks are sent to. Default: the model's device, else CUDA when available, else CPU.
    progress : bool, optional
        Show a tqdm progress bar over blocks.
    margin : int or (int, int, int), optional
        Inner block-edge voxels given zero weight (``0`` or ``< overlap``), see :func:`blend_weight`.

    Returns
    -------
    numpy.ndarray
        float32 (Z, Y, X) prediction.
    """
    batch_size = _check_int(batch_size, "batch_size", 1)
    tiles, overlaps, margins = _tiling(tile, overlap, margin, 3)
    vol = _check_volume(volume)
    (lz, sz, wz), (ly, sy, wy), (lx, sx, wx) = (
        _axis_layout(n, t, o, m) for n, t, o, m in zip(vol.shape, tiles, overlaps, margins, strict=True)
    )
    return _run_tiled(
        model, vol, (lz, ly, lx), (sz, sy, sx), (wz, wy, wx), False, batch_size, device, progress, "3D"
    )
