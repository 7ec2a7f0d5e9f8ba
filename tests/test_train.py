"""Training harness: loss decreases, resume continues the same curve, models reload exactly."""

import json

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from xrsr_lib.config import DeepNetSettings, DeepNetTraining, InferenceTiling, SRCNNSettings, SRCNNTraining
from xrsr_lib.infer import LoadedModel
from xrsr_lib.prepare import Normalization, fov_mask
from xrsr_lib.train import read_curves
from xrsr_lib.train.volumes import check_pair, masked_mse, train_model

TINY_DEEPNET = DeepNetSettings(
    architecture={"base_width": 8, "depth": 2, "extra_convs": 1},
    training=DeepNetTraining(
        iterations=40,
        batch_size=2,
        tile=32,
        checkpoint_every=5,
        learning_rate=2e-3,
    ),
    inference=InferenceTiling(tile=24, overlap=4),
)
TINY_SRCNN = SRCNNSettings(
    architecture={"kernel_sizes": (5, 3, 3), "widths": (8, 4)},
    training=SRCNNTraining(
        iterations=30,
        batch_size=4,
        patch=12,
        stride=6,
        validation_fraction=0.2,
        validate_every=5,
        checkpoint_every=5,
    ),
    inference=InferenceTiling(tile=16, overlap=2),
)


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(0)
    truth = (gaussian_filter(rng.random((16, 40, 40)), 1.5) > 0.5).astype(np.float32)
    target = truth + rng.normal(0, 0.05, truth.shape).astype(np.float32)
    inputs = gaussian_filter(truth, 2.0) + rng.normal(0, 0.05, truth.shape).astype(np.float32)
    return inputs.astype(np.float32), target


@pytest.mark.parametrize("settings", [TINY_DEEPNET, TINY_SRCNN], ids=["deepnet", "srcnn"])
def test_training_lowers_the_loss(pair, tmp_path, settings):
    method = "deepnet" if isinstance(settings, DeepNetSettings) else "srcnn"
    folder = train_model(method, *pair, settings, tmp_path / method, device="cpu", progress=False)
    loss = read_curves(folder)[0]["loss"].to_numpy()
    assert len(loss) == settings.training.iterations
    assert loss[-10:].mean() < 0.85 * loss[:5].mean()
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["method"] == method and cfg["train_seconds"] > 0
    assert not (folder / "checkpoint.pt").exists()
    if method == "srcnn":
        val = read_curves(folder)[1]
        assert len(val) == settings.training.iterations // settings.training.validate_every
        # one stopping rule for both networks: the final weights (validation is a curve only)
        assert cfg["best_iteration"] == settings.training.iterations
    # the cosine schedule: the peak at the first step, decaying to learning_rate_min_factor
    lr = read_curves(folder)[0]["learning_rate"].to_numpy()
    assert lr[0] == pytest.approx(settings.training.learning_rate)
    assert np.all(np.diff(lr) <= 0) and lr[-1] < 0.01 * settings.training.learning_rate + 0.01 * lr[0]


def test_constant_learning_rate_schedule(pair, tmp_path):
    settings = TINY_DEEPNET.replace(iterations=6, learning_rate_schedule="none")
    folder = train_model("deepnet", *pair, settings, tmp_path / "m", device="cpu", progress=False)
    assert (read_curves(folder)[0]["learning_rate"] == settings.training.learning_rate).all()


@pytest.mark.parametrize("settings", [TINY_DEEPNET, TINY_SRCNN], ids=["deepnet", "srcnn"])
def test_saved_model_reloads_with_identical_output(pair, tmp_path, settings):
    method = "deepnet" if isinstance(settings, DeepNetSettings) else "srcnn"
    short = settings.replace(iterations=10)
    folder = train_model(method, *pair, short, tmp_path / method, device="cpu", progress=False)
    m1 = LoadedModel.load(folder, device="cpu")
    m2 = LoadedModel.load(folder, device="cpu")
    out1 = m1.predict(pair[0])
    out2 = m2.predict(pair[0])
    assert out1.shape == pair[0].shape and out1.dtype == np.float32
    np.testing.assert_array_equal(out1, out2)
    # prediction is in target units (normalization undone), not normalized units
    assert abs(float(out1.mean()) - float(pair[1].mean())) < 0.5


