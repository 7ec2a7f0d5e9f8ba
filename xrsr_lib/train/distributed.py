"""Data-parallel training with ``torchrun`` (PyTorch DistributedDataParallel).

Launch any script that trains through :func:`xrsr_lib.train.volumes.train_model` with e.g.::

    torchrun --standalone --nproc_per_node 2 my_training.py ...

after calling :func:`init_from_env` at its start. Every process (*rank*) then builds the same
seeded task, draws the **same global batch** of ``batch_size`` tiles or patches from the same
NumPy generator (so the generator stream and the checkpoints are identical on every rank), computes
the loss on its own :func:`shard` of that batch, and DDP averages the gradients over the ranks. The
adapters scale the per-rank loss so that this average is the gradient of the single-process loss
of the whole batch (see :func:`xrsr_lib.train.volumes.volume_task`); only rank 0 writes the model
folder (:func:`xrsr_lib.train.loop.run_training`).

The backend is NCCL when CUDA is available (one GPU per rank, ``LOCAL_RANK``), else gloo (CPU).
On CUDA, BatchNorm layers become :class:`torch.nn.SyncBatchNorm`, whose statistics are those of
the global batch; torch has no SyncBatchNorm on CPU, so there each rank normalizes with the
statistics of its own shard (a warning says so), and BatchNorm networks then do not train exactly
as in one process. Instance norm or no norm trains the same up to float32 rounding.

Without ``WORLD_SIZE > 1`` in the environment nothing here changes anything: :func:`world` is
``(0, 1)``, :func:`wrap_model` returns the model, :func:`barrier` does nothing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

__all__ = [
    "barrier",
    "check_divisible",
    "init_from_env",
    "is_main",
    "reduce_sum",
    "shard",
    "unwrap",
    "world",
    "wrap_model",
]

log = logging.getLogger(__name__)

_warned_cpu_batchnorm = False


def init_from_env() -> bool:
    """Join the process group that ``torchrun`` describes in the environment, once.

    With ``WORLD_SIZE > 1`` (set by ``torchrun``, with ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR``
    and ``MASTER_PORT``) and no default process group yet, initialize it: backend ``"nccl"`` when
    CUDA is available (and make ``cuda:LOCAL_RANK`` the current device), else ``"gloo"``. Calling
    it again, or after the group was initialized elsewhere, changes nothing.

    Returns
    -------
    bool
        Whether this process runs distributed (a process group of more than one rank exists).
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size > 1 and dist.is_available() and not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
            backend = "nccl"
        else:
            backend = "gloo"
        dist.init_process_group(backend=backend)
        log.info(
            "rank %d of %d joined the process group (%s)", dist.get_rank(), dist.get_world_size(), backend
        )
    return world()[1] > 1


def world() -> tuple[int, int]:
    """``(rank, world_size)`` of this process; ``(0, 1)`` when not distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    """Whether this process is rank 0 (always true when not distributed): the one that writes files."""
    return world()[0] == 0


def barrier() -> None:
    """Wait until every rank gets here; does nothing when not distributed."""
    if world()[1] > 1:
        dist.barrier()


def shard(
    batch_tensors: Sequence[torch.Tensor], rank: int | None = None, world_size: int | None = None
) -> tuple[torch.Tensor, ...]:
    """Return this rank's part of a global batch: a contiguous block along the first (batch) dimension.

    Rank ``r`` of ``W`` gets samples ``[r·n/W, (r+1)·n/W)`` of a batch of ``n``, so the shards
    concatenated in rank order are the global batch, and every shard has ``n/W`` samples.

    Parameters
    ----------
    batch_tensors : sequence of Tensor
        Tensors of the same batch size ``n`` (e.g. inputs, targets, loss masks).
    rank, world_size : int, optional
        Default: this process's (:func:`world`).

    Returns
    -------
    tuple of Tensor
        Views of the rank's block, in the order given.

    Raises
    ------
    ValueError
        If the batch sizes differ, or ``n`` is not divisible by the world size.
    """
    r, w = world()
    rank = r if rank is None else int(rank)
    world_size = w if world_size is None else int(world_size)
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside a world of {world_size}")
    sizes = {int(t.shape[0]) for t in batch_tensors}
    if len(sizes) != 1:
        raise ValueError(f"the tensors of a batch must have one batch size, got {sorted(sizes)}")
    n = sizes.pop()
    check_divisible(n, world_size)
    k = n // world_size
    return tuple(t[rank * k : (rank + 1) * k] for t in batch_tensors)


def check_divisible(batch_size: int, world_size: int | None = None) -> None:
    """Raise a ValueError unless the global ``batch_size`` splits into equal shards over the ranks."""
    world_size = world()[1] if world_size is None else int(world_size)
    if batch_size % world_size:
        raise ValueError(
            f"the global batch size {batch_size} is not divisible by the world size "
            f"{world_size} (number of processes); choose a batch_size that is a multiple of "
            f"{world_size} or run on a number of processes that divides {batch_size}"
        )


def reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Return the sum of ``tensor`` over all ranks (a new tensor; a copy when not distributed)."""
    out = tensor.detach().clone()
    if world()[1] > 1:
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out


def wrap_model(model: nn.Module, device: str | torch.device) -> nn.Module:
    """Wrap the model for data-parallel training: DistributedDataParallel when distributed, else itself.

    On CUDA the BatchNorm layers are first converted to :class:`torch.nn.SyncBatchNorm` (statistics
    of the global batch; same parameter objects and state_dict keys). On CPU torch has no
    SyncBatchNorm: BatchNorm layers keep per-rank statistics of each shard, and a warning is logged
    once. Build the optimizer on the parameters of :func:`unwrap` of the result (the same tensors)
    and save ``unwrap(model).state_dict()`` (no ``module.`` prefix).

    Parameters
    ----------
    model : nn.Module
        Initialized and already on ``device``, identically on every rank (DDP also broadcasts
        rank 0's parameters and buffers).
    device : str or torch.device
        The rank's device; a CUDA device without index means the current one.
    """
    if world()[1] == 1:
        return model
    device = torch.device(device)
    has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return DistributedDataParallel(model, device_ids=[index], output_device=index)
    global _warned_cpu_batchnorm
    if has_bn and not _warned_cpu_batchnorm:
        log.warning(
            "data-parallel training on %s: torch has no SyncBatchNorm there, so BatchNorm layers "
            "normalize with the statistics of each rank's shard, not of the global batch (the "
            "result differs from a single-process run); use norm='instance' or 'none' for "
            "equivalence",
            device.type,
        )
        _warned_cpu_batchnorm = True
    return DistributedDataParallel(model)


def unwrap(model: nn.Module) -> nn.Module:
    """Return the module inside a DistributedDataParallel wrapper (the model itself otherwise)."""
    return model.module if isinstance(model, DistributedDataParallel) else model
