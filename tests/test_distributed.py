"""Data-parallel training under torchrun (2 CPU ranks, gloo) equals single-process training.

Two ranks train tiny SRCNN (no norm) and DeepNet (instance norm) models with the same global batch
(each interrupted after 3 of 6 steps and resumed from the checkpoint) via tests/ddp_worker.py; a
single-process run of the same cases is the reference. The gradients of the first step are
compared too (each rank's, after the all-reduce, against one process's): Adam's update hardly
depends on the gradient's scale, so a gradient off by the world size trains nearly alike. The
field-of-view loss mask gives the two shards of a batch different mask counts, so averaging
per-shard means would not match.

Tolerances: the two runs differ only by float32 summation order (the sum of squared errors and the
weight gradients are summed over the batch in one kernel in one process, per shard and then
all-reduced in two): ~1e-7 relative to the summands. Adam's update ``lr · m / (sqrt(v) + eps)``
does not amplify a relative change of a gradient, so nearly all weights agree to rtol 1e-5,
atol 1e-6 (measured: at most ~1e-7 on weights of order 0.1). The exception is a gradient that is
itself a cancellation near Adam's eps (1e-8): one DeepNet bottleneck weight gets g = -3.6e-9 at
step 1 (median |g| 1.5e-3), its rounding changes g by a few %, and so its first update
(≈ lr · g / (|g| + eps) ≈ 2.6e-4) by ~5e-6. Hence: at most 0.1 % of the weights may exceed the
tight tolerance, and none may differ by more than 2e-5 (2 % of one Adam step of lr 1e-3). Losses
(global-batch losses on rank 0) agree to rtol 1e-5 (measured ~1e-7).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from xrsr_lib.infer import LoadedModel
from xrsr_lib.train import distributed

pytestmark = pytest.mark.usefixtures("one_torch_thread")

HERE = Path(__file__).resolve().parent
CASES = ("srcnn", "deepnet")
STOP_AFTER = 3
RTOL, ATOL = 1e-5, 1e-6  # tight: float32 reassociation
LOOSE_ATOL, LOOSE_FRACTION = 2e-5, 1e-3  # gradients cancelling near Adam's eps (module docstring)

_spec = importlib.util.spec_from_file_location("ddp_worker", HERE / "ddp_worker.py")
worker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker)


def _torchrun(root: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """tests/ddp_worker.py on 2 CPU ranks (CUDA hidden: gloo, also on a GPU machine)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("WORLD_SIZE", None)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(HERE / "ddp_worker.py"),
        str(root),
        *args,
    ]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=HERE.parent)