def test_loss_ignores_voxels_outside_the_field_of_view():
    mask = torch.from_numpy(fov_mask((32, 32)))[None, None]
    target = torch.zeros(2, 5, 32, 32)
    pred = torch.rand(2, 5, 32, 32)
    changed = pred.clone()
    changed[..., ~mask[0, 0]] = 1000.0
    assert masked_mse(pred, target, mask) == masked_mse(changed, target, mask)
    inside = pred.clone()
    inside[..., 16, 16] += 1.0
    assert masked_mse(inside, target, mask) > masked_mse(pred, target, mask)


def test_fov_mask_is_the_inscribed_circle():
    m = fov_mask((64, 64))
    assert m[32, 32] and not m[0, 0] and m[32, 0]
    assert m.sum() == pytest.approx(np.pi * 32**2, rel=0.02)


def test_normalization_roundtrip():
    rng = np.random.default_rng(2)
    x, t = rng.normal(3, 2, (4, 8, 8)), rng.normal(-1, 0.5, (4, 8, 8))
    n = Normalization.fit(x, t)
    assert abs(n.inputs(x).mean()) < 1e-5 and n.inputs(x).std() == pytest.approx(1, rel=1e-4)
    np.testing.assert_allclose(n.restore(n.targets(t)), t, atol=1e-5)


