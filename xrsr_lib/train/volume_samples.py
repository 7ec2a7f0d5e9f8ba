"""Training samples of the volume networks and the masked losses over them.

- :func:`check_pair`: the checks of a training pair (same 3-D shape, finite values);
- :func:`masked_mse` / :func:`masked_sse`: the loss inside the loss mask, and its numerator;
- :class:`StackSampler` (2.5D DeepNet: random slice stacks) and :class:`PatchSampler` (3D SRCNN:
  patches on a regular grid, split into training and validation sets) draw the training batches;
- :class:`HeldOutSamples`: a held-out pair cut into training-sized samples placed by
  :func:`tile_starts`; :func:`masked_mean_loss` scores batches of them (or of a sampler's
  validation patches).

The loss mask of a volume is (y, x), the same for every slice, or (z, y, x). The adapter that uses
these is :mod:`xrsr_lib.train.volume_adapter`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from xrsr_lib.io.validate import check_array, check_same_shape

__all__ = [
    "HeldOutSamples",
    "PatchSampler",
    "StackSampler",
    "check_pair",
    "masked_mean_loss",
    "masked_mse",
    "masked_sse",
    "tile_starts",
]


def check_pair(inputs: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate a training pair: same 3-D shape, finite values."""
    a = check_array(inputs, "training input")
    b = check_array(target, "training target")
    check_same_shape(a, b, "training input", "training target", "register and resample them first")
    return a, b


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over voxels where ``mask`` is true (mask broadcasts over channels)."""
    m = mask.to(pred.dtype).expand_as(pred)
    return ((pred - target) ** 2 * m).sum() / m.sum().clamp_min(1.0)


def masked_sse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sum of squared errors over voxels where ``mask`` is true (the numerator of :func:`masked_mse`)."""
    return ((pred - target) ** 2 * mask.to(pred.dtype).expand_as(pred)).sum()


def masked_mean_loss(
    model: torch.nn.Module, batches: list[tuple[torch.Tensor, ...]], dev: torch.device
) -> float:
    """Return the masked MSE of ``model`` over every voxel of ``batches`` (eval mode, no gradients).

    The loss is the sum of squared errors over the mask count of all batches, not a mean of batch
    means.

    Parameters
    ----------
    model : torch.nn.Module
        Put in eval mode.
    batches : list of (inputs, target, mask) tensors
        As :meth:`HeldOutSamples.batches` or :meth:`PatchSampler.validation_batches` give them.
    dev : torch.device
        Where the batches are evaluated.

    Returns
    -------
    float
        The masked MSE, in the squared units of the (normalized) target.
    """
    model.eval()
    total, count = 0.0, 0.0
    with torch.inference_mode():
        for xb, tb, mb in batches:
            xb, tb, mb = xb.to(dev), tb.to(dev), mb.to(dev)
            m = mb.to(xb.dtype)
            total += float((((model(xb) - tb) ** 2) * m).sum())
            count += float(m.sum())
    return total / max(count, 1.0)


def _mask_at(mask: np.ndarray, sl: tuple[slice, slice, slice]) -> np.ndarray:
    """Return the loss mask over a (z, y, x) block: a (y, x) mask applies to every slice."""
    return mask[None, sl[1], sl[2]] if mask.ndim == 2 else mask[sl]


class StackSampler:
    """Random 5-slice (``n_slices``) tiles for the 2.5D network, with flips/rotations in (y, x).

    ``mask`` is the loss mask, (y, x) for every slice or (z, y, x).
    """

    def __init__(self, inputs: np.ndarray, target: np.ndarray, mask: np.ndarray, n_slices: int, tile: int):
        z, y, x = inputs.shape
        if z < n_slices:
            raise ValueError(f"volume has {z} slices, fewer than the {n_slices} input slices of the model")
        self.x, self.t, self.m = inputs, target, mask
        self.n = n_slices
        self.tile = min(tile, y, x)

    def sample(self, rng: np.random.Generator, batch: int) -> tuple[torch.Tensor, ...]:
        """Draw ``batch`` random stacks: inputs and targets ``(B, n_slices, tile, tile)``, and masks.

        The masks have the same shape, or ``(B, 1, tile, tile)`` for a (y, x) loss mask. Each stack
        starts at a uniform (z, y, x) corner and is rotated by ``k·90°`` in (y, x) (k uniform in
        0..3) and flipped left-right with probability 1/2, the same for input, target and mask.
        Draws from ``rng`` in a fixed order.
        """
        z, y, x = self.x.shape
        xs, ts, ms = [], [], []
        for _ in range(batch):
            z0 = rng.integers(0, z - self.n + 1)
            y0 = rng.integers(0, y - self.tile + 1)
            x0 = rng.integers(0, x - self.tile + 1)
            sl = np.s_[z0 : z0 + self.n, y0 : y0 + self.tile, x0 : x0 + self.tile]
            a, b, m = self.x[sl], self.t[sl], _mask_at(self.m, sl)
            k, flip = int(rng.integers(0, 4)), bool(rng.integers(0, 2))
            a, b, m = (np.rot90(v, k, axes=(1, 2)) for v in (a, b, m))
            if flip:
                a, b, m = (v[:, :, ::-1] for v in (a, b, m))
            xs.append(np.ascontiguousarray(a))
            ts.append(np.ascontiguousarray(b))
            ms.append(np.ascontiguousarray(m))
        return tuple(torch.from_numpy(np.stack(v)) for v in (xs, ts, ms))


