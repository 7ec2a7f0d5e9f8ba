"""Tests of the Sobel edge loss and of the 2-D SR training harness (study B).

Tiny UTSR networks on a tiny simulated nano-CT split: training writes the model folder, an
interrupted run resumes to the same weights, fine-tuning starts from the given weights, shapes
are validated, and a loaded model predicts the up-scaled size.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from xrsr_lib.infer import LoadedModel
from xrsr_lib.simulate.nanoct import SPLIT_SEEDS, CrackSliceConfig, make_split
from xrsr_lib.train.losses import SOBEL_EPS, SREdgeLoss, sobel_edge_loss, sobel_gradients, sobel_magnitude
from xrsr_lib.train.slices import (
    SRTrainingConfig,
    learning_rate,
    natural_pairs,
    sample_patch_pairs,
    train_sr,
    two_stage,
)

TINY = {"embed_dim": 12, "num_heads": 1, "depths": (1,), "bottleneck_depth": 1, "scale": 2}
FAST = {"batch_size": 2, "patch": 8, "learning_rate": 1e-3, "checkpoint_every": 5, "seed": 3}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def split() -> dict[str, np.ndarray]:
    return make_split(CrackSliceConfig(size=32), 2, SPLIT_SEEDS["train"], 2)


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return torch.load(folder / "weights.pt", map_location="cpu", weights_only=True)


# --------------------------------------------------------------------------- losses
def test_edge_loss_zero_for_identical_and_offset() -> None:
    x = torch.rand(2, 1, 12, 10, generator=torch.Generator().manual_seed(0))
    loss = SREdgeLoss(edge_weight=0.5)
    assert float(loss(x, x)) == 0.0
    assert float(sobel_edge_loss(x, x + 0.3)) == pytest.approx(0.0, abs=1e-6)
    total, l1, edge = loss.terms(x + 0.3, x)
    assert float(l1) == pytest.approx(0.3, abs=1e-6)
    assert float(total) == pytest.approx(0.3, abs=1e-5)
    assert float(edge) == pytest.approx(0.0, abs=1e-6)


def test_sobel_step_edge_matches_analytic_value() -> None:
    # vertical step of height h between columns 3 and 4: |g| = 4 h on columns 3 and 4 (unnormalized
    # [1,2,1] x [-1,0,1]), sqrt(eps) elsewhere; gx > 0 for an increasing step, gy = 0
    h = 1.0
    x = torch.zeros(1, 1, 6, 8, dtype=torch.float64)
    x[..., 4:] = h
    gx, gy = sobel_gradients(x)
    expect = np.zeros(8)
    expect[[3, 4]] = 4 * h
    np.testing.assert_allclose(gx[0, 0].numpy(), np.tile(expect, (6, 1)), atol=1e-12)
    np.testing.assert_allclose(gy[0, 0].numpy(), 0.0, atol=1e-12)
    mag = sobel_magnitude(x)[0, 0].numpy()
    np.testing.assert_allclose(mag, np.sqrt(np.tile(expect, (6, 1)) ** 2 + SOBEL_EPS), rtol=1e-12)
    # horizontal step: gy carries it; a ramp of slope a gives 8 a in the interior
    np.testing.assert_allclose(sobel_gradients(x.transpose(-1, -2))[1][0, 0, 3:5, 0].numpy(), 4 * h)
    ramp = torch.arange(8, dtype=torch.float64).repeat(1, 1, 5, 1) * 0.25
    np.testing.assert_allclose(sobel_gradients(ramp)[0][0, 0, :, 1:-1].numpy(), 8 * 0.25)
    # per channel
    two = torch.cat([x, 2 * x], dim=1)
    assert sobel_magnitude(two)[0, 1].max().item() == pytest.approx(8.0)


def test_edge_loss_gradient_flows_and_validates() -> None:
    g = torch.Generator().manual_seed(1)
    pred = torch.rand(1, 1, 9, 9, generator=g, requires_grad=True)
    target = torch.rand(1, 1, 9, 9, generator=g)
    SREdgeLoss(0.1)(pred, target).backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    flat = torch.zeros(1, 1, 5, 5, requires_grad=True)  # finite gradient on a flat image thanks to eps
    sobel_edge_loss(flat, torch.zeros(1, 1, 5, 5)).backward()
    assert torch.isfinite(flat.grad).all()
    with pytest.raises(ValueError, match="shapes differ"):
        sobel_edge_loss(pred, target[..., :8])
    with pytest.raises(ValueError, match="4-D"):
        sobel_magnitude(torch.zeros(5, 5))
    with pytest.raises(ValueError, match="edge_weight"):
        SREdgeLoss(-1.0)


# --------------------------------------------------------------------------- data helpers
def test_patch_pairs_are_aligned_under_augmentation() -> None:
    rng = np.random.default_rng(0)
    hr = rng.random((3, 24, 20)).astype(np.float32)
    lr = hr.reshape(3, 12, 2, 10, 2).mean(axis=(2, 4))  # area down-sampling by 2
    xs, ys = sample_patch_pairs(lr, hr, 2, 6, 16, np.random.default_rng(1))
    assert xs.shape == (16, 1, 6, 6) and ys.shape == (16, 1, 12, 12)
    down = ys.reshape(16, 1, 6, 2, 6, 2).mean(dim=(3, 5))
    torch.testing.assert_close(down, xs, atol=1e-6, rtol=0)


def test_learning_rate_schedule() -> None:
    s = SRTrainingConfig(iterations=10, learning_rate=1e-3, learning_rate_min_factor=0.1)
    assert learning_rate(s, 0) == pytest.approx(1e-3)
    assert learning_rate(s, 5) == pytest.approx(0.55e-3)
    assert learning_rate(s.model_copy(update={"learning_rate_schedule": "none"}), 7) == 1e-3


def test_natural_pairs_use_the_nanoct_degradation() -> None:
    images = [np.linspace(0, 1, 40 * 40, dtype=np.float32).reshape(40, 40)]
    lr, hr = natural_pairs(3, 16, 2, blur_sigma_px=0.0, noise_std=0.0, seed=0, images=images)
    assert lr.shape == (3, 8, 8) and hr.shape == (3, 16, 16) and lr.dtype == np.float32
    np.testing.assert_allclose(lr, hr.reshape(3, 8, 2, 8, 2).mean(axis=(2, 4)), atol=1e-6)
    with pytest.raises(ValueError, match="divisible"):
        natural_pairs(1, 15, 2, images=images)


# --------------------------------------------------------------------------- training
def test_train_writes_model_folder_and_predicts(tmp_path: Path, split: dict[str, np.ndarray]) -> None:
    settings = SRTrainingConfig(iterations=4, **FAST)
    folder = train_sr(
        "utsr",
        TINY,
        split["lr"],
        split["hr"],
        settings,
        tmp_path / "m",
        device="cpu",
        progress=False,
        stage="finetune",
    )
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["model_name"] == "utsr" and cfg["scale"] == 2 and cfg["settings"]["iterations"] == 4
    assert cfg["stage"]["name"] == "finetune" and cfg["stage"]["init_weights"] is None
    assert cfg["train_seconds"] >= 0
    assert not (folder / "checkpoint.pt").exists()
    with open(folder / "loss.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["iteration"]) for r in rows] == [1, 2, 3, 4]
    assert all(np.isfinite(float(r["loss"])) and float(r["edge"]) >= 0 for r in rows)
    model = LoadedModel.load(folder, device="cpu")
    assert not model.model.training and model.scale == 2
    out = model.predict(split["lr"][0][:13, :11])
    assert out.shape == (26, 22) and out.dtype == np.float32 and np.isfinite(out).all()
    # re-running a finished folder returns it untouched; another run in the same folder errors
    before = (folder / "weights.pt").stat().st_mtime_ns
    train_sr(
        "utsr",
        TINY,
        split["lr"],
        split["hr"],
        settings,
        folder,
        device="cpu",
        progress=False,
        stage="finetune",
    )
    assert (folder / "weights.pt").stat().st_mtime_ns == before
    with pytest.raises(ValueError, match="other settings"):
        train_sr(
            "utsr",
            TINY,
            split["lr"],
            split["hr"],
            settings.model_copy(update={"seed": 9}),
            folder,
            device="cpu",
            progress=False,
            stage="finetune",
        )


def test_finetune_starts_from_init_weights(
    tmp_path: Path, split: dict[str, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    pre = train_sr(
        "utsr",
        TINY,
        split["lr"],
        split["hr"],
        SRTrainingConfig(iterations=2, **FAST),
        tmp_path / "pre",
        device="cpu",
        progress=False,
    )
    init = _weights(pre)
    seen: list[list[torch.Tensor]] = []
    real_step = torch.optim.Adam.step

    def spy(self: torch.optim.Adam, *a: object, **k: object) -> object:
        if not seen:  # parameters just before the first update, in model.parameters() order
            seen.append([p.detach().clone() for g in self.param_groups for p in g["params"]])
        return real_step(self, *a, **k)

    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    settings = SRTrainingConfig(iterations=1, **{**FAST, "seed": 11})
    fine = train_sr(
        "utsr",
        TINY,
        split["lr"],
        split["hr"],
        settings,
        tmp_path / "fine",
        device="cpu",
        init_weights=pre,
        progress=False,
    )
    monkeypatch.undo()
    names = [n for n, _ in LoadedModel.load(fine, device="cpu").model.named_parameters()]
    assert len(seen[0]) == len(names)
    for name, before in zip(names, seen[0], strict=True):
        torch.testing.assert_close(before, init[name], atol=0, rtol=0)
    # one step moved them away from the initial weights
    assert any(not torch.equal(_weights(fine)[n], init[n]) for n in names)
    cfg = json.loads((fine / "config.json").read_text())
    assert cfg["stage"]["init_weights"] == str((pre / "weights.pt").resolve())
    with pytest.raises(ValueError, match="do not match the architecture"):
        train_sr(
            "utsr",
            {**TINY, "embed_dim": 24},
            split["lr"],
            split["hr"],
            settings,
            tmp_path / "bad",
            device="cpu",
            init_weights=pre / "weights.pt",
            progress=False,
        )


def test_two_stage_and_finetune_only(tmp_path: Path, split: dict[str, np.ndarray]) -> None:
    images = [np.random.default_rng(0).random((40, 40)).astype(np.float32)]
    s = SRTrainingConfig(iterations=1, **FAST)
    out = two_stage(
        "utsr",
        TINY,
        split["lr"],
        split["hr"],
        s,
        s,
        tmp_path / "two",
        natural_n=4,
        natural_images_override=images,
        device="cpu",
        progress=False,
    )
    assert set(out) == {"pretrain", "finetune"}
    cfg = json.loads((out["finetune"] / "config.json").read_text())
    assert cfg["stage"]["init_weights"] == str((out["pretrain"] / "weights.pt").resolve())
    pre_cfg = json.loads((out["pretrain"] / "config.json").read_text())
    assert pre_cfg["data"]["lr_shape"] == [16, 16] and pre_cfg["stage"]["name"] == "pretrain"
    only = two_stage(
        "utsr",
        TINY,
        split["lr"],
        split["hr"],
        s,
        s,
        tmp_path / "only",
        pretrain=False,
        device="cpu",
        progress=False,
    )
    assert set(only) == {"finetune"}
    cfg = json.loads((only["finetune"] / "config.json").read_text())
    assert cfg["stage"] == {"name": "finetune_only", "init_weights": None, "init_weights_sha256": None}


def test_input_validation(tmp_path: Path, split: dict[str, np.ndarray]) -> None:
    s = SRTrainingConfig(iterations=1, **FAST)
    lr, hr = split["lr"], split["hr"]
    cases = [
        (lr, hr[:, :-2, :-2], "exactly scale"),
        (lr, hr[:1], "images but"),
        (lr[0], hr[0], "3-D"),
        (np.where(np.arange(16) == 3, np.nan, lr), hr, "NaN"),
    ]
    for a, b, msg in cases:
        with pytest.raises(ValueError, match=msg):
            train_sr("utsr", TINY, a, b, s, tmp_path / "x", device="cpu", progress=False)
    with pytest.raises(ValueError, match="patch"):
        train_sr(
            "utsr",
            TINY,
            lr,
            hr,
            s.model_copy(update={"patch": 17}),
            tmp_path / "x",
            device="cpu",
            progress=False,
        )
    with pytest.raises(ValueError, match="2-D SR models"):
        train_sr("deepnet", {}, lr, hr, s, tmp_path / "x", device="cpu", progress=False)
    with pytest.raises(FileNotFoundError):
        train_sr(
            "utsr",
            TINY,
            lr,
            hr,
            s,
            tmp_path / "x",
            device="cpu",
            init_weights=tmp_path / "none.pt",
            progress=False,
        )
    with pytest.raises(Exception, match="extra"):
        SRTrainingConfig(iterations=1, unknown=3)
    assert not (tmp_path / "x").exists()


# --------------------------------------------------------------------------- validation / best model
def test_validation_keeps_the_best_weights(tmp_path: Path, split: dict[str, np.ndarray]) -> None:
    val = make_split(CrackSliceConfig(size=32), 1, SPLIT_SEEDS["val"], 2)
    # a large constant learning rate makes the validation PSNR move up and down
    settings = SRTrainingConfig(
        iterations=12,
        validate_every=3,
        **{**FAST, "learning_rate": 5e-3},
        learning_rate_schedule="none",
        best_metric="psnr",
    )
    folder = train_sr(
        "utsr",
        TINY,
        split["lr"],
        split["hr"],
        settings,
        tmp_path / "m",
        device="cpu",
        progress=False,
        validation=(val["lr"], val["hr"]),
    )
    with open(folder / "validation.csv") as f:
        rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]
    assert [int(r["iteration"]) for r in rows] == [3, 6, 9, 12]
    assert all(r["val_loss"] == pytest.approx(r["val_l1"] + 0.1 * r["val_edge"], rel=1e-5) for r in rows)
    cfg = json.loads((folder / "config.json").read_text())
    best = max(rows, key=lambda r: r["val_psnr"])
    assert cfg["best_iteration"] == int(best["iteration"])
    assert cfg["best_val_psnr"] == pytest.approx(best["val_psnr"], abs=1e-3)
    # the saved weights are the best ones: re-scoring them gives the recorded PSNR
    from xrsr_lib.train.slices import validation_psnr

    model = LoadedModel.load(folder, device="cpu").model
    assert validation_psnr(model, val["lr"], val["hr"]) == pytest.approx(best["val_psnr"], abs=1e-3)
    # by default the best weights are those of the lowest validation loss (the training objective)
    by_loss_settings = SRTrainingConfig(**{**settings.model_dump(), "best_metric": "loss"})
    by_loss = train_sr(
        "utsr",
        TINY,
        split["lr"],
        split["hr"],
        by_loss_settings,
        tmp_path / "l",
        device="cpu",
        progress=False,
        validation=(val["lr"], val["hr"]),
    )
    cfg = json.loads((by_loss / "config.json").read_text())
    with open(by_loss / "validation.csv") as f:
        rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]
    assert cfg["best_iteration"] == int(min(rows, key=lambda r: r["val_loss"])["iteration"])


def test_validation_resume_and_errors(tmp_path: Path, split: dict[str, np.ndarray]) -> None:
    val = make_split(CrackSliceConfig(size=32), 1, SPLIT_SEEDS["val"], 2)
    settings = SRTrainingConfig(iterations=10, validate_every=5, **FAST)
    args = ("utsr", TINY, split["lr"], split["hr"], settings)
    kw = {"device": "cpu", "progress": False, "validation": (val["lr"], val["hr"])}
    whole = train_sr(*args, tmp_path / "whole", **kw)
    part = train_sr(*args, tmp_path / "part", stop_after=5, **kw)
    part = train_sr(*args, part, **kw)
    assert (whole / "validation.csv").read_text() == (part / "validation.csv").read_text()
    with pytest.raises(ValueError, match="validation pairs"):
        train_sr(*args, tmp_path / "none", device="cpu", progress=False)
    with pytest.raises(ValueError, match="hr_images"):
        train_sr(*args, tmp_path / "bad", device="cpu", progress=False, validation=(val["lr"], val["lr"]))
