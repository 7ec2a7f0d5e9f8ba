"""The one training loop resumes, for every adapter: study A's DeepNet (2.5D) and SRCNN (3D), and
study B's UTSR (2-D SR).

A loop that ignored ``checkpoint.pt`` and retrained from scratch with the same seed would end with
the same weights; these tests tell the two apart. The interrupted run stops at an iteration that is
not a multiple of the checkpoint interval; the resumed call must take exactly the remaining
optimizer steps, keep the first rows of ``loss.csv`` byte for byte, and end with weights equal
(exactly, on CPU) to those of an uninterrupted run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from torch.optim.optimizer import register_optimizer_step_post_hook

from xrsr_lib.config import (
    DeepNetSettings,
    DeepNetTraining,
    InferenceTiling,
    SRCNNSettings,
    SRCNNTraining,
    SRTrainingConfig,
)
from xrsr_lib.simulate.nanoct import SPLIT_SEEDS, CrackSliceConfig, make_split
from xrsr_lib.train import train_model, train_sr

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ITERATIONS, CHECKPOINT_EVERY, STOP = 17, 5, 12  # 12 is not a multiple of 5


@pytest.fixture(scope="module")
def volumes() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    truth = (gaussian_filter(rng.random((12, 28, 28)), 1.5) > 0.5).astype(np.float32)
    inputs = gaussian_filter(truth, 2.0) + rng.normal(0, 0.05, truth.shape)
    return inputs.astype(np.float32), truth + rng.normal(0, 0.05, truth.shape).astype(np.float32)


@pytest.fixture(scope="module")
def slices() -> dict[str, np.ndarray]:
    return make_split(CrackSliceConfig(size=32), 2, SPLIT_SEEDS["train"], 2)


def _train(kind: str, folder: Path, data: dict, stop_after: int | None = None) -> Path:
    if kind == "deepnet":
        s = DeepNetSettings(
            architecture={"base_width": 4, "depth": 1, "extra_convs": 1},
            training=DeepNetTraining(
                iterations=ITERATIONS,
                batch_size=2,
                tile=16,
                checkpoint_every=CHECKPOINT_EVERY,
                learning_rate=2e-3,
            ),
            inference=InferenceTiling(tile=16, overlap=2),
        )
        return train_model(
            "deepnet", *data["volumes"], s, folder, device="cpu", progress=False, stop_after=stop_after
        )
    if kind == "srcnn":
        s = SRCNNSettings(
            architecture={"kernel_sizes": (3, 3, 3), "widths": (4, 4)},
            training=SRCNNTraining(
                iterations=ITERATIONS,
                batch_size=2,
                patch=8,
                stride=4,
                validation_fraction=0.2,
                validate_every=4,
                checkpoint_every=CHECKPOINT_EVERY,
            ),
            inference=InferenceTiling(tile=8, overlap=2),
        )
        return train_model(
            "srcnn", *data["volumes"], s, folder, device="cpu", progress=False, stop_after=stop_after
        )
    s = SRTrainingConfig(
        iterations=ITERATIONS,
        batch_size=2,
        patch=8,
        learning_rate=1e-3,
        checkpoint_every=CHECKPOINT_EVERY,
        validate_every=4,
        seed=3,
    )
    net = {"embed_dim": 12, "num_heads": 1, "depths": (1,), "bottleneck_depth": 1, "scale": 2}
    sl = data["slices"]
    return train_sr(
        "utsr",
        net,
        sl["lr"],
        sl["hr"],
        s,
        folder,
        device="cpu",
        progress=False,
        validation=(sl["lr"][:1], sl["hr"][:1]),
        stop_after=stop_after,
    )


class _StepCounter:
    """Counts optimizer steps of any torch optimizer (a global post-step hook)."""

    def __enter__(self) -> _StepCounter:
        self.steps = 0
        self._handle = register_optimizer_step_post_hook(self._count)
        return self

    def _count(self, *_: object) -> None:
        self.steps += 1

    def __exit__(self, *_: object) -> None:
        self._handle.remove()


@pytest.mark.parametrize("kind", ["deepnet", "srcnn", "utsr"])
def test_resume_takes_exactly_the_remaining_steps(kind, tmp_path, volumes, slices):
    data = {"volumes": volumes, "slices": slices}
    with _StepCounter() as whole_steps:
        whole = _train(kind, tmp_path / "whole", data)
    assert whole_steps.steps == ITERATIONS

    with _StepCounter() as first:
        part = _train(kind, tmp_path / "part", data, stop_after=STOP)
    assert first.steps == STOP
    assert (part / "checkpoint.pt").exists() and not (part / "weights.pt").exists()
    head = (part / "loss.csv").read_bytes()
    assert head.count(b"\n") == STOP + 1  # header + one row per step

    with _StepCounter() as rest:
        _train(kind, part, data)
    assert rest.steps == ITERATIONS - STOP  # a retrain from scratch would take all of them
    assert (part / "loss.csv").read_bytes().startswith(head)
    assert (part / "loss.csv").read_bytes() == (whole / "loss.csv").read_bytes()
    assert not (part / "checkpoint.pt").exists()

    a = torch.load(whole / "weights.pt", weights_only=True)
    b = torch.load(part / "weights.pt", weights_only=True)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    if kind != "deepnet":  # validated runs keep the same best weights and the same validation curve
        assert (part / "validation.csv").read_bytes() == (whole / "validation.csv").read_bytes()

    with _StepCounter() as again:  # a finished folder is returned as it is
        _train(kind, part, data)
    assert again.steps == 0
