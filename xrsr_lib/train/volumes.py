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

The parts, each with one responsibility, all importable from here:

- :mod:`~xrsr_lib.train.volume_samples`: training pairs, samplers (:class:`StackSampler`,
  :class:`PatchSampler`), held-out samples (:class:`HeldOutSamples`, :func:`tile_starts`) and the
  masked losses (:func:`masked_mse`, :func:`masked_sse`, :func:`masked_mean_loss`);
- :mod:`~xrsr_lib.train.volume_adapter`: the settings check (:func:`check_settings`), the task
  (:func:`volume_task`) and the training call (:func:`train_model`);
- :mod:`~xrsr_lib.train.volume_cache`: training into the cache (:func:`train_cached`).
"""

from xrsr_lib.train.volume_adapter import METHODS, MODEL_FORMAT, check_settings, train_model, volume_task
from xrsr_lib.train.volume_cache import train_cached
from xrsr_lib.train.volume_samples import (
    HeldOutSamples,
    PatchSampler,
    StackSampler,
    check_pair,
    masked_mean_loss,
    masked_mse,
    masked_sse,
    tile_starts,
)

__all__ = [
    "METHODS",
    "MODEL_FORMAT",
    "HeldOutSamples",
    "PatchSampler",
    "StackSampler",
    "check_pair",
    "check_settings",
    "masked_mean_loss",
    "masked_mse",
    "masked_sse",
    "tile_starts",
    "train_cached",
    "train_model",
    "volume_task",
]
