"""The one resumable training loop behind every network of xrsr.

A *model folder* is what a training leaves behind::

    config.json      what was trained on what (the adapter's ``config``) + results of the run
    weights.pt       state_dict (load with ``torch.load(..., weights_only=True)``)
    loss.csv         one row per optimizer step: ``iteration`` and the adapter's loss terms
    validation.csv   one row per validation: ``iteration`` and ``val_*`` scores (with validation)
    checkpoint.pt    model, optimizer, CPU (+ CUDA) RNG states, history (removed once finished)

:func:`run_training` owns everything the adapters share: resuming from ``checkpoint.pt`` (which
must have been written by the same run), checkpoints every ``checkpoint_every`` steps and at an
interruption, validation every ``validate_every`` steps and at the last step, keeping the weights
of the best validation score, the loss CSVs, a progress bar, and the same-run check of a finished
folder. The adapters (:mod:`xrsr_lib.train.volumes` for 2.5D / 3D volume networks,
:mod:`xrsr_lib.train.slices` for 2-D super-resolution) only say how to draw a batch and compute
the loss (:class:`TrainingTask`).

A resumed run draws the same batches and ends with the same weights as an uninterrupted one: the
NumPy generator that samples batches and torch's CPU (and CUDA) generators are checkpointed with
the model and optimizer.

Under ``torchrun`` (:mod:`xrsr_lib.train.distributed`) every rank runs this loop on the same task
and reads the same checkpoint; only rank 0 writes the folder (checkpoints, CSVs, weights,
``config.json``, TensorBoard, progress bar), and the other ranks wait for it at a barrier before
returning, so the folder is complete on every rank when :func:`run_training` returns. A task whose
``step`` is data-parallel (``TrainingTask.distributed``) returns the loss of the global batch, so
rank 0's ``loss.csv`` is that of a single-process run.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from tqdm.auto import tqdm

from xrsr_lib.io.cache import atomic_path, write_json_atomic
from xrsr_lib.train import distributed

log = logging.getLogger(__name__)

__all__ = [
    "FOLDER_RESULT_KEYS",
    "TrainingTask",
    "is_finished",
    "read_curves",
    "run_training",
    "save_weights",
    "scheduled_learning_rate",
]

#: Keys a finished run adds to ``config.json`` (everything else must match to count as the same run):
#: these and every ``best_val_<score>``.
FOLDER_RESULT_KEYS = ("train_seconds", "best_metric", "best_iteration", "stopped_iteration")


@dataclass
class TrainingTask:
    """What an adapter tells the loop.

    Attributes
    ----------
    name : str
        Shown on the progress bar and in log lines.
    model : torch.nn.Module
        The network, initialized (seeded) and on its device.
    optimizer : torch.optim.Optimizer
    rng : numpy.random.Generator
        Draws the batches; checkpointed.
    config : dict
        JSON-able description of the run (architecture, settings, data); a checkpoint or a finished
        folder counts as this run only if its config is equal.
    step : callable ``(iteration) -> dict``
        One optimizer step at the 0-based ``iteration``: draw a batch with ``rng``, compute the
        loss, step the optimizer, return the row of loss terms (floats) for ``loss.csv``.
    loss_fields : tuple of str
        Columns of ``loss.csv`` after ``iteration``.
    iterations, checkpoint_every : int
    validate : callable ``() -> dict``, optional
        Scores on held-out data (model in eval mode); keys become ``val_<key>`` columns.
    validate_every : int, optional
        Validate every this many steps and at the last step.
    best_key : str
        Validation score that picks the kept weights; ``best_mode`` says whether lower or higher is
        better. ``keep_best=False`` keeps the last weights.
    patience : int, optional
        Stopping rule: end the training once ``patience`` validations in a row have not improved
        ``best_key`` (the best is then ``patience · validate_every`` steps old); None runs every
        iteration. The step it stopped at is ``stopped_iteration`` in ``config.json``.
    device : torch.device
    distributed : bool
        Whether ``step`` is data-parallel: it trains on this rank's shard of the global batch through
        a DistributedDataParallel wrapper of ``model`` and returns the global batch's loss terms.
        ``model`` is always the unwrapped module (its state_dict is what is saved). A task that is
        not data-parallel run under ``torchrun`` trains the whole batch on every rank (a warning).
    """

    name: str
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    rng: np.random.Generator
    config: dict[str, Any]
    step: Callable[[int], dict[str, float]]
    loss_fields: tuple[str, ...]
    iterations: int
    checkpoint_every: int
    validate: Callable[[], dict[str, float]] | None = None
    validate_every: int | None = None
    best_key: str = "loss"
    best_mode: Literal["min", "max"] = "min"
    keep_best: bool = True
    patience: int | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    distributed: bool = False


def scheduled_learning_rate(
    peak: float, schedule: str, min_factor: float, iteration: int, iterations: int
) -> float:
    """Learning rate of step ``iteration`` (0-based) of ``iterations``.

    A pure function of the iteration, so a resumed run follows the same schedule without any
    scheduler state. ``"cosine"`` gives ``lr_min + (peak - lr_min)·(1 + cos(π·t/T)) / 2`` with
    ``lr_min = peak · min_factor``; ``"none"`` keeps ``peak``.
    """
    if schedule == "none":
        return peak
    if schedule != "cosine":
        raise ValueError(f"unknown learning-rate schedule {schedule!r}; choose 'cosine' or 'none'")
    lr_min = peak * min_factor
    return lr_min + 0.5 * (peak - lr_min) * (1.0 + math.cos(math.pi * iteration / iterations))


def is_finished(folder: str | Path) -> bool:
    """Whether ``folder`` holds a finished model (``config.json`` and ``weights.pt``, no checkpoint)."""
    folder = Path(folder)
    return (
        (folder / "config.json").exists()
        and (folder / "weights.pt").exists()
        and not (folder / "checkpoint.pt").exists()
    )


def _same_run(done: dict[str, Any], config: dict[str, Any]) -> bool:
    return {
        k: v for k, v in done.items() if k not in FOLDER_RESULT_KEYS and not k.startswith("best_val_")
    } == config


def save_weights(model: torch.nn.Module, path: Path) -> None:
    """Write the model's state_dict (on CPU) atomically."""
    with atomic_path(path) as tmp:
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp)


