"""The adapter of the training loop for volume networks (2.5D DeepNet, 3D SRCNN) on a paired volume.

:func:`volume_task` checks the settings and the pair, normalizes it, builds the network, its sampler
(:mod:`xrsr_lib.train.volume_samples`) and the held-out set, and returns the
:class:`~xrsr_lib.train.loop.TrainingTask` of one optimizer step; :func:`train_model` runs it with
:func:`xrsr_lib.train.loop.run_training` into a model folder (:data:`MODEL_FORMAT`). The loss, the
stopping rule and the data-parallel arithmetic are described in :mod:`xrsr_lib.train.volumes`.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from xrsr_lib.config import METHODS, DeepNetSettings, SRCNNSettings, VolumeSettings, settings_class
from xrsr_lib.device import resolve_device
from xrsr_lib.io.validate import check_array, check_same_shape
from xrsr_lib.models import build_model
from xrsr_lib.prepare.masks import loss_mask
from xrsr_lib.prepare.normalization import Normalization
from xrsr_lib.train import distributed
from xrsr_lib.train.loop import TrainingTask, run_training, scheduled_learning_rate
from xrsr_lib.train.volume_samples import (
    HeldOutSamples,
    PatchSampler,
    StackSampler,
    check_pair,
    masked_mean_loss,
    masked_mse,
    masked_sse,
)

__all__ = ["METHODS", "MODEL_FORMAT", "check_settings", "train_model", "volume_task"]

log = logging.getLogger(__name__)

#: Version of a volume model folder's ``config.json``: 2 records the settings in sections
#: (``"settings"``); 1 held them flat under ``"training"`` (read by
#: :func:`xrsr_lib.config.networks.recorded_settings`).
MODEL_FORMAT = 2


def check_settings(method: str, settings: VolumeSettings) -> None:
    """Raise a ValueError unless ``method`` is a volume method and ``settings`` its settings class."""
    want = settings_class(method)  # a ValueError naming the methods for an unknown one
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
    """Build the :class:`~xrsr_lib.train.loop.TrainingTask` of a volume network.

    The parameters are :func:`train_model`'s (without the folder and the loop's options); the
    task's ``config`` is what ``config.json`` records and does not depend on the number of processes.
    """
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
            return {"loss": masked_mean_loss(model, batches, dev)}
    elif isinstance(sampler, PatchSampler):
        patches = sampler

        def validate() -> dict[str, float]:
            return {
                "loss": masked_mean_loss(model, patches.validation_batches(settings.training.batch_size), dev)
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
    """Return the setting's (y, x) loss mask, intersected with the user's mask when one is given."""
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
    """Return the forward pass's arithmetic: bfloat16 autocast on ``dev``, or float32 (no autocast)."""
    if precision == "bfloat16":
        return torch.autocast(device_type=dev.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