def test_bad_inputs(pair, tmp_path):
    inputs, target = pair
    with pytest.raises(ValueError, match="shapes differ"):
        check_pair(inputs, target[:, :, :-1])
    with pytest.raises(ValueError, match="3-D"):
        check_pair(inputs[0], target[0])
    bad = inputs.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        train_model("deepnet", bad, target, TINY_DEEPNET, tmp_path / "x", progress=False)
    with pytest.raises(ValueError, match="unknown method"):
        train_model("unet", inputs, target, TINY_DEEPNET, tmp_path / "x", progress=False)
    with pytest.raises(ValueError, match="needs SRCNNSettings"):
        train_model("srcnn", inputs, target, TINY_DEEPNET, tmp_path / "x", progress=False)
    with pytest.raises(ValueError, match="fewer than the 5 input slices"):
        train_model("deepnet", inputs[:3], target[:3], TINY_DEEPNET, tmp_path / "x", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        LoadedModel.load(tmp_path / "empty")


def test_wrong_number_of_slices_for_a_loaded_model(pair, tmp_path):
    short = TINY_DEEPNET.replace(iterations=2)
    model = LoadedModel.load(train_model("deepnet", *pair, short, tmp_path / "m", progress=False), "cpu")
    with pytest.raises(ValueError, match="5"):
        model.model(torch.zeros(1, 3, 16, 16))


def test_srcnn_tiles_equal_one_whole_volume_pass(pair, tmp_path):
    """A 3-D network's tiles drop its receptive radius (here 4) at inner tile edges when the overlap
    allows it (here 6; half the overlap, 3, would let tile-edge padding reach the result)."""
    settings = TINY_SRCNN.replace(iterations=5, inference_tile=14, inference_overlap=6)
    model = LoadedModel.load(train_model("srcnn", *pair, settings, tmp_path / "m", progress=False), "cpu")
    tiled = model.predict(pair[0])
    whole = model.predict(pair[0], tile=64)  # one tile holds the whole 16 x 40 x 40 volume
    np.testing.assert_allclose(tiled, whole, rtol=0, atol=1e-5 * np.abs(whole).max())


# ----------------------------------------------------------------------------- the module layout
def test_volumes_offers_every_name_of_its_parts_as_the_same_objects():
    """``train.volumes`` still offers every name it offered before its split (same objects)."""
    from xrsr_lib.train import volume_adapter, volume_cache, volume_samples, volumes

    before = {
        "METHODS",
        "MODEL_FORMAT",
        "HeldOutSamples",
        "PatchSampler",
        "StackSampler",
        "check_pair",
        "check_settings",
        "masked_mse",
        "masked_sse",
        "tile_starts",
        "train_cached",
        "train_model",
        "volume_task",
    }
    parts = (volume_samples, volume_adapter, volume_cache)
    assert before <= set(volumes.__all__) == {n for m in parts for n in m.__all__}
    for module in parts:
        for name in module.__all__:
            assert getattr(volumes, name) is getattr(module, name), name


# ----------------------------------------------------------------------------- held-out data, stopping
def test_held_out_samples_cover_the_slab_and_score_the_masked_mse():
    from xrsr_lib.train.volumes import HeldOutSamples, tile_starts

    assert tile_starts(10, 4) == [0, 3, 6] and tile_starts(8, 4) == [0, 4] and tile_starts(3, 4) == [0]
    rng = np.random.default_rng(1)
    x = rng.random((9, 20, 20)).astype(np.float32)
    t = rng.random((9, 20, 20)).astype(np.float32)
    mask = fov_mask((20, 20))
    samples = HeldOutSamples(x, t, mask, (5, 8, 8))
    covered = np.zeros(x.shape, int)
    for c in samples.corners:
        covered[c[0] : c[0] + 5, c[1] : c[1] + 8, c[2] : c[2] + 8] += 1
    assert (covered[:, mask] > 0).all()  # every mask voxel is scored
    # an identity "network" scores the masked MSE of x against t, counted per sample
    from xrsr_lib.train.volumes import masked_mean_loss

    batches = samples.batches(3, channels_first=False)
    loss = masked_mean_loss(torch.nn.Identity(), batches, torch.device("cpu"))
    weights = covered * mask[None]
    assert loss == pytest.approx(float((weights * (x - t) ** 2).sum() / weights.sum()), rel=1e-5)
    with pytest.raises(ValueError, match="smaller than one training sample"):
        HeldOutSamples(x[:4], t[:4], mask, (5, 8, 8))


@pytest.mark.parametrize("settings", [TINY_DEEPNET, TINY_SRCNN], ids=["deepnet", "srcnn"])
def test_held_out_slab_validates_both_networks_alike(pair, tmp_path, settings):
    method = "deepnet" if isinstance(settings, DeepNetSettings) else "srcnn"
    x, t = pair
    settings = settings.replace(iterations=20, validate_every=5, keep_best=True)
    if method == "srcnn":  # patches that fit the 10 training and 5 held-out slices
        settings = settings.replace(patch=5, stride=3)
    folder = train_model(
        method,
        x[:10],
        t[:10],
        settings,
        tmp_path / method,
        device="cpu",
        progress=False,
        validation=(x[11:], t[11:]),
    )
    val = read_curves(folder)[1]
    assert list(val["iteration"]) == [5, 10, 15, 20]
    cfg = json.loads((folder / "config.json").read_text())
    best = int(val["iteration"][val["val_loss"].idxmin()])
    assert cfg["best_iteration"] == best and cfg["held_out"]["shape"] == [5, 40, 40]
    # the kept weights are the best ones: the loaded model scores the held-out loss of that row
    from xrsr_lib.train.volumes import HeldOutSamples, masked_mean_loss

    model = LoadedModel.load(folder, device="cpu")
    norm = model.normalization
    shape = (5, 32, 32) if method == "deepnet" else (settings.training.patch,) * 3
    samples = HeldOutSamples(norm.inputs(x[11:]), norm.targets(t[11:]), fov_mask((40, 40)), shape)
    loss = masked_mean_loss(
        model.model, samples.batches(2, channels_first=method != "deepnet"), torch.device("cpu")
    )
    assert loss == pytest.approx(float(val["val_loss"].min()), rel=1e-4)


def test_settings_reach_the_loop(pair):
    from xrsr_lib.train.volumes import volume_task

    x, t = pair
    for settings in (TINY_DEEPNET, TINY_SRCNN.replace(patch=5, stride=3)):
        method = "deepnet" if isinstance(settings, DeepNetSettings) else "srcnn"
        s = settings.replace(validate_every=7, patience=3, keep_best=True)
        task = volume_task(method, x[:10], t[:10], s, "cpu", validation=(x[11:], t[11:]))
        assert (task.validate_every, task.patience, task.keep_best) == (7, 3, True)
        assert task.validate is not None


def test_the_loop_keeps_the_best_weights_and_stops_on_patience(tmp_path):
    from xrsr_lib.train.loop import TrainingTask, run_training

    model = torch.nn.Linear(1, 1, bias=False)
    scores = {4: 3.0, 8: 1.0, 12: 2.0, 16: 2.5, 20: 0.5}  # validation at every 4th step

    def step(it):
        with torch.no_grad():
            model.weight.fill_(float(it + 1))  # the weight records the step
        return {"loss": 1.0}

    def task(**kw):
        counter = iter(sorted(scores))
        return TrainingTask(
            name="t",
            model=model,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.0),
            rng=np.random.default_rng(0),
            config={"k": len(kw)},
            step=step,
            loss_fields=("loss",),
            iterations=20,
            checkpoint_every=100,
            validate=lambda: {"loss": scores[next(counter)]},
            validate_every=4,
            **kw,
        )

    folder = run_training(task(keep_best=True), tmp_path / "best", progress=False)
    assert torch.load(folder / "weights.pt")["weight"].item() == 20.0  # the best is the last
    folder = run_training(task(keep_best=True, patience=2), tmp_path / "patience", progress=False)
    cfg = json.loads((folder / "config.json").read_text())
    # best at 8; 12 and 16 do not improve: stopped at 16, the weights of step 8 kept
    assert cfg["stopped_iteration"] == 16 and cfg["best_iteration"] == 8
    assert torch.load(folder / "weights.pt")["weight"].item() == 8.0
    folder = run_training(task(keep_best=False, patience=2), tmp_path / "last", progress=False)
    assert torch.load(folder / "weights.pt")["weight"].item() == 16.0