def _write_csv(path: Path, fields: list[str], rows: list[dict[str, float]]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def _tensorboard(folder: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # tensorboard is optional
        return None
    return SummaryWriter(log_dir=str(folder))


def _is_better(score: float, best: float, mode: str) -> bool:
    return score < best if mode == "min" else score > best


def run_training(
    task: TrainingTask, folder: str | Path, *, progress: bool = True, stop_after: int | None = None
) -> Path:
    """Run (or resume, or recognise as done) the training of ``task`` in ``folder``.

    Parameters
    ----------
    task : TrainingTask
    folder : path
        Model folder; created if missing.
    progress : bool
        Show a tqdm progress bar.
    stop_after : int, optional
        Stop with a checkpoint after this many steps in total, as an interruption would; calling
        again resumes.

    Returns
    -------
    Path
        The folder.

    Raises
    ------
    ValueError
        If the folder's checkpoint or finished model was written by a different run.
    FloatingPointError
        If a loss term becomes NaN or infinite.
    """
    folder = Path(folder)
    config = json.loads(json.dumps(task.config))
    rank, world_size = distributed.world()
    main = rank == 0
    if world_size > 1 and not task.distributed:
        log.warning(
            "%s is not data-parallel: each of the %d ranks trains on the whole batch (rank 0 "
            "writes the folder)",
            task.name,
            world_size,
        )
    ckpt_path, cfg_path, w_path = folder / "checkpoint.pt", folder / "config.json", folder / "weights.pt"
    if not ckpt_path.exists() and cfg_path.exists() and w_path.exists():
        if not _same_run(json.loads(cfg_path.read_text()), config):
            raise ValueError(
                f"{folder} holds a model trained with other settings or data; use a new folder "
                "(or delete it to retrain)"
            )
        log.info("model in %s is already trained", folder)
        distributed.barrier()  # every rank has seen the folder before a caller moves it
        return folder
    if main:
        folder.mkdir(parents=True, exist_ok=True)

    model, optimizer, dev = task.model, task.optimizer, task.device
    start, history, val_history, seconds = 0, [], [], 0.0
    inf = math.inf if task.best_mode == "min" else -math.inf
    best: dict[str, Any] = {"score": inf, "iteration": 0, "scores": {}, "state": None}
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if ckpt["config"] != config:
            raise ValueError(f"{ckpt_path} was written for a different run; delete it to start over")
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        task.rng.bit_generator.state = ckpt["numpy_rng"]
        torch.set_rng_state(ckpt["torch_rng"])
        if ckpt.get("cuda_rng") is not None and dev.type == "cuda":
            torch.cuda.set_rng_state(ckpt["cuda_rng"], dev)
        start, history, val_history = ckpt["iteration"], ckpt["history"], ckpt["val_history"]
        best, seconds = ckpt["best"], ckpt["seconds"]
        log.info("resuming %s from iteration %d", folder, start)
    distributed.barrier()  # every rank has read the folder before rank 0 writes to it

    end = task.iterations if stop_after is None else max(start, min(int(stop_after), task.iterations))
    t0 = time.perf_counter() - seconds
    writer = _tensorboard(folder) if main else None
    bar = tqdm(
        range(start, end),
        desc=task.name,
        disable=not (progress and main),
        initial=start,
        total=task.iterations,
        mininterval=5.0,
    )  # logs stay short under papermill
    stopped = task.iterations
    for it in bar:
        model.train()
        row = {"iteration": it + 1, **task.step(it)}
        bad = [k for k, v in row.items() if not math.isfinite(v)]
        if bad:
            raise FloatingPointError(
                f"{task.name}: {bad[0]} is {row[bad[0]]} at iteration {it + 1}; "
                "lower the learning rate or clip the gradients"
            )
        history.append(row)
        if writer is not None:
            for k, v in row.items():
                if k != "iteration":
                    writer.add_scalar(k, v, it + 1)
        bar.set_postfix(loss=f"{row[task.loss_fields[0]]:.4f}", refresh=False)  # mininterval rules
        every = task.validate_every
        due = (every is not None and (it + 1) % every == 0) or it + 1 == task.iterations
        if task.validate is not None and due:
            scores = task.validate()
            val_history.append({"iteration": it + 1, **{f"val_{k}": v for k, v in scores.items()}})
            log.info(
                "%s: iteration %d, validation %s",
                task.name,
                it + 1,
                ", ".join(f"{k} {v:.5g}" for k, v in scores.items()),
            )
            if _is_better(scores[task.best_key], best["score"], task.best_mode):
                best = {
                    "score": scores[task.best_key],
                    "iteration": it + 1,
                    "scores": scores,
                    "state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
                }
            if _out_of_patience(task, it + 1, best["iteration"]):
                stopped = it + 1
                log.info(
                    "%s: stopped at iteration %d, no better validation %s since iteration %d",
                    task.name,
                    stopped,
                    task.best_key,
                    best["iteration"],
                )
                break
        if main and ((it + 1) % task.checkpoint_every == 0 or it + 1 == end):
            state = {
                "iteration": it + 1,
                "history": history,
                "val_history": val_history,
                "best": best,
                "seconds": time.perf_counter() - t0,
            }
            _checkpoint(ckpt_path, task, state, config)
    bar.close()
    if writer is not None:
        writer.close()
    if main:
        _write_csv(folder / "loss.csv", ["iteration", *task.loss_fields], history)
    if end < task.iterations and stopped == task.iterations:
        distributed.barrier()  # the checkpoint is written for every rank
        return folder  # interrupted on purpose; the checkpoint resumes
    extra: dict[str, Any] = {}
    if task.validate is not None:
        if main:
            _write_csv(folder / "validation.csv", list(val_history[-1]), val_history)
        if task.keep_best and best["state"] is not None:
            model.load_state_dict(best["state"])
            chosen = {"iteration": best["iteration"], **best["scores"]}
        else:
            last = val_history[-1]
            chosen = {
                "iteration": last["iteration"],
                **{k[4:]: v for k, v in last.items() if k != "iteration"},
            }
        extra = {
            "best_metric": task.best_key,
            "best_iteration": int(chosen["iteration"]),
            "stopped_iteration": stopped,
            **{
                f"best_val_{k}": round(float(v), 4 if k == "psnr" else 6)
                for k, v in chosen.items()
                if k != "iteration"
            },
        }
    if main:
        save_weights(model, w_path)
        write_json_atomic(cfg_path, {**config, **extra, "train_seconds": round(time.perf_counter() - t0, 2)})
        ckpt_path.unlink(missing_ok=True)
    distributed.barrier()  # the folder is complete for every rank
    return folder


def _out_of_patience(task: TrainingTask, iteration: int, best_iteration: int) -> bool:
    """Whether the stopping rule ends the training after the validation at ``iteration``."""
    if task.patience is None or task.validate_every is None:
        return False
    return iteration < task.iterations and iteration - best_iteration >= task.patience * task.validate_every


def _checkpoint(path: Path, task: TrainingTask, state: dict[str, Any], config: dict[str, Any]) -> None:
    dev = task.device
    ckpt = {
        "model": {k: v.detach().cpu() for k, v in task.model.state_dict().items()},
        "optimizer": task.optimizer.state_dict(),
        "numpy_rng": task.rng.bit_generator.state,
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state(dev) if dev.type == "cuda" else None,
        "config": config,
        **state,
    }
    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)


def read_curves(folder: str | Path) -> tuple[Any, Any]:
    """Read the loss and validation curves of a model folder as ``(loss, validation)`` DataFrames.

    ``validation`` is None for a run without validation. Folders written before the unified loop
    (study A: ``train_loss`` and ``val_loss`` columns in ``loss.csv``) are read into the same shape
    (``loss`` column; ``val_loss`` rows in ``validation``).
    """
    import pandas as pd

    folder = Path(folder)
    loss = pd.read_csv(folder / "loss.csv")
    val = pd.read_csv(folder / "validation.csv") if (folder / "validation.csv").exists() else None
    if "train_loss" in loss.columns:
        if "val_loss" in loss.columns and loss["val_loss"].notna().any():
            val = loss.loc[loss["val_loss"].notna(), ["iteration", "val_loss"]].reset_index(drop=True)
        loss = loss.rename(columns={"train_loss": "loss"}).drop(columns=["val_loss"], errors="ignore")
    return loss, val
