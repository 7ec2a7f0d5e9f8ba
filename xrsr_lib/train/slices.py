"""Training of the 2-D super-resolution networks of study B (UTSR, SwinIR, RRDBNet).

The adapter of :func:`xrsr_lib.train.loop.run_training` for 2-D image pairs. A trained SR model is
a folder::

    config.json      model name, model config, settings, scale, stage, data, train seconds
    weights.pt       state_dict (load with ``torch.load(..., weights_only=True)``)
    loss.csv         iteration, loss, l1, edge, learning_rate
    validation.csv   iteration, val_loss, val_l1, val_edge, val_psnr (with validation pairs)
    checkpoint.pt    model + optimizer + RNG states + iteration (removed once training finished)

:func:`train_sr` samples random aligned patch pairs
(:func:`~xrsr_lib.train.slice_samples.sample_patch_pairs`: a ``patch × patch`` low-resolution
patch and the ``scale·patch`` high-resolution patch covering the same area, flipped / rotated
together), minimizes :class:`~xrsr_lib.train.losses.SREdgeLoss` with Adam, and resumes from
``checkpoint.pt`` when it finds one, so an interrupted run ends with the same weights as an
uninterrupted one.

Two-stage training (study B) is :func:`two_stage`: stage 1 pre-trains on natural images degraded
exactly like the nano-CT data (:func:`~xrsr_lib.train.slice_samples.natural_pairs`), stage 2
fine-tunes on the nano-CT train split starting from the stage-1 weights. The "fine-tune only"
ablation is stage 2 from a random initialization (``two_stage(..., pretrain=False)``). Chaining by
hand is the same::

    pre = train_sr(name, cfg, *natural_pairs(n, hr_size, scale, sigma, noise, seed=0), s1, "pre")
    fine = train_sr(name, cfg, split["lr"], split["hr"], s2, "fine", init_weights=pre)

:class:`xrsr_lib.infer.LoadedModel` loads a finished folder and super-resolves 2-D images.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from pydantic import BaseModel

from xrsr_lib.config import SRTrainingConfig
from xrsr_lib.device import resolve_device
from xrsr_lib.io.cache import canonical_params
from xrsr_lib.models import build_model
from xrsr_lib.simulate.nanoct import DEFAULT_BLUR_SIGMA_PX, DEFAULT_NOISE_STD
from xrsr_lib.train.loop import TrainingTask, run_training, scheduled_learning_rate
from xrsr_lib.train.losses import SREdgeLoss
from xrsr_lib.train.slice_samples import check_sr_pair, natural_pairs, sample_patch_pairs

log = logging.getLogger(__name__)

__all__ = [
    "SR_MODELS",
    "SRTrainingConfig",
    "check_sr_pair",
    "learning_rate",
    "natural_pairs",
    "sample_patch_pairs",
    "train_sr",
    "two_stage",
    "validation_psnr",
    "validation_scores",
]

#: Registry names of the 2-D super-resolution networks this module trains.
SR_MODELS = ("utsr", "swinir", "rrdbnet")

_FORMAT = 1
_LOSS_FIELDS = ("loss", "l1", "edge", "learning_rate")
_VAL_FIELDS = ("loss", "l1", "edge", "psnr")


# ----------------------------------------------------------------------------- settings
def learning_rate(settings: SRTrainingConfig, iteration: int) -> float:
    """Return the learning rate of step ``iteration`` (0-based) under the schedule of ``settings``.

    The schedule is :func:`xrsr_lib.train.loop.scheduled_learning_rate`'s.
    """
    return scheduled_learning_rate(
        settings.learning_rate,
        settings.learning_rate_schedule,
        settings.learning_rate_min_factor,
        iteration,
        settings.iterations,
    )


def _fingerprint(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


# ----------------------------------------------------------------------------- training
def _weights_file(path: str | Path) -> Path:
    p = Path(path)
    if p.is_dir():
        p = p / "weights.pt"
    if not p.is_file():
        raise FileNotFoundError(f"initial weights not found: {p}")
    return p


def _load_init(model: torch.nn.Module, path: Path) -> None:
    state = torch.load(path, map_location="cpu", weights_only=True)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ValueError(
            f"initial weights {path} do not match the architecture being trained "
            f"(use the same model name and model config as the pre-training): {err}"
        ) from None


def train_sr(
    model_name: str,
    model_config: dict[str, Any] | BaseModel | None,
    lr_images: np.ndarray,
    hr_images: np.ndarray,
    settings: SRTrainingConfig,
    folder: str | Path,
    device: str | torch.device | None = None,
    init_weights: str | Path | None = None,
    progress: bool = True,
    *,
    stage: str = "train",
    data_description: dict[str, Any] | None = None,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    stop_after: int | None = None,
) -> Path:
    """Train a 2-D SR network on aligned low/high-resolution image pairs and write its folder.

    Parameters
    ----------
    model_name : {"utsr", "swinir", "rrdbnet"}
    model_config : dict, config instance or None
        Architecture (see :func:`xrsr_lib.models.build_model`); its ``scale`` is the SR factor and
        its ``in_channels`` / ``out_channels`` must be 1 (grey images).
    lr_images : ndarray (N, h, w)
    hr_images : ndarray (N, scale·h, scale·w)
        Pairs on aligned grids: low-resolution pixel ``(r, c)`` covers high-resolution pixels
        ``[s·r, s·r+s) × [s·c, s·c+s)`` (the geometry of :func:`~xrsr_lib.simulate.nanoct.degrade_slice`).
    settings : SRTrainingConfig
    folder : path
        Model folder; an existing ``checkpoint.pt`` there is resumed (it must have been written for
        the same model, settings, stage and data). A finished folder of the same run is returned as is.
    device : torch device, optional
        Default CUDA when available, else CPU.
    init_weights : path, optional
        ``weights.pt`` (or a model folder holding one) to start from, for fine-tuning; must match
        the architecture exactly.
    progress : bool
        Show a tqdm progress bar.
    stage : str
        Name of the stage, stored in ``config.json`` (e.g. "pretrain", "finetune").
    data_description : dict, optional
        Stored in ``config.json`` (which data were used).
    validation : (lr_images, hr_images), optional
        Validation pairs (same geometry as the training pairs), scored as the mean PSNR of the
        whole super-resolved images (data range 1) and by the training objective every
        ``settings.validate_every`` iterations and at the end; written to ``validation.csv``.
        With ``settings.keep_best`` the weights of the best validation score
        (``settings.best_metric``: lowest loss or highest PSNR) are kept (``best_iteration`` in
        ``config.json``).
    stop_after : int, optional
        Stop with a checkpoint after this many iterations in total, as an interruption would;
        calling again resumes.

    Returns
    -------
    Path
        The model folder.

    Raises
    ------
    ValueError
        Unknown / non-SR model, non-grey model, invalid data shapes, a patch larger than the
        images, initial weights of another architecture, or a checkpoint / finished folder of a
        different run.
    """
    if model_name not in SR_MODELS:
        raise ValueError(f"train_sr trains the 2-D SR models {SR_MODELS}, got {model_name!r}")
    if not isinstance(settings, SRTrainingConfig):
        raise ValueError(f"settings must be an SRTrainingConfig, got {type(settings).__name__}")
    dev = resolve_device(device)
    torch.manual_seed(settings.seed)
    model = build_model(model_name, model_config)
    mcfg: Any = cast(Any, model).config  # every network of the registry has its typed config
    if mcfg.in_channels != 1 or mcfg.out_channels != 1:
        raise ValueError(
            f"train_sr trains grey models (1 channel in and out), got {mcfg.in_channels} -> "
            f"{mcfg.out_channels}"
        )
    scale = int(mcfg.scale)
    lr_np, hr_np = check_sr_pair(lr_images, hr_images, scale)
    if settings.patch > min(lr_np.shape[1:]):
        raise ValueError(f"patch {settings.patch} exceeds the low-resolution image size {lr_np.shape[1:]}")
    init_path = None if init_weights is None else _weights_file(init_weights)
    if settings.validate_every is not None and validation is None:
        raise ValueError("settings.validate_every is set but no validation pairs were given")
    val_np = None if validation is None else check_sr_pair(validation[0], validation[1], scale)

    config = canonical_params(
        {
            "kind": "sr2d",
            "xrsr_format": _FORMAT,
            "model_name": model_name,
            "model": mcfg.model_dump(),
            "settings": settings.key_dict(),
            "scale": scale,
            "stage": {
                "name": stage,
                "init_weights": None if init_path is None else str(init_path.resolve()),
                "init_weights_sha256": None if init_path is None else _file_sha256(init_path),
            },
            "data": {
                "n_images": int(lr_np.shape[0]),
                "lr_shape": list(lr_np.shape[1:]),
                "hr_shape": list(hr_np.shape[1:]),
                "sha256": _fingerprint(lr_np, hr_np),
                "description": data_description or {},
            },
            "validation": None
            if val_np is None
            else {
                "n_images": int(val_np[0].shape[0]),
                "sha256": _fingerprint(*val_np),
            },
        }
    )
    if init_path is not None and not (Path(folder) / "checkpoint.pt").exists():
        _load_init(model, init_path)
    model.to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate, betas=settings.adam_betas)
    rng = np.random.default_rng(settings.seed)
    criterion = SREdgeLoss(settings.edge_weight)

    def step(iteration: int) -> dict[str, float]:
        lr_now = learning_rate(settings, iteration)
        for group in optimizer.param_groups:
            group["lr"] = lr_now
        xb, yb = sample_patch_pairs(
            lr_np,
            hr_np,
            scale,
            settings.patch,
            settings.batch_size,
            rng,
            flips=settings.augment_flips,
            rot90=settings.augment_rot90,
        )
        total, l1, edge = criterion.terms(model(xb.to(dev)), yb.to(dev))
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        if settings.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        optimizer.step()
        return {"loss": total.item(), "l1": l1.item(), "edge": edge.item(), "learning_rate": lr_now}

    validate = None
    if val_np is not None:

        def validate() -> dict[str, float]:
            return validation_scores(model, *val_np, criterion=criterion)

    task = TrainingTask(
        name=f"{stage} {model_name}",
        model=model,
        optimizer=optimizer,
        rng=rng,
        config=config,
        step=step,
        loss_fields=_LOSS_FIELDS,
        iterations=settings.iterations,
        checkpoint_every=settings.checkpoint_every,
        validate=validate,
        validate_every=settings.validate_every,
        best_key=settings.best_metric,
        best_mode="min" if settings.best_metric == "loss" else "max",
        keep_best=settings.keep_best,
        device=dev,
    )
    return run_training(task, folder, progress=progress, stop_after=stop_after)


def validation_scores(
    model: torch.nn.Module, lr_images: np.ndarray, hr_images: np.ndarray, criterion: SREdgeLoss | None = None
) -> dict[str, float]:
    """Mean scores of the model's super-resolved whole images against the targets.

    Returns ``psnr`` (dB, data range 1) and the training objective's ``loss``, ``l1`` and ``edge``
    (``criterion``, default :class:`~xrsr_lib.train.losses.SREdgeLoss` with λ = 0.1), each averaged over
    the images. The model is put in eval mode; callers that go on training switch it back.
    """
    from xrsr_lib.evaluate.quality import psnr

    criterion = SREdgeLoss(0.1) if criterion is None else criterion
    dev = next(model.parameters()).device
    model.eval()
    rows = []
    with torch.inference_mode():
        for a, b in zip(lr_images, hr_images, strict=True):
            y = model(torch.from_numpy(np.ascontiguousarray(a, np.float32))[None, None].to(dev))
            t = torch.from_numpy(np.ascontiguousarray(b, np.float32))[None, None].to(dev)
            loss, l1, edge = (v.item() for v in criterion.terms(y, t))
            score = psnr(y[0, 0].float().cpu().numpy(), b, data_range=1.0)
            rows.append({"psnr": score, "loss": loss, "l1": l1, "edge": edge})
    return {k: float(np.mean([r[k] for r in rows])) for k in _VAL_FIELDS}


def validation_psnr(model: torch.nn.Module, lr_images: np.ndarray, hr_images: np.ndarray) -> float:
    """Mean PSNR (dB, data range 1) of the model's super-resolved whole images (eval mode)."""
    return validation_scores(model, lr_images, hr_images)["psnr"]


