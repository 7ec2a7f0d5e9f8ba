"""Training of the study-A networks on paired volumes, with checkpoints and resume.

A trained model is a folder::

    config.json      method, model config, normalization, training settings, data description
    weights.pt       state_dict (load with ``torch.load(..., weights_only=True)``)
    loss.csv         iteration, train_loss[, val_loss]
    checkpoint.pt    model + optimizer + RNG states (removed once training finished)
    events.*         TensorBoard event files, if tensorboard is installed

``train_model`` resumes from ``checkpoint.pt`` when it finds one, so an interrupted run continues
the same loss curve. ``TrainedModel.load`` rebuilds the network from ``config.json``.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from xrsr_lib.config import DeepNetTraining, SRCNNTraining
from xrsr_lib.device import resolve_device
from xrsr_lib.evaluate.metrics import disc_mask
from xrsr_lib.infer.tiling import predict_2p5d, predict_3d
from xrsr_lib.io import check_volume
from xrsr_lib.io.cache import Cache, atomic_path, write_json_atomic
from xrsr_lib.models import build_model

log = logging.getLogger(__name__)

METHODS = ("deepnet", "srcnn")


# ----------------------------------------------------------------------------- data
@dataclass(frozen=True)
class Normalization:
    """Affine intensity normalization ``(x - mean) / std`` of inputs and targets."""

    input_mean: float
    input_std: float
    target_mean: float
    target_std: float

    @classmethod
    def fit(cls, inputs: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> Normalization:
        sel = (slice(None),) if mask is None else np.broadcast_to(mask, inputs.shape)
        xi, xt = inputs[sel], target[sel]
        return cls(float(xi.mean()), float(xi.std()) or 1.0, float(xt.mean()), float(xt.std()) or 1.0)

    def inputs(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.input_mean) / self.input_std).astype(np.float32)

    def targets(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.target_mean) / self.target_std).astype(np.float32)

    def restore(self, y: np.ndarray) -> np.ndarray:
        """Network output back to target intensities."""
        return (y * self.target_std + self.target_mean).astype(np.float32)


def fov_mask(shape_yx: tuple[int, int], radius: float | None = None) -> np.ndarray:
    """Circular field of view in a (y, x) slice: voxel centres within ``radius`` px of the centre.

    The default radius is half the smaller side: the circle a cone-beam scan reconstructs when the
    detector just covers the slice. Outside it the reconstruction is not measured data.
    """
    r = min(shape_yx) / 2.0 if radius is None else float(radius)
    if r <= 0:
        raise ValueError(f"field-of-view radius must be > 0, got {r}")
    return disc_mask(shape_yx, r)


def check_pair(inputs: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate a training pair: same 3-D shape, finite values."""
    a = check_volume(inputs, "training input")
    b = check_volume(target, "training target")
    if a.shape != b.shape:
        raise ValueError(f"input and target shapes differ: {a.shape} vs {b.shape} (register/resample first)")
    return a, b


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over voxels where ``mask`` is true (mask broadcasts over channels)."""
    m = mask.to(pred.dtype).expand_as(pred)
    return ((pred - target) ** 2 * m).sum() / m.sum().clamp_min(1.0)


class StackSampler:
    """Random 5-slice (``n_slices``) tiles for the 2.5D network, with flips/rotations in (y, x)."""

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
            a, b, m = self.x[sl], self.t[sl], self.m[None, sl[1], sl[2]]
            k, flip = int(rng.integers(0, 4)), bool(rng.integers(0, 2))
            a, b, m = (np.rot90(v, k, axes=(1, 2)) for v in (a, b, m))
            if flip:
                a, b, m = (v[:, :, ::-1] for v in (a, b, m))
            xs.append(np.ascontiguousarray(a))
            ts.append(np.ascontiguousarray(b))
            ms.append(np.ascontiguousarray(m))
        return tuple(torch.from_numpy(np.stack(v)) for v in (xs, ts, ms))


class PatchSampler:
    """3D patches on a regular grid (size, stride), split into training and validation sets."""

    def __init__(self, inputs: np.ndarray, target: np.ndarray, mask: np.ndarray, patch: int, stride: int,
                 validation_fraction: float, seed: int):
        if min(inputs.shape) < patch:
            raise ValueError(f"patch size {patch} exceeds the volume shape {inputs.shape}")
        self.x, self.t, self.m, self.p = inputs, target, mask, patch
        starts = [range(0, s - patch + 1, stride) for s in inputs.shape]
        corners = np.array([(a, b, c) for a in starts[0] for b in starts[1] for c in starts[2]])
        # keep patches whose centre column lies in the field of view
        cy, cx = corners[:, 1] + patch // 2, corners[:, 2] + patch // 2
        corners = corners[mask[cy, cx]]
        if len(corners) < 2:
            raise ValueError("fewer than 2 patches inside the field of view: reduce patch size or stride")
        order = np.random.default_rng(seed).permutation(len(corners))
        n_val = max(1, round(validation_fraction * len(corners)))
        self.val, self.train = corners[order[:n_val]], corners[order[n_val:]]

    def _get(self, corners: np.ndarray) -> tuple[torch.Tensor, ...]:
        p = self.p
        xs, ts, ms = [], [], []
        for z0, y0, x0 in corners:
            sl = np.s_[z0 : z0 + p, y0 : y0 + p, x0 : x0 + p]
            xs.append(self.x[sl])
            ts.append(self.t[sl])
            ms.append(np.broadcast_to(self.m[None, y0 : y0 + p, x0 : x0 + p], (p, p, p)))
        return tuple(torch.from_numpy(np.stack(v)[:, None].copy()) for v in (xs, ts, ms))

    def sample(self, rng: np.random.Generator, batch: int) -> tuple[torch.Tensor, ...]:
        return self._get(self.train[rng.integers(0, len(self.train), size=batch)])

    def validation_batches(self, batch: int) -> list[tuple[torch.Tensor, ...]]:
        return [self._get(self.val[i : i + batch]) for i in range(0, len(self.val), batch)]


# ----------------------------------------------------------------------------- training loop
def _settings(method: str, settings: DeepNetTraining | SRCNNTraining) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    want = DeepNetTraining if method == "deepnet" else SRCNNTraining
    if not isinstance(settings, want):
        raise ValueError(f"method {method!r} needs {want.__name__} settings, got {type(settings).__name__}")


def _tensorboard(folder: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # tensorboard is optional
        return None
    return SummaryWriter(log_dir=str(folder))


def train_model(
    method: str,
    inputs: np.ndarray,
    target: np.ndarray,
    settings: DeepNetTraining | SRCNNTraining,
    folder: str | Path,
    device: str | torch.device | None = None,
    progress: bool = True,
    stop_after: int | None = None,
    data_description: dict[str, Any] | None = None,
) -> Path:
    """Train ``method`` on a paired volume and write the model folder.

    Parameters
    ----------
    method : {"deepnet", "srcnn"}
    inputs, target : ndarray (z, y, x)
        Low-resolution input and high-resolution target on the same grid.
    settings : DeepNetTraining or SRCNNTraining
        Architecture, iterations, batch size, learning rate, tiles/patches (from the profile).
    folder : path
        Model folder; an existing ``checkpoint.pt`` there is resumed.
    device : torch device, optional
        Default CUDA when available, else CPU.
    stop_after : int, optional
        Stop (with a checkpoint) after this many iterations in total, as an interruption would;
        calling again resumes.
    data_description : dict, optional
        Stored in ``config.json`` (which volumes were used).

    Returns
    -------
    Path
        The model folder.
    """
    _settings(method, settings)
    inputs, target = check_pair(inputs, target)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dev = resolve_device(device)
    torch.manual_seed(settings.seed)
    mask = fov_mask(inputs.shape[1:])
    norm = Normalization.fit(inputs, target, mask[None])
    x, t = norm.inputs(inputs), norm.targets(target)

    model = build_model(method, settings.model).to(dev)
    model_config = model.config.model_dump()
    if method == "deepnet":
        sampler: StackSampler | PatchSampler = StackSampler(x, t, mask, model.config.n_slices, settings.tile)
    else:
        sampler = PatchSampler(x, t, mask, settings.patch, settings.stride, settings.validation_fraction,
                               settings.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    rng = np.random.default_rng(settings.seed)
    config = {
        "method": method,
        "model": model_config,
        "normalization": norm.__dict__,
        "training": settings.model_dump(),
        "data": data_description or {},
        "xrsr_format": 1,
    }

    start, history, best, seconds = 0, [], math.inf, 0.0
    ckpt_path = folder / "checkpoint.pt"
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location=dev, weights_only=False)
        if ckpt["config"] != json.loads(json.dumps(config)):
            raise ValueError(f"{ckpt_path} was written for different settings; delete it to start over")
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        rng.bit_generator.state = ckpt["numpy_rng"]
        torch.set_rng_state(ckpt["torch_rng"])
        start, history, best, seconds = ckpt["iteration"], ckpt["history"], ckpt["best"], ckpt["seconds"]
        log.info("resuming %s from iteration %d", folder, start)
    elif (folder / "weights.pt").exists() and (folder / "config.json").exists():
        log.info("model in %s is already trained", folder)
        return folder

    end = settings.iterations if stop_after is None else min(stop_after, settings.iterations)
    t0 = time.perf_counter() - seconds
    writer = _tensorboard(folder)
    bar = tqdm(range(start, end), desc=f"train {method}", disable=not progress, initial=start,
               total=settings.iterations, mininterval=5.0)  # logs stay short under papermill
    for it in bar:
        model.train()
        xb, tb, mb = (v.to(dev) for v in sampler.sample(rng, settings.batch_size))
        loss = masked_mse(model(xb), tb, mb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        row: dict[str, float] = {"iteration": it + 1, "train_loss": loss.item()}
        if isinstance(sampler, PatchSampler) and ((it + 1) % settings.validate_every == 0 or it + 1 == end):
            row["val_loss"] = _validate(model, sampler, settings.batch_size, dev)
            if row["val_loss"] < best:  # keep the best-validation model
                best = row["val_loss"]
                _save_weights(model, folder / "weights.pt")
        history.append(row)
        if writer is not None:
            for k, v in row.items():
                if k != "iteration":
                    writer.add_scalar(k, v, it + 1)
        bar.set_postfix(loss=f"{row['train_loss']:.4f}")
        if (it + 1) % settings.checkpoint_every == 0 or it + 1 == end:
            elapsed = time.perf_counter() - t0
            state = {"iteration": it + 1, "history": history, "best": best, "seconds": elapsed}
            _checkpoint(ckpt_path, model, optimizer, rng, state, config)
    if writer is not None:
        writer.close()
    _write_loss_csv(folder / "loss.csv", history)
    if end < settings.iterations:
        return folder  # interrupted on purpose; the checkpoint resumes
    if method == "deepnet":
        _save_weights(model, folder / "weights.pt")
    write_json_atomic(folder / "config.json", {**config, "train_seconds": round(time.perf_counter() - t0, 2)})
    ckpt_path.unlink(missing_ok=True)
    return folder


def _validate(model: torch.nn.Module, sampler: PatchSampler, batch: int, dev: torch.device) -> float:
    model.eval()
    total, count = 0.0, 0.0
    with torch.inference_mode():
        for xb, tb, mb in sampler.validation_batches(batch):
            xb, tb, mb = xb.to(dev), tb.to(dev), mb.to(dev)
            m = mb.to(xb.dtype)
            total += float((((model(xb) - tb) ** 2) * m).sum())
            count += float(m.sum())
    return total / max(count, 1.0)


def _save_weights(model: torch.nn.Module, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp)


def _checkpoint(
    path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, rng: np.random.Generator,
    progress_state: dict[str, Any], config: dict[str, Any],
) -> None:
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "numpy_rng": rng.bit_generator.state,
        "torch_rng": torch.get_rng_state(),
        "config": json.loads(json.dumps(config)),
        **progress_state,
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _write_loss_csv(path: Path, history: list[dict[str, float]]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["iteration", "train_loss", "val_loss"])
        w.writeheader()
        for row in history:
            w.writerow(row)


def read_model_config(folder: Path) -> dict[str, Any]:
    """The ``config.json`` of a finished model folder (which must also hold ``weights.pt``)."""
    cfg_path, w_path = folder / "config.json", folder / "weights.pt"
    if not cfg_path.exists():
        raise FileNotFoundError(f"model folder {folder} has no config.json (training not finished, or not an "
                                "xrsr model)")
    if not w_path.exists():
        raise FileNotFoundError(f"model folder {folder} has no weights.pt")
    return json.loads(cfg_path.read_text())


def load_network(
    folder: Path, name: str, model_config: dict[str, Any], device: str | torch.device | None = None
) -> torch.nn.Module:
    """Build the registered network ``name`` and load the folder's ``weights.pt`` into it (eval mode)."""
    model = build_model(name, model_config)
    model.load_state_dict(torch.load(folder / "weights.pt", map_location="cpu", weights_only=True))
    return model.to(resolve_device(device)).eval()


