"""Training of volume networks (2.5D DeepNet, 3D SRCNN) on a paired volume: the adapter of the loop.

:func:`train_model` normalizes the pair, builds the network, draws random 5-slice tiles (2.5D) or
3D patches (with a held-out validation set) and hands one optimizer step to
:func:`xrsr_lib.train.loop.run_training`, which checkpoints, resumes and writes the model folder
(``config.json`` with method, architecture, normalization, settings (:data:`MODEL_FORMAT`) and
data; ``weights.pt``; ``loss.csv`` with the loss and learning rate of every step;
``validation.csv`` for SRCNN).
:class:`xrsr_lib.infer.LoadedModel` loads it.

The loss is the mean squared error inside the setting ``loss_mask``: the field-of-view circle of
each slice (cone-beam reconstructions) or every voxel (rectangular crops).

Both networks follow one stopping rule. With a held-out pair (``validation``: e.g. a slab of the
same scans kept out of the training pair), its loss (:class:`HeldOutSamples`: the pair cut into
training-sized samples, the same masked MSE) is measured every ``validate_every`` steps; training
ends after ``patience`` validations without a lower one or at ``iterations`` steps, and with
``keep_best`` the weights of the lowest held-out loss are kept (``best_iteration`` and
``stopped_iteration`` in ``config.json``). The learning rate follows one cosine from
``learning_rate`` to ``learning_rate · learning_rate_min_factor`` over ``iterations`` (setting
``learning_rate_schedule``). Without a held-out pair every iteration runs and the final weights are
kept; SRCNN then scores ``validation_fraction`` of its patches as a curve only, so neither network
is selected on data the other does not have.

Data-parallel training (``torchrun``, :mod:`xrsr_lib.train.distributed`): every rank draws the same
global batch of ``batch_size`` from the same seeded generator and trains on its contiguous shard of
``batch_size / world_size`` samples through DistributedDataParallel. The masked mean over the
global batch is ``L = Σ_r S_r / N``, with ``S_r`` the masked sum of squared errors of rank ``r``'s
shard and ``N`` the mask count of the whole batch, which every rank counts itself from the global
batch it holds (exact, no communication). Rank ``r`` back-propagates ``W · S_r / N``; DDP averages
the gradients over the ``W`` ranks, ``(1/W) Σ_r W ∇S_r / N = ∇L``: the gradient of a single-process
step, whatever the shards' mask counts (the mean of per-shard masked means would weight the voxels
of shards with fewer mask voxels more). The logged loss is ``(Σ_r S_r) / N`` (an all-reduce), the
single-process loss up to float32 summation order. The ``config`` (cache key) does not depend on the
number of processes.
"""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from xrsr_lib.config import METHODS, DeepNetSettings, SRCNNSettings, VolumeSettings, settings_class
from xrsr_lib.device import resolve_device
from xrsr_lib.io.cache import Cache, param_key, write_json_atomic
from xrsr_lib.io.validate import check_array, check_same_shape
from xrsr_lib.models import build_model
from xrsr_lib.prepare.masks import loss_mask
from xrsr_lib.prepare.normalization import Normalization
from xrsr_lib.train import distributed
from xrsr_lib.train.loop import TrainingTask, is_finished, run_training, scheduled_learning_rate

__all__ = [
    "METHODS",
    "PatchSampler",
    "StackSampler",
    "check_pair",
    "check_settings",
    "masked_mse",
    "masked_sse",
    "train_cached",
    "train_model",
    "volume_task",
]

log = logging.getLogger(__name__)

#: Version of a volume model folder's ``config.json``: 2 records the settings in sections
#: (``"settings"``); 1 held them flat under ``"training"`` (read by
#: :func:`xrsr_lib.config.networks.recorded_settings`).
MODEL_FORMAT = 2


# ----------------------------------------------------------------------------- data
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


def _mask_at(mask: np.ndarray, sl: tuple[slice, slice, slice]) -> np.ndarray:
    """The loss mask over a (z, y, x) block: a (y, x) mask applies to every slice."""
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
        return self._get(self.train[rng.integers(0, len(self.train), size=batch)])

    def validation_batches(self, batch: int) -> list[tuple[torch.Tensor, ...]]:
        return [self._get(self.val[i : i + batch]) for i in range(0, len(self.val), batch)]


