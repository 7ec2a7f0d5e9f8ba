"""Tests of the simulated nano-CT crack slices, degradation, natural images and crack segmentation."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError
from scipy.ndimage import distance_transform_edt

from xrsr_lib.config.nanoct import CrackSegmentationConfig, CrackSliceConfig
from xrsr_lib.evaluate.cracks import segment_cracks, segmentation_scores
from xrsr_lib.simulate.nanoct import (
    SPLIT_SEEDS,
    bicubic_upsample,
    degrade_slice,
    make_split,
    simulate_crack_slice,
    split_image_seeds,
)
from xrsr_lib.simulate.natural import natural_images, random_crops

SMALL = CrackSliceConfig(size=128, n_pores=4, n_cracks=2, crack_length_range_px=(50.0, 100.0))


@pytest.fixture(scope="module")
def slices():
    return [simulate_crack_slice(CrackSliceConfig(), seed) for seed in range(3)]


# ---------------------------------------------------------------------------------- simulation


def test_simulation_deterministic_and_seed_dependent():
    a = simulate_crack_slice(SMALL, 7)
    b = simulate_crack_slice(SMALL, 7)
    c = simulate_crack_slice(SMALL, 8)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.crack_mask, b.crack_mask)
    np.testing.assert_array_equal(a.pore_mask, b.pore_mask)
    assert not np.array_equal(a.image, c.image)
    assert not np.array_equal(a.crack_mask, c.crack_mask)


def test_slice_shapes_dtypes_range(slices):
    for s in slices:
        assert s.image.shape == (256, 256) and s.image.dtype == np.float32
        assert s.crack_mask.shape == s.pore_mask.shape == (256, 256)
        assert s.crack_mask.dtype == bool and s.pore_mask.dtype == bool
        assert 0.0 <= s.image.min() and s.image.max() <= 1.0
        assert not (s.crack_mask & s.pore_mask).any()
    with pytest.raises(AttributeError):
        slices[0].image = None  # frozen dataclass


def test_cracks_are_thin_and_plausible(slices):
    for s in slices:
        frac = s.crack_mask.mean()
        assert 0.002 < frac < 0.08, frac
        assert s.pore_mask.any()
        depth = distance_transform_edt(s.crack_mask)[s.crack_mask]
        assert (depth <= 2).mean() >= 0.95
        assert depth.max() <= 4


def test_pores_and_cracks_are_dark(slices):
    cfg = CrackSliceConfig()
    for s in slices:
        matrix = ~(s.crack_mask | s.pore_mask)
        matrix_mean = s.image[matrix].mean()
        assert matrix_mean == pytest.approx(cfg.material_level, abs=0.02)
        assert s.image[s.pore_mask].mean() < cfg.void_level + 0.2 * cfg.contrast
        assert s.image[s.crack_mask].mean() < matrix_mean - 0.4 * cfg.contrast


def test_partial_volume_edges(slices):
    img = slices[0].image
    cfg = CrackSliceConfig()
    intermediate = (img > cfg.void_level + 0.2 * cfg.contrast) & (
        img < cfg.material_level - 0.3 * cfg.contrast
    )
    assert intermediate.sum() > 50  # anti-aliased crack and pore borders


def test_config_is_frozen_and_validated():
    cfg = CrackSliceConfig()
    with pytest.raises(ValidationError):
        cfg.size = 64
    with pytest.raises(ValidationError):
        CrackSliceConfig(crack_width_range_px=(3.0, 1.0))
    with pytest.raises(ValidationError):
        CrackSliceConfig(material_level=0.1, void_level=0.5)
    with pytest.raises(ValidationError):
        CrackSliceConfig(unknown=1)
    assert all(f.description for f in CrackSliceConfig.model_fields.values())


# ---------------------------------------------------------------------------------- degradation


def test_block_mean_of_constant():
    img = np.full((64, 48), 0.37, np.float32)
    for scale in (1, 2, 4):
        low = degrade_slice(img, scale, blur_sigma_px=1.3, noise_std=0.0)
        assert low.shape == (64 // scale, 48 // scale) and low.dtype == np.float32
        np.testing.assert_allclose(low, 0.37, atol=1e-6)


def test_noise_std_matches():
    img = np.full((512, 512), 0.5, np.float32)
    low = degrade_slice(img, 2, blur_sigma_px=0.0, noise_std=0.05, seed=3)
    assert low.std() == pytest.approx(0.05, rel=0.1)
    assert low.mean() == pytest.approx(0.5, abs=0.005)
    np.testing.assert_array_equal(low, degrade_slice(img, 2, 0.0, 0.05, seed=3))
    assert not np.array_equal(low, degrade_slice(img, 2, 0.0, 0.05, seed=4))


def test_blur_of_delta_integrates_to_one():
    img = np.zeros((65, 65), np.float32)
    img[32, 32] = 1.0
    out = degrade_slice(img, 1, blur_sigma_px=2.0, noise_std=0.0)
    assert out.sum() == pytest.approx(1.0, rel=1e-5)
    assert out.max() < 0.1
    img = np.zeros((64, 64), np.float32)
    img[30, 30] = 1.0
    low = degrade_slice(img, 4, blur_sigma_px=1.5, noise_std=0.0)
    assert low.sum() * 16 == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("scale", [0, 3, 8, 2.0, True])
def test_bad_scale_raises(scale):
    with pytest.raises(ValueError, match="scale"):
        degrade_slice(np.zeros((16, 16)), scale, 1.0, 0.0)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="divisible"):
        degrade_slice(np.zeros((18, 16)), 4, 1.0, 0.0)
    with pytest.raises(ValueError, match="blur_sigma_px"):
        degrade_slice(np.zeros((16, 16)), 2, -1.0, 0.0)
    with pytest.raises(ValueError, match="noise_std"):
        degrade_slice(np.zeros((16, 16)), 2, 1.0, float("nan"))
    with pytest.raises(ValueError, match="2-D"):
        degrade_slice(np.zeros((2, 16, 16)), 2, 1.0, 0.0)
    with pytest.raises(ValueError, match="scale"):
        bicubic_upsample(np.zeros((8, 8)), 3)


@pytest.mark.parametrize("scale", [2, 4])
def test_bicubic_reproduces_ramp(scale):
    yy, xx = np.mgrid[:128, :96].astype(np.float64)
    ramp = (0.002 * xx + 0.003 * yy + 0.1).astype(np.float32)
    low = degrade_slice(ramp, scale, blur_sigma_px=0.0, noise_std=0.0)
    up = bicubic_upsample(low, scale)
    assert up.shape == ramp.shape and up.dtype == np.float32
    m = 8 * scale  # the spline prefilter's border effect decays by ~0.27 per low-res pixel
    np.testing.assert_allclose(up[m:-m, m:-m], ramp[m:-m, m:-m], atol=1e-5)
    np.testing.assert_array_equal(bicubic_upsample(low, 1), low)


# ---------------------------------------------------------------------------------- splits


def test_make_split_shapes_and_determinism():
    a = make_split(SMALL, 3, SPLIT_SEEDS["train"], scale=4, blur_sigma_px=1.0, noise_std=0.02)
    b = make_split(SMALL, 3, SPLIT_SEEDS["train"], scale=4, blur_sigma_px=1.0, noise_std=0.02)
    assert a["hr"].shape == (3, 128, 128) and a["hr"].dtype == np.float32
    assert a["lr"].shape == (3, 32, 32) and a["lr"].dtype == np.float32
    assert a["crack_mask"].shape == a["pore_mask"].shape == (3, 128, 128)
    assert a["crack_mask"].dtype == bool
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["hr"][0], a["hr"][1])
    np.testing.assert_array_equal(
        a["hr"][1], simulate_crack_slice(SMALL, split_image_seeds(SPLIT_SEEDS["train"], 1)[0]).image
    )
    with pytest.raises(ValueError, match="n_images"):
        make_split(SMALL, 0, 1, 2)
    with pytest.raises(ValueError, match="divisible"):
        make_split(CrackSliceConfig(size=130), 1, 1, 4)


def test_splits_never_share_seeds_or_images():
    assert len(set(SPLIT_SEEDS.values())) == 3
    seeds = {
        name: {s for i in range(500) for s in split_image_seeds(base, i)}
        for name, base in SPLIT_SEEDS.items()
    }
    assert not seeds["train"] & seeds["val"]
    assert not seeds["train"] & seeds["test"]
    assert not seeds["val"] & seeds["test"]
    imgs = {name: make_split(SMALL, 2, base, 2)["hr"] for name, base in SPLIT_SEEDS.items()}
    names = list(imgs)
    for i, n1 in enumerate(names):
        for n2 in names[i + 1 :]:
            for x in imgs[n1]:
                for y in imgs[n2]:
                    assert not np.array_equal(x, y)


# ---------------------------------------------------------------------------------- natural images


@pytest.fixture(scope="module")
def naturals():
    return natural_images()


def test_natural_images_offline(naturals):
    assert len(naturals) >= 5
    for name, img in naturals.items():
        assert img.ndim == 2 and img.dtype == np.float32, name
        assert 0.0 <= img.min() and img.max() <= 1.0, name
        assert img.std() > 0.01, name
    assert "camera" in naturals


def test_random_crops(naturals):
    a = random_crops(naturals, 16, 64, seed=1)
    b = random_crops(naturals, 16, 64, seed=1)
    c = random_crops(naturals, 16, 64, seed=2)
    assert a.shape == (16, 64, 64) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    with pytest.raises(ValueError, match="exceeds every image"):
        random_crops(naturals, 2, 10_000, seed=0)
    # images smaller than the crop are skipped, not an error
    small, big = np.zeros((8, 8), np.float32), np.ones((40, 40), np.float32)
    assert np.all(random_crops({"small": small, "big": big}, 6, 32, seed=0) == 1)
    # augmentation: the 8 symmetries of a single asymmetric image all show up
    img = np.arange(16, dtype=np.float32).reshape(4, 4)
    crops = random_crops([img], 200, 4, seed=0, augment=True)
    assert len({c.tobytes() for c in crops}) == 8
    plain = random_crops([img], 5, 4, seed=0, augment=False)
    assert all(np.array_equal(c, img) for c in plain)


# ---------------------------------------------------------------------------------- segmentation


def test_segmentation_reference_vs_degraded(slices):
    f_ref, f_x4 = [], []
    for seed, s in enumerate(slices):
        f_ref.append(segmentation_scores(segment_cracks(s.image), s.crack_mask)["f1"])
        up = bicubic_upsample(degrade_slice(s.image, 4, blur_sigma_px=1.5, noise_std=0.05, seed=seed), 4)
        f_x4.append(segmentation_scores(segment_cracks(up), s.crack_mask)["f1"])
    assert min(f_ref) >= 0.8, f_ref
    assert max(f_x4) < min(f_ref) - 0.3, (f_ref, f_x4)


def test_segmentation_excludes_pores():
    img = np.full((64, 64), 0.7, np.float32)
    yy, xx = np.mgrid[:64, :64]
    img[(yy - 20) ** 2 + (xx - 20) ** 2 <= 9] = 0.05  # small pore (radius 3)
    img[45:47, 5:60] = 0.05  # crack, 2 px wide
    mask = segment_cracks(img, CrackSegmentationConfig(threshold=0.3))
    assert not mask[15:26, 15:26].any()
    assert mask[45:47, 10:55].all()
    assert segment_cracks(np.full((32, 32), 0.5, np.float32)).sum() == 0


def test_segmentation_config_validated():
    with pytest.raises(ValidationError):
        CrackSegmentationConfig(threshold=-1.0)
    with pytest.raises(ValidationError):
        CrackSegmentationConfig(threshold="mean")


def test_segmentation_scores_hand_computed():
    truth = np.array([[1, 1, 0, 0], [1, 0, 0, 0]], bool)
    pred = np.array([[1, 0, 1, 0], [1, 0, 0, 0]], bool)
    s = segmentation_scores(pred, truth)  # tp=2, fp=1, fn=1, tn=4
    assert (s["tp"], s["fp"], s["fn"], s["tn"]) == (2, 1, 1, 4)
    assert s["accuracy"] == pytest.approx(6 / 8)
    assert s["precision"] == pytest.approx(2 / 3)
    assert s["recall"] == pytest.approx(2 / 3)
    assert s["f1"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="shape"):
        segmentation_scores(pred, truth[:, :3])


def test_segmentation_scores_zero_divisions():
    empty = np.zeros((3, 3), bool)
    some = empty.copy()
    some[1, 1] = True
    both_empty = segmentation_scores(empty, empty)
    assert both_empty == {**both_empty, "accuracy": 1.0, "precision": 1.0, "recall": 1.0, "f1": 1.0}
    missed = segmentation_scores(empty, some)  # nothing predicted, one crack pixel
    assert (missed["precision"], missed["recall"], missed["f1"]) == (0.0, 0.0, 0.0)
    assert missed["accuracy"] == pytest.approx(8 / 9)
    spurious = segmentation_scores(some, empty)  # one false positive, no crack
    assert (spurious["precision"], spurious["recall"], spurious["f1"]) == (0.0, 0.0, 0.0)