# ----------------------------------------------------------------------------- trained models
@dataclass
class TrainedModel:
    """A trained network with the normalization and inference settings it was trained with."""

    method: str
    model: torch.nn.Module
    normalization: Normalization
    config: dict[str, Any]
    folder: Path

    @classmethod
    def load(cls, folder: str | Path, device: str | torch.device | None = None) -> TrainedModel:
        """Rebuild a model from ``config.json`` and ``weights.pt``."""
        folder = Path(folder)
        config = read_model_config(folder)
        model = load_network(folder, config["method"], config["model"], device)
        return cls(config["method"], model, Normalization(**config["normalization"]), config, folder)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def predict(self, volume: np.ndarray, progress: bool = False, batch_size: int = 1) -> np.ndarray:
        """Apply the model to a whole volume with tiled inference (tile/overlap from training settings)."""
        tr = self.config["training"]
        # Zero weight for the outer half of each overlap: tile-edge padding effects never reach the
        # result; the triangular ramp blends the inner half (the paper blends the whole overlap).
        margin = tr["inference_overlap"] // 2
        x = self.normalization.inputs(np.asarray(volume, dtype=np.float32))
        self.model.eval()
        if self.method == "deepnet":
            y = predict_2p5d(self.model, x, n_slices=self.config["model"]["n_slices"],
                             tile=tr["inference_tile"], overlap=tr["inference_overlap"],
                             batch_size=batch_size, device=self.device, progress=progress, margin=margin)
        else:
            y = predict_3d(self.model, x, tile=tr["inference_tile"], overlap=tr["inference_overlap"],
                           batch_size=batch_size, device=self.device, progress=progress, margin=margin)
        return self.normalization.restore(y)


def train_cached(
    cache: Cache,
    params: dict[str, Any],
    method: str,
    inputs: np.ndarray,
    target: np.ndarray,
    settings: DeepNetTraining | SRCNNTraining,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> Path:
    """Train into ``<cache>/model/<key>/`` unless that finished folder already exists.

    Training runs in ``<key>.partial/`` (resumable after an interruption) and the folder is renamed
    to its final name only when complete, so a finished model is never half-written.
    """
    final = cache.path_for("model", params, suffix="")
    if (final / "config.json").exists():
        log.info("cache hit  model %s", final.name)
        return final
    work = final.with_name(final.name + ".partial")
    train_model(method, inputs, target, settings, work, device=device, progress=progress,
                data_description=params)
    if final.exists():
        shutil.rmtree(final)
    work.rename(final)
    write_json_atomic(final.with_suffix(".json"), {"stage": "model", "params": params})
    return final