def tile_starts(size: int, tile: int) -> list[int]:
    """Starts of the fewest tiles of side ``tile`` that cover ``[0, size)``, spread evenly, the first
    at 0 and the last flush with the end (one tile at 0 when ``tile >= size``)."""
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
        """The samples in batches of ``batch``: ``(B, z, y, x)`` stacks, or ``(B, 1, z, y, x)`` with
        ``channels_first`` (3-D networks)."""
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


# ----------------------------------------------------------------------------- the adapter
def check_settings(method: str, settings: VolumeSettings) -> None:
    """Raise a ValueError unless ``method`` is a volume method and ``settings`` its settings class."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    want = settings_class(method)
    if not isinstance(settings, want):
        raise ValueError(f"method {method!r} needs {want.__name__} settings, got {type(settings).__name__}")


def volume_task(
    method: str,
    inputs: np.ndarray,
    target: np.ndarray,
    settings: VolumeSettings,
    device: str | torch.device | None = None,
    data_description: dict[str, Any] | None = None,
    mask: np.ndarray | None = None,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
) -> TrainingTask:
    """The :class:`~xrsr_lib.train.loop.TrainingTask` of a volume network (see :func:`train_model`)."""
    check_settings(method, settings)
    world_size = distributed.world()[1]
    distributed.check_divisible(settings.training.batch_size, world_size)
    inputs, target = check_pair(inputs, target)
    dev = resolve_device(device)
    torch.manual_seed(settings.training.seed)
    mask = _loss_mask(settings, inputs.shape, mask)
    norm = Normalization.fit(inputs, target, mask if mask.ndim == 3 else mask[None])
    x, t = norm.inputs(inputs), norm.targets(target)

    model = build_model(method, settings.architecture).to(dev)
    model_config: Any = cast(Any, model).config  # every network of the registry has its typed config
    if method == "deepnet":
        deep = cast(DeepNetSettings, settings).training
        sampler: StackSampler | PatchSampler = StackSampler(x, t, mask, model_config.n_slices, deep.tile)
    else:
        srcnn = cast(SRCNNSettings, settings).training
        fraction = 0.0 if validation is not None else srcnn.validation_fraction  # held-out volume instead
        sampler = PatchSampler(x, t, mask, srcnn.patch, srcnn.stride, fraction, srcnn.seed)
    held_out = None
    if validation is not None:
        vx, vt = (
            check_array(v, name)
            for v, name in zip(validation, ("held-out input", "held-out target"), strict=True)
        )
        check_same_shape(vx, vt, "held-out input", "held-out target", "cut both from the same region")
        if method == "deepnet":
            side = cast(DeepNetSettings, settings).training.tile
            sample = (model_config.n_slices, min(side, vx.shape[1]), min(side, vx.shape[2]))
        else:
            sample = (cast(SRCNNSettings, settings).training.patch,) * 3
        vmask = _loss_mask(settings, vx.shape, None)
        held_out = HeldOutSamples(norm.inputs(vx), norm.targets(vt), vmask, sample)
    elif settings.training.patience is not None and method == "deepnet":
        log.info("no held-out volume: %s trains every iteration (patience applies with one)", method)
    net = distributed.wrap_model(model, dev)  # the model itself in a single process
    model = distributed.unwrap(net)  # on CUDA, with SyncBatchNorm layers (same parameters and keys)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.training.learning_rate)
    rng = np.random.default_rng(settings.training.seed)
    config = {
        "method": method,
        "model": model_config.model_dump(),
        "normalization": norm.as_dict(),
        "settings": settings.model_dump(),
        "data": data_description or {},
        "xrsr_format": MODEL_FORMAT,
    }
    if mask.ndim == 3:
        config["mask_voxels"] = int(mask.sum())
    if held_out is not None:
        config["held_out"] = {"shape": list(held_out.x.shape), "samples": len(held_out.corners)}

    def set_learning_rate(iteration: int) -> float:
        lr = scheduled_learning_rate(
            settings.training.learning_rate,
            settings.training.learning_rate_schedule,
            settings.training.learning_rate_min_factor,
            iteration,
            settings.training.iterations,
        )
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr

    def forward(net_: torch.nn.Module, xb: torch.Tensor) -> torch.Tensor:
        with _autocast(settings.training.precision, dev):
            out = net_(xb)
        return out.float()

    def step(iteration: int) -> dict[str, float]:
        lr = set_learning_rate(iteration)
        xb, tb, mb = (v.to(dev) for v in sampler.sample(rng, settings.training.batch_size))
        loss = masked_mse(forward(model, xb), tb, mb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"loss": loss.item(), "learning_rate": lr}

    def parallel_step(iteration: int) -> dict[str, float]:
        lr = set_learning_rate(iteration)
        batch = sampler.sample(rng, settings.training.batch_size)  # the global batch, the same on every rank
        count = int(batch[2].expand_as(batch[1]).sum())  # mask voxels of the global batch (N)
        xb, tb, mb = (v.to(dev) for v in distributed.shard(batch))
        sse = masked_sse(forward(net, xb), tb, mb)  # S_r
        loss = sse * (world_size / max(count, 1))  # DDP's gradient average is then ∇(Σ_r S_r / N)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"loss": (distributed.reduce_sum(sse) / float(max(count, 1))).item(), "learning_rate": lr}

    validate = None
    if held_out is not None:
        samples, channels_first = held_out, method != "deepnet"

        def validate() -> dict[str, float]:
            batches = samples.batches(settings.training.batch_size, channels_first)
            return {"loss": _masked_mean_loss(model, batches, dev)}
    elif isinstance(sampler, PatchSampler):
        patches = sampler

        def validate() -> dict[str, float]:
            return {
                "loss": _masked_mean_loss(
                    model, patches.validation_batches(settings.training.batch_size), dev
                )
            }

    return TrainingTask(
        name=f"train {method}",
        model=model,
        optimizer=optimizer,
        rng=rng,
        config=config,
        step=step if world_size == 1 else parallel_step,
        loss_fields=("loss", "learning_rate"),
        iterations=settings.training.iterations,
        checkpoint_every=settings.training.checkpoint_every,
        validate=validate,
        validate_every=settings.training.validate_every,
        best_key="loss",
        best_mode="min",
        keep_best=settings.training.keep_best,
        patience=settings.training.patience,
        device=dev,
        distributed=world_size > 1,
    )


def train_model(
    method: str,
    inputs: np.ndarray,
    target: np.ndarray,
    settings: VolumeSettings,
    folder: str | Path,
    device: str | torch.device | None = None,
    progress: bool = True,
    stop_after: int | None = None,
    data_description: dict[str, Any] | None = None,
    mask: np.ndarray | None = None,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
) -> Path:
    """Train ``method`` on a paired volume and write the model folder.

    Parameters
    ----------
    method : {"deepnet", "srcnn"}
    inputs, target : ndarray (z, y, x)
        Low-resolution input and high-resolution target on the same grid.
    settings : DeepNetSettings or SRCNNSettings
        Architecture, training (iterations, batch size, learning rate, tiles/patches, loss mask) and
        inference tiling (:func:`xrsr_lib.config.preset`).
    folder : path
        Model folder; an existing ``checkpoint.pt`` there is resumed, a finished model of the same
        run is returned as it is.
    device : torch device, optional
        Default CUDA when available, else CPU.
    progress : bool
        Show a progress bar.
    stop_after : int, optional
        Stop (with a checkpoint) after this many iterations in total, as an interruption would;
        calling again resumes.
    data_description : dict, optional
        Stored in ``config.json`` (which volumes were used).
    mask : ndarray of bool, optional
        Voxels where the loss is computed, (y, x) for every slice or (z, y, x), combined with the
        setting ``loss_mask`` (use ``loss_mask="none"`` for this mask alone); its voxel count is
        recorded in ``config.json``.
    validation : (inputs, target), optional
        A held-out pair (e.g. a slab of the same scans kept out of ``inputs`` / ``target``), scored
        every ``validate_every`` steps of the training settings by the training loss
        (:class:`HeldOutSamples`, ``validation.csv``); their stopping rule (``patience``) and
        ``keep_best`` use it. SRCNN then trains on all its patches; without it, SRCNN holds out
        ``validation_fraction`` of them and DeepNet is not validated.

    Returns
    -------
    Path
        The model folder.

    Notes
    -----
    Under ``torchrun``, call :func:`xrsr_lib.train.distributed.init_from_env` first and this on every
    rank with the same arguments: the ranks share each global batch of ``batch_size`` (which must be
    divisible by the number of processes), train as one process would (see the module docstring;
    BatchNorm on CPU excepted), and rank 0 writes the folder.
    """
    task = volume_task(method, inputs, target, settings, device, data_description, mask, validation)
    return run_training(task, folder, progress=progress, stop_after=stop_after)


def _loss_mask(settings: VolumeSettings, shape: tuple[int, ...], user: np.ndarray | None) -> np.ndarray:
    """The setting's (y, x) loss mask, intersected with the user's mask when one is given."""
    base = loss_mask(settings.training.loss_mask, (shape[1], shape[2]))
    if user is None:
        return base
    m = check_array(user, "mask", (2, 3), dtype=bool)
    if m.shape not in (shape, shape[1:]):
        raise ValueError(
            f"mask has shape {m.shape}; it must be the volume's {shape} or a slice's {shape[1:]}"
        )
    m = m & (base if m.ndim == 2 else base[None])
    if m.sum() == 0:
        raise ValueError("the loss mask selects no voxel")
    return m


def _autocast(precision: str, dev: torch.device) -> contextlib.AbstractContextManager[Any]:
    """The forward pass's arithmetic: bfloat16 autocast on ``dev``, or float32 (no autocast)."""
    if precision == "bfloat16":
        return torch.autocast(device_type=dev.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _masked_mean_loss(
    model: torch.nn.Module, batches: list[tuple[torch.Tensor, ...]], dev: torch.device
) -> float:
    """Masked MSE over every voxel of ``batches`` (eval mode): the sum of squared errors over the
    mask count, not a mean of batch means."""
    model.eval()
    total, count = 0.0, 0.0
    with torch.inference_mode():
        for xb, tb, mb in batches:
            xb, tb, mb = xb.to(dev), tb.to(dev), mb.to(dev)
            m = mb.to(xb.dtype)
            total += float((((model(xb) - tb) ** 2) * m).sum())
            count += float(m.sum())
    return total / max(count, 1.0)


def train_cached(
    cache: Cache,
    params: dict[str, Any],
    method: str,
    inputs: np.ndarray,
    target: np.ndarray,
    settings: VolumeSettings,
    device: str | torch.device | None = None,
    progress: bool = True,
    stage: str = "model",
    mask: np.ndarray | None = None,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
) -> Path:
    """Train into ``<cache>/<stage>/<key>/`` unless that finished folder already exists.

    Training runs in ``<key>.partial/`` (resumable after an interruption) and the folder is renamed
    to its final name only when complete, so a finished model is never half-written. Under
    ``torchrun`` every rank calls this; rank 0 renames, and all return the final folder.
    """
    final = cache.path_for(stage, params, suffix="")
    if distributed.is_main() and not is_finished(final):
        _adopt_earlier_key(cache, stage, params, settings, final)
    distributed.barrier()
    if is_finished(final):
        log.info("cache hit  %s %s", stage, final.name)
        return final
    work = final.with_name(final.name + ".partial")
    train_model(
        method,
        inputs,
        target,
        settings,
        work,
        device=device,
        progress=progress,
        data_description=params,
        mask=mask,
        validation=validation,
    )
    if distributed.is_main():  # under torchrun, rank 0 moves the folder; the others wait
        _install(work, final, stage, params)
    distributed.barrier()
    return final


def _install(folder: Path, final: Path, stage: str, params: dict[str, Any]) -> None:
    """Move a finished model folder to its final name (replacing an unfinished one) and record its key."""
    if final.exists():
        shutil.rmtree(final)
    folder.rename(final)
    write_json_atomic(final.with_suffix(".json"), {"stage": stage, "params": params})


def _adopt_earlier_key(
    cache: Cache, stage: str, params: dict[str, Any], settings: VolumeSettings, final: Path
) -> None:
    """Rename a finished model trained under an earlier key to ``final`` instead of training it again.

    Model keys held the settings' inference tile and overlap until those left them (they change
    predictions, not weights): a finished model of ``stage`` whose recorded parameters equal
    ``params`` apart from those is the same model, whatever tiling it was keyed with.
    """
    excluded = set(settings.key_dict(with_excluded=True)) - set(settings.key_dict())
    if not excluded or params.get("settings") != settings.key_dict():
        return
    wanted = param_key(params)
    for meta in sorted((cache.root / stage).glob("*.json")):
        earlier = meta.with_suffix("")
        try:
            recorded = cache.metadata(earlier)["params"]
            tiled = recorded["settings"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if not isinstance(tiled, dict) or not excluded & set(tiled) or not is_finished(earlier):
            continue
        untiled = {**recorded, "settings": {k: v for k, v in tiled.items() if k not in excluded}}
        if param_key(untiled) != wanted:
            continue
        _install(earlier, final, stage, params)
        meta.unlink(missing_ok=True)
        log.info(
            "cache: %s %s was trained under the earlier key %s (inference tile %s); renamed",
            stage,
            final.name,
            earlier.name,
            tiled.get("inference_tile"),
        )
        return
