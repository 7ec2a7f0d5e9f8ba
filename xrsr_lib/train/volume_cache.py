"""Cache-aware training of volume networks: a model folder per parameter key, trained once.

:func:`train_cached` trains with :func:`~xrsr_lib.train.volume_adapter.train_model` into
``<cache>/<stage>/<key>/`` unless that finished folder exists, and adopts a finished model recorded
under an earlier key of the same training (the keys once held the inference tiling) instead of
training it again.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xrsr_lib.config import VolumeSettings
from xrsr_lib.io.cache import Cache, param_key, write_json_atomic
from xrsr_lib.train import distributed
from xrsr_lib.train.loop import is_finished
from xrsr_lib.train.volume_adapter import train_model

__all__ = ["train_cached"]

log = logging.getLogger(__name__)


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