@pytest.fixture(scope="module")
def ddp(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("ddp")
    args = [a for c in (*CASES, "deepnet_bn") for a in ("--case", c)]
    proc = _torchrun(
        base / "models",
        *args,
        "--stop-after",
        str(STOP_AFTER),
        "--report",
        str(base / "report"),
        "--gradients",
        str(base / "gradients"),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    reports = {r: json.loads((base / "report" / f"rank{r}.json").read_text()) for r in (0, 1)}
    return {
        "root": base / "models",
        "output": proc.stdout + proc.stderr,
        "reports": reports,
        "gradients": base / "gradients",
    }


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("single")
    for case in CASES:
        worker.train_case(case, root / case, device="cpu")
    return root


def _rows(path: Path) -> list[dict[str, float]]:
    with open(path) as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


@pytest.mark.parametrize("case", CASES)
def test_two_ranks_train_like_one_process(ddp, single, case):
    a, b = ddp["root"] / case, single / case
    wa = torch.load(a / "weights.pt", weights_only=True)
    wb = torch.load(b / "weights.pt", weights_only=True)
    assert wa.keys() == wb.keys() and not any(k.startswith("module.") for k in wa)
    a_all = torch.cat([wa[k].double().flatten() for k in wa])
    b_all = torch.cat([wb[k].double().flatten() for k in wa])
    diff = (a_all - b_all).abs()
    outside = diff > ATOL + RTOL * b_all.abs()
    print(
        f"{case}: max |weight difference| {float(diff.max()):.3g}, {int(outside.sum())} of {diff.numel()} "
        "outside the tight tolerance"
    )
    assert float(outside.double().mean()) <= LOOSE_FRACTION
    assert float(diff.max()) <= LOOSE_ATOL
    names = ["loss.csv", "validation.csv"] if case == "srcnn" else ["loss.csv"]
    for name in names:
        ra, rb = _rows(a / name), _rows(b / name)
        every = 3 if name == "validation.csv" else 1  # validate_every of the SRCNN case
        assert len(ra) == len(rb) == worker.CASES[case][1].training.iterations // every
        for x, y in zip(ra, rb, strict=True):
            assert x.keys() == y.keys() and x["iteration"] == y["iteration"]
            np.testing.assert_allclose([x[k] for k in x], [y[k] for k in x], rtol=RTOL)
    ca, cb = (json.loads((f / "config.json").read_text()) for f in (a, b))
    ca.pop("train_seconds"), cb.pop("train_seconds")
    best = {k for k in ca if k.startswith("best_val_")}
    assert {k: v for k, v in ca.items() if k not in best} == {k: v for k, v in cb.items() if k not in best}
    for k in best:
        assert ca[k] == pytest.approx(cb[k], rel=1e-4)
    # the saved model loads as any other (no "module." prefix) and predicts like the reference
    pa = LoadedModel.load(a, device="cpu").predict(worker.synthetic_pair()[0])
    pb = LoadedModel.load(b, device="cpu").predict(worker.synthetic_pair()[0])
    np.testing.assert_allclose(pa, pb, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case", CASES)
def test_first_step_gradients_of_two_ranks_equal_one_process(ddp, case):
    """After DDP's all-reduce, each rank holds the gradient of the single-process loss of the whole
    global batch, on every weight (not only their direction, which is all Adam looks at): a loss
    scaled by the wrong power of the world size gives gradients off by a factor 2 here.

    Tolerance: float32 summation order (~1e-7 of the summands), so rtol 1e-4 and an atol of 1e-5
    of the tensor's largest gradient for the entries that are a cancellation."""
    one = worker.first_gradients(case)
    ranks = [np.load(ddp["gradients"] / f"{case}_rank{r}.npz") for r in (0, 1)]
    assert set(ranks[0].files) == set(ranks[1].files) == set(one)
    worst = 0.0
    for name, g in one.items():
        assert np.abs(g).max() > 0, name
        for rank in ranks:
            np.testing.assert_array_equal(rank[name], ranks[0][name])  # DDP's all-reduce: one gradient
            np.testing.assert_allclose(rank[name], g, rtol=1e-4, atol=1e-5 * np.abs(g).max(), err_msg=name)
        worst = max(worst, float(np.abs(ranks[0][name] - g).max() / np.abs(g).max()))
    print(f"{case}: {len(one)} weight tensors, max |difference| / max |gradient| = {worst:.2g}")


def test_only_rank_zero_writes_and_every_rank_returns_a_complete_folder(ddp):
    r0, r1 = ddp["reports"][0], ddp["reports"][1]
    assert r0["world_size"] == r1["world_size"] == 2 and (r0["rank"], r1["rank"]) == (0, 1)
    assert r1["writes"] == []  # not one open-for-writing, rename, removal or mkdir under the root
    assert any("weights.pt" in w for w in r0["writes"])  # the audit does see writes
    for case in CASES:
        for rep in (r0, r1):
            assert rep["seen"][f"{case}_interrupted"] == ["checkpoint.pt", "loss.csv"]
            assert rep["seen"][case]["finished"]
            assert {"config.json", "loss.csv", "weights.pt"} <= set(rep["seen"][case]["files"])
    assert sorted(p.name for p in ddp["root"].iterdir()) == sorted([*CASES, "deepnet_bn"])


def test_batchnorm_on_cpu_warns_once_per_rank_and_still_trains(ddp):
    assert ddp["output"].count("torch has no SyncBatchNorm there") == 2
    model = LoadedModel.load(ddp["root"] / "deepnet_bn", device="cpu")
    assert np.isfinite(model.predict(worker.synthetic_pair()[0])).all()


def test_a_global_batch_not_divisible_by_the_world_size_fails_clearly(tmp_path):
    proc = _torchrun(tmp_path / "models", "--case", "srcnn", "--batch-size", "3", timeout=120)
    assert proc.returncode != 0
    assert "the global batch size 3 is not divisible by the world size 2" in proc.stdout + proc.stderr
    assert not (tmp_path / "models").exists()


def test_helpers_in_a_single_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert distributed.init_from_env() is False
    assert distributed.world() == (0, 1) and distributed.is_main()
    distributed.barrier()
    net = torch.nn.Conv2d(1, 1, 3)
    assert distributed.wrap_model(net, "cpu") is net and distributed.unwrap(net) is net
    batch = (torch.arange(6), torch.arange(12).reshape(6, 2))
    parts = [distributed.shard(batch, rank=r, world_size=3) for r in range(3)]
    for i in range(2):
        assert torch.equal(torch.cat([p[i] for p in parts]), batch[i])
    assert all(len(p[0]) == 2 for p in parts)
    assert all(torch.equal(x, y) for x, y in zip(distributed.shard(batch), batch, strict=True))
    with pytest.raises(ValueError, match="global batch size 6 is not divisible by the world size 4"):
        distributed.shard(batch, rank=0, world_size=4)
    with pytest.raises(ValueError, match="one batch size"):
        distributed.shard((torch.zeros(2), torch.zeros(3)), rank=0, world_size=1)
    assert torch.equal(distributed.reduce_sum(torch.ones(3)), torch.ones(3))
