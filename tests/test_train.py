"""Training harness: loss decreases, resume continues the same curve, models reload exactly."""

import json

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from xrsr_lib.config import DeepNetTraining, SRCNNTraining
from xrsr_lib.infer import LoadedModel
from xrsr_lib.prepare import Normalization, fov_mask
from xrsr_lib.train import read_curves
from xrsr_lib.train.volumes import check_pair, masked_mse, train_model

TINY_DEEPNET = DeepNetTraining(
    model={"base_width": 8, "depth": 2, "extra_convs": 1}, iterations=40, batch_size=2, tile=32,
    inference_tile=24, inference_overlap=4, checkpoint_every=5, learning_rate=2e-3,
)
TINY_SRCNN = SRCNNTraining(
    model={"kernel_sizes": (5, 3, 3), "widths": (8, 4)}, iterations=30, batch_size=4, patch=12, stride=6,
    validation_fraction=0.2, validate_every=5, inference_tile=16, inference_overlap=2, checkpoint_every=5,
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
    method = "deepnet" if isinstance(settings, DeepNetTraining) else "srcnn"
    folder = train_model(method, *pair, settings, tmp_path / method, device="cpu", progress=False)
    loss = read_curves(folder)[0]["loss"].to_numpy()
    assert len(loss) == settings.iterations
    assert loss[-10:].mean() < 0.85 * loss[:5].mean()
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["method"] == method and cfg["train_seconds"] > 0
    assert not (folder / "checkpoint.pt").exists()
    if method == "srcnn":
        val = read_curves(folder)[1]
        assert len(val) == settings.iterations // settings.validate_every
        # one stopping rule for both networks: the final weights (validation is a curve only)
        assert cfg["best_iteration"] == settings.iterations
    # the cosine schedule: the peak at the first step, decaying to learning_rate_min_factor
    lr = read_curves(folder)[0]["learning_rate"].to_numpy()
    assert lr[0] == pytest.approx(settings.learning_rate)
    assert np.all(np.diff(lr) <= 0) and lr[-1] < 0.01 * settings.learning_rate + 0.01 * lr[0]


def test_constant_learning_rate_schedule(pair, tmp_path):
    settings = TINY_DEEPNET.model_copy(update={"iterations": 6, "learning_rate_schedule": "none"})
    folder = train_model("deepnet", *pair, settings, tmp_path / "m", device="cpu", progress=False)
    assert (read_curves(folder)[0]["learning_rate"] == settings.learning_rate).all()


@pytest.mark.parametrize("settings", [TINY_DEEPNET, TINY_SRCNN], ids=["deepnet", "srcnn"])
def test_saved_model_reloads_with_identical_output(pair, tmp_path, settings):
    method = "deepnet" if isinstance(settings, DeepNetTraining) else "srcnn"
    short = settings.model_copy(update={"iterations": 10})
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
    with pytest.raises(ValueError, match="needs SRCNNTraining"):
        train_model("srcnn", inputs, target, TINY_DEEPNET, tmp_path / "x", progress=False)
    with pytest.raises(ValueError, match="fewer than the 5 input slices"):
        train_model("deepnet", inputs[:3], target[:3], TINY_DEEPNET, tmp_path / "x", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        LoadedModel.load(tmp_path / "empty")


def test_wrong_number_of_slices_for_a_loaded_model(pair, tmp_path):
    short = TINY_DEEPNET.model_copy(update={"iterations": 2})
    model = LoadedModel.load(train_model("deepnet", *pair, short, tmp_path / "m", progress=False), "cpu")
    with pytest.raises(ValueError, match="5"):
        model.model(torch.zeros(1, 3, 16, 16))


def test_srcnn_tiles_equal_one_whole_volume_pass(pair, tmp_path):
    """A 3-D network's tiles drop its receptive radius (here 4) at inner tile edges when the overlap
    allows it (here 6; half the overlap, 3, would let tile-edge padding reach the result)."""
    settings = TINY_SRCNN.model_copy(update={"iterations": 5, "inference_tile": 14, "inference_overlap": 6})
    model = LoadedModel.load(train_model("srcnn", *pair, settings, tmp_path / "m", progress=False), "cpu")
    tiled = model.predict(pair[0])
    whole = model.predict(pair[0], tile=64)  # one tile holds the whole 16 x 40 x 40 volume
    np.testing.assert_allclose(tiled, whole, rtol=0, atol=1e-5 * np.abs(whole).max())
