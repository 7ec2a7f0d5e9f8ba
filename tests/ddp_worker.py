"""Data-parallel training of tiny volume networks on a synthetic pair, for tests/test_distributed.py.

Run under torchrun (every rank runs this script)::

    torchrun --standalone --nproc_per_node 2 tests/ddp_worker.py ROOT --case srcnn --case deepnet

Each case trains into ``ROOT/<case>`` with :func:`xrsr_lib.train.volumes.train_model` (with
``--stop-after K``: first interrupted after K steps, then resumed to the end). With ``--report DIR``
each rank writes ``DIR/rank<r>.json``: the writes it made under ``ROOT`` itself (Python audit
events: opens for writing, renames, removals, mkdir) and what it saw in the folders when
``train_model`` returned. With ``--gradients DIR`` each rank first saves the gradients of each
case's first step (:func:`first_gradients`). Not collected by pytest (no ``test_`` prefix); the test imports
:func:`train_case` for the single-process reference.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch.distributed
from scipy.ndimage import gaussian_filter

from xrsr_lib.config import DeepNetSettings, DeepNetTraining, InferenceTiling, SRCNNSettings, SRCNNTraining
from xrsr_lib.train import distributed
from xrsr_lib.train.loop import is_finished
from xrsr_lib.train.volumes import train_model, volume_task

#: case -> (method, settings); every case has the field-of-view loss mask, so shards of a batch have
#: different mask counts
CASES: dict[str, tuple[str, DeepNetSettings | SRCNNSettings]] = {
    "srcnn": (
        "srcnn",
        SRCNNSettings(
            architecture={"kernel_sizes": (3, 3, 3), "widths": (4, 4), "batch_norm": False},
            training=SRCNNTraining(
                iterations=6,
                batch_size=4,
                patch=8,
                stride=4,
                validation_fraction=0.2,
                validate_every=3,
                checkpoint_every=2,
                learning_rate=1e-3,
            ),
            inference=InferenceTiling(tile=8, overlap=2),
        ),
    ),
    "deepnet": (
        "deepnet",
        DeepNetSettings(
            architecture={"base_width": 4, "depth": 2, "extra_convs": 1, "norm": "instance"},
            training=DeepNetTraining(
                iterations=6,
                batch_size=4,
                tile=16,
                checkpoint_every=2,
                learning_rate=1e-3,
            ),
            inference=InferenceTiling(tile=16, overlap=4),
        ),
    ),
    "deepnet_bn": (
        "deepnet",
        DeepNetSettings(  # BatchNorm: per-rank statistics on CPU (a warning)
            architecture={"base_width": 4, "depth": 1, "extra_convs": 0},
            training=DeepNetTraining(
                iterations=2,
                batch_size=2,
                tile=16,
                checkpoint_every=2,
            ),
            inference=InferenceTiling(tile=16, overlap=4),
        ),
    ),
}


def synthetic_pair() -> tuple[np.ndarray, np.ndarray]:
    """A deterministic (12, 28, 28) pair: blurred noisy input, noisy binary target (float32)."""
    rng = np.random.default_rng(0)
    truth = (gaussian_filter(rng.random((12, 28, 28)), 1.5) > 0.5).astype(np.float32)
    inputs = gaussian_filter(truth, 2.0) + rng.normal(0, 0.05, truth.shape)
    target = truth + rng.normal(0, 0.05, truth.shape)
    return inputs.astype(np.float32), target.astype(np.float32)


def train_case(
    case: str,
    folder: Path,
    batch_size: int | None = None,
    stop_after: int | None = None,
    device: str | None = None,
) -> Path:
    """Train (or resume) ``case`` into ``folder``; ``stop_after`` interrupts it with a checkpoint."""
    method, settings = CASES[case]
    if batch_size is not None:
        settings = settings.replace(batch_size=batch_size)
    return train_model(
        method, *synthetic_pair(), settings, folder, device=device, progress=False, stop_after=stop_after
    )


def first_gradients(case: str, device: str | None = "cpu") -> dict[str, np.ndarray]:
    """The gradients of the first optimizer step of ``case`` (after DDP's all-reduce), by weight name.

    The step runs as in training (its global batch, its shard, its loss scaling); the optimizer's
    ``step`` is replaced by a recorder, so nothing is updated. SGD or Adam alike see these gradients.
    """
    method, settings = CASES[case]
    task = volume_task(method, *synthetic_pair(), settings, device=device)
    grads: dict[str, np.ndarray] = {}

    def record(*args: Any, **kwargs: Any) -> None:
        for name, p in distributed.unwrap(task.model).named_parameters():
            grads[name] = p.grad.detach().cpu().double().numpy().copy()

    task.optimizer.step = record  # type: ignore[method-assign]
    task.model.train()
    task.step(0)
    return grads


class _WriteAudit:
    """Records this process's writes under ``root`` (Python audit events)."""

    _EVENTS = (
        "os.rename",
        "os.remove",
        "os.mkdir",
        "os.rmdir",
        "os.chmod",
        "os.truncate",
        "os.link",
        "os.symlink",
        "shutil.rmtree",
        "shutil.copyfile",
        "shutil.move",
    )
    _WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

    def __init__(self, root: Path) -> None:
        self.root = str(root.resolve())
        self.writes: list[str] = []
        sys.addaudithook(self._hook)

    def _inside(self, path: Any) -> bool:
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not isinstance(path, str | os.PathLike):
            return False
        return os.path.abspath(os.fspath(path)).startswith(self.root)

    def _hook(self, event: str, args: tuple) -> None:
        if event == "open" and args:
            mode, flags = (args[1] if len(args) > 1 else None), (args[2] if len(args) > 2 else 0)
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool(
                isinstance(flags, int) and flags & self._WRITE_FLAGS
            )
            if writing and self._inside(args[0]):
                self.writes.append(f"open {args[0]}")
        elif event in self._EVENTS and any(self._inside(a) for a in args[:2]):
            self.writes.append(f"{event} {args[0]}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("root", type=Path, help="each case trains into ROOT/<case>")
    p.add_argument("--case", action="append", choices=sorted(CASES), required=True)
    p.add_argument("--batch-size", type=int, help="override the global batch size of every case")
    p.add_argument("--stop-after", type=int, help="interrupt after this many steps, then resume")
    p.add_argument("--device", help="default: CUDA when available, else CPU")
    p.add_argument("--report", type=Path, help="folder for rank<r>.json (outside ROOT)")
    p.add_argument(
        "--gradients", type=Path, help="first save each case's first-step gradients as DIR/<case>_rank<r>.npz"
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    audit = _WriteAudit(args.root)
    distributed.init_from_env()
    rank, world_size = distributed.world()
    seen: dict[str, Any] = {}
    if args.gradients is not None:
        args.gradients.mkdir(parents=True, exist_ok=True)
        for case in args.case:
            np.savez(args.gradients / f"{case}_rank{rank}.npz", **first_gradients(case, args.device or "cpu"))
    for case in args.case:
        folder = args.root / case
        if args.stop_after is not None:  # interrupted run: checkpoint for every rank, no weights yet
            train_case(case, folder, args.batch_size, args.stop_after, args.device)
            seen[f"{case}_interrupted"] = sorted(f.name for f in folder.iterdir())
        train_case(case, folder, args.batch_size, device=args.device)
        seen[case] = {"finished": is_finished(folder), "files": sorted(f.name for f in folder.iterdir())}
    if args.report is not None:
        args.report.mkdir(parents=True, exist_ok=True)
        (args.report / f"rank{rank}.json").write_text(
            json.dumps(
                {"rank": rank, "world_size": world_size, "writes": audit.writes, "seen": seen}, indent=1
            )
        )
    if world_size > 1:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