def test_patience_stops_when_the_held_out_loss_stops_falling(pair, tmp_path):
    x, t = pair
    # a learning rate too small to move the loss: no validation improves on the first one
    settings = TINY_DEEPNET.replace(
        iterations=200, validate_every=4, patience=3, keep_best=True, learning_rate=1e-12
    )
    folder = train_model(
        "deepnet",
        x[:10],
        t[:10],
        settings,
        tmp_path / "m",
        device="cpu",
        progress=False,
        validation=(x[11:], t[11:]),
    )
    cfg = json.loads((folder / "config.json").read_text())
    loss, val = read_curves(folder)
    best = int(val["iteration"][val["val_loss"].idxmin()])
    assert cfg["stopped_iteration"] == best + 3 * 4 < 200
    assert len(loss) == cfg["stopped_iteration"] and val["iteration"].iloc[-1] == cfg["stopped_iteration"]
    # without patience the same run goes on to the end
    folder = train_model(
        "deepnet",
        x[:10],
        t[:10],
        settings.replace(patience=None, iterations=30),
        tmp_path / "n",
        device="cpu",
        progress=False,
        validation=(x[11:], t[11:]),
    )
    assert json.loads((folder / "config.json").read_text())["stopped_iteration"] == 30


def test_a_stopped_run_resumed_stops_at_the_same_step(pair, tmp_path):
    x, t = pair
    settings = TINY_DEEPNET.replace(
        iterations=200, validate_every=4, patience=2, keep_best=True, learning_rate=1e-12, checkpoint_every=3
    )
    whole = train_model(
        "deepnet",
        x[:10],
        t[:10],
        settings,
        tmp_path / "a",
        device="cpu",
        progress=False,
        validation=(x[11:], t[11:]),
    )
    part = tmp_path / "b"
    train_model(
        "deepnet",
        x[:10],
        t[:10],
        settings,
        part,
        device="cpu",
        progress=False,
        validation=(x[11:], t[11:]),
        stop_after=5,
    )
    assert (part / "checkpoint.pt").exists()
    train_model(
        "deepnet", x[:10], t[:10], settings, part, device="cpu", progress=False, validation=(x[11:], t[11:])
    )
    a, b = (json.loads((f / "config.json").read_text()) for f in (whole, part))
    assert a["stopped_iteration"] == b["stopped_iteration"] and a["best_iteration"] == b["best_iteration"]
    wa, wb = (torch.load(f / "weights.pt", weights_only=True) for f in (whole, part))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_bfloat16_precision_autocasts_the_training_forward_pass(pair, tmp_path):
    from xrsr_lib.train.volumes import volume_task

    x, t = pair
    seen = []
    for precision in ("float32", "bfloat16"):
        s = TINY_DEEPNET.replace(precision=precision, iterations=2)
        task = volume_task("deepnet", x, t, s, "cpu")
        hook = task.model.head.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
        row = task.step(0)
        hook.remove()
        assert np.isfinite(row["loss"])
    assert seen == [torch.float32, torch.bfloat16]
    # the default leaves the cache keys as they were
    assert "precision" not in TINY_DEEPNET.key_dict()
    assert TINY_DEEPNET.replace(precision="bfloat16").key_dict()["precision"] == "bfloat16"