class PatchSampler:
    """3D patches on a regular grid (size, stride), split into training and validation sets.

    Patches whose centre lies outside the loss ``mask`` ((y, x) for every slice, or (z, y, x)) are
    not used.
    """

    def __init__(
        self,
        inputs: np.ndarray,
        target: np.ndarray,
        mask: np.ndarray,
        patch: int,
        stride: int,
        validation_fraction: float,
        seed: int,
    ):
        if min(inputs.shape) < patch:
            raise ValueError(f"patch size {patch} exceeds the volume shape {inputs.shape}")
        self.x, self.t, self.m, self.p = inputs, target, mask, patch
        starts = [range(0, s - patch + 1, stride) for s in inputs.shape]
        corners = np.array([(a, b, c) for a in starts[0] for b in starts[1] for c in starts[2]])
        # keep patches whose centre (column) lies inside the mask
        cz, cy, cx = (corners[:, i] + patch // 2 for i in range(3))
        corners = corners[mask[cy, cx] if mask.ndim == 2 else mask[cz, cy, cx]]
        if len(corners) < 2:
            raise ValueError("fewer than 2 patches inside the loss mask: reduce patch size or stride")
        order = np.random.default_rng(seed).permutation(len(corners))
        n_val = max(1, round(validation_fraction * len(corners))) if validation_fraction > 0 else 0
        self.val, self.train = corners[order[:n_val]], corners[order[n_val:]]

    def _get(self, corners: np.ndarray) -> tuple[torch.Tensor, ...]:
        p = self.p
        xs, ts, ms = [], [], []
        for z0, y0, x0 in corners:
            sl = np.s_[z0 : z0 + p, y0 : y0 + p, x0 : x0 + p]
            xs.append(self.x[sl])
            ts.append(self.t[sl])
            ms.append(np.broadcast_to(_mask_at(self.m, sl), (p, p, p)))
        return tuple(torch.from_numpy(np.stack(v)[:, None].copy()) for v in (xs, ts, ms))

    def sample(self, rng: np.random.Generator, batch: int) -> tuple[torch.Tensor, ...]:
        """Draw ``batch`` training patches (with replacement): inputs, targets, masks ``(B, 1, p, p, p)``."""
        return self._get(self.train[rng.integers(0, len(self.train), size=batch)])

    def validation_batches(self, batch: int) -> list[tuple[torch.Tensor, ...]]:
        """Return every validation patch, in batches of at most ``batch``, shaped as :meth:`sample`'s."""
        return [self._get(self.val[i : i + batch]) for i in range(0, len(self.val), batch)]


def tile_starts(size: int, tile: int) -> list[int]:
    """Return the starts of the fewest tiles of side ``tile`` that cover ``[0, size)``, spread evenly.

    The first starts at 0 and the last ends flush with the end (one tile at 0 when
    ``tile >= size``); sizes are in voxels.
    """
    if tile >= size:
        return [0]
    n = math.ceil(size / tile)
    return sorted({round(i * (size - tile) / (n - 1)) for i in range(n)})


class HeldOutSamples:
    """A held-out volume pair cut into training-sized samples that cover it (the validation set).

    Samples have the shape the network trains on (``sample``: 5 slices × tile² for DeepNet, a
    patch³ for SRCNN), placed by :func:`tile_starts` along each axis, so every voxel of the pair is
    scored at least once; samples without a loss-mask voxel are left out. The validation loss is
    the masked MSE over all samples, the training loss measured on data never trained on.
    """

    def __init__(
        self, inputs: np.ndarray, target: np.ndarray, mask: np.ndarray, sample: tuple[int, int, int]
    ) -> None:
        if inputs.shape != target.shape:
            raise ValueError(f"held-out input {inputs.shape} and target {target.shape} differ in shape")
        if any(s > n for s, n in zip(sample, inputs.shape, strict=True)):
            raise ValueError(f"held-out volume {inputs.shape} is smaller than one training sample {sample}")
        self.x, self.t, self.m, self.shape = inputs, target, mask, sample
        starts = [tile_starts(n, s) for n, s in zip(inputs.shape, sample, strict=True)]
        corners = [(a, b, c) for a in starts[0] for b in starts[1] for c in starts[2]]
        self.corners = [c for c in corners if _mask_at(mask, self._slices(c)).any()]
        if not self.corners:
            raise ValueError("the held-out volume has no voxel inside the loss mask")

    def _slices(self, corner: tuple[int, int, int]) -> tuple[slice, slice, slice]:
        return tuple(slice(c, c + s) for c, s in zip(corner, self.shape, strict=True))  # type: ignore[return-value]

    def batches(self, batch: int, channels_first: bool) -> list[tuple[torch.Tensor, ...]]:
        """Return the samples in batches of ``batch``.

        Each batch holds inputs, targets and masks as ``(B, z, y, x)`` stacks, or
        ``(B, 1, z, y, x)`` with ``channels_first`` (3-D networks).
        """
        out = []
        for i in range(0, len(self.corners), batch):
            xs, ts, ms = [], [], []
            for c in self.corners[i : i + batch]:
                sl = self._slices(c)
                xs.append(self.x[sl])
                ts.append(self.t[sl])
                ms.append(np.broadcast_to(_mask_at(self.m, sl), self.shape))
            tensors = (torch.from_numpy(np.ascontiguousarray(np.stack(v))) for v in (xs, ts, ms))
            out.append(tuple(v[:, None] if channels_first else v for v in tensors))
        return out