def two_stage(
    model_name: str,
    model_config: dict[str, Any] | BaseModel | None,
    lr_images: np.ndarray,
    hr_images: np.ndarray,
    pretrain_settings: SRTrainingConfig,
    finetune_settings: SRTrainingConfig,
    folder: str | Path,
    *,
    pretrain: bool = True,
    natural_n: int = 512,
    natural_hr_size: int | None = None,
    blur_sigma_px: float = DEFAULT_BLUR_SIGMA_PX,
    noise_std: float = DEFAULT_NOISE_STD,
    natural_seed: int = 0,
    natural_images_override: Mapping[str, np.ndarray] | Sequence[np.ndarray] | None = None,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> dict[str, Path]:
    """Pre-train on degraded natural images, then fine-tune on the nano-CT pairs.

    Stage 1 (``folder/pretrain``) trains on :func:`natural_pairs` built with the same
    degradation (``blur_sigma_px``, ``noise_std``) as the nano-CT data; stage 2
    (``folder/finetune``) trains on ``lr_images`` / ``hr_images`` (normally
    ``make_split(..., SPLIT_SEEDS["train"], ...)``) starting from the stage-1 weights. With
    ``pretrain=False`` stage 2 starts from a random initialization: the "fine-tune only" ablation
    (``folder/finetune`` only). Both stages resume after an interruption.

    Parameters
    ----------
    natural_n : int
        Number of natural-image pairs.
    natural_hr_size : int, optional
        Side of the natural high-resolution crops; default ``2 · scale · pretrain_settings.patch``
        (rounded so that it is divisible by the scale).

    validation : (lr_images, hr_images), optional
        Nano-CT validation pairs for stage 2 (see :func:`train_sr`).

    Returns
    -------
    dict
        ``{"pretrain": path, "finetune": path}`` (no "pretrain" entry when ``pretrain=False``).
    """
    folder = Path(folder)
    scale = int(cast(Any, build_model(model_name, model_config)).config.scale)
    out: dict[str, Path] = {}
    init = None
    if pretrain:
        size = natural_hr_size if natural_hr_size is not None else 2 * scale * pretrain_settings.patch
        nat_lr, nat_hr = natural_pairs(
            natural_n, size, scale, blur_sigma_px, noise_std, natural_seed, images=natural_images_override
        )
        desc = {
            "source": "natural images",
            "n": natural_n,
            "hr_size": size,
            "blur_sigma_px": blur_sigma_px,
            "noise_std": noise_std,
            "seed": natural_seed,
        }
        out["pretrain"] = init = train_sr(
            model_name,
            model_config,
            nat_lr,
            nat_hr,
            pretrain_settings,
            folder / "pretrain",
            device=device,
            progress=progress,
            stage="pretrain",
            data_description=desc,
        )
    out["finetune"] = train_sr(
        model_name,
        model_config,
        lr_images,
        hr_images,
        finetune_settings,
        folder / "finetune",
        device=device,
        init_weights=init,
        progress=progress,
        stage="finetune" if pretrain else "finetune_only",
        data_description={"source": "nano-CT pairs"},
        validation=validation,
    )
    return out
