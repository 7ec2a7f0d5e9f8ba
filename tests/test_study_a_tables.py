"""Study A's reported tables on known answers, without running the simulation.

:class:`StudyAEvaluation` is built on the ``smoke`` profile with stubbed ``pores()``, ``image()`` and
``gaussian_fit()``, so that the tables (pore recovery and errors, sphericity statistics, slice MSE,
effective resolution) are checked against numbers computed by hand; the library functions they call
(:func:`relative_error_pct`, :func:`sphericity_statistics`, :func:`size_histogram_table`,
:func:`curve_minimum`) and every per-scale map of :func:`ms_ssim_3d` (against a straightforward
reference written here) are tested directly.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy.ndimage import gaussian_filter

from xrsr_lib.config import load_profile
from xrsr_lib.evaluate.msssim import ms_ssim_3d
from xrsr_lib.evaluate.pores import (
    PORE_COLUMNS,
    PoreAnalysis,
    PoreAnalysisConfig,
    analyse_pores,
    relative_error_pct,
    size_histogram_table,
    sphericity_statistics,
)
from xrsr_lib.evaluate.resolution import FWHM_PER_SIGMA, curve_minimum, gaussian_fit
from xrsr_lib.prepare.masks import cylinder_mask
from xrsr_lib.simulate.phantom import voxelize
from xrsr_lib.studies.study_a.evaluation import PORE_METHODS, SCORED_METHODS, StudyAEvaluation

SIGMAS = (3.0, 5.0, 7.0, 9.0)  # the smoke profile's input blurs, µm


# ------------------------------------------------------------------------------ helpers
@pytest.fixture
def stub_eval() -> StudyAEvaluation:
    """An evaluation of the smoke profile with no study behind it: every image method is stubbed."""
    profile = load_profile("smoke")
    assert profile.degrade.lres_sigmas_um == SIGMAS
    return StudyAEvaluation(SimpleNamespace(profile=profile, cache=None, data=None), progress=False)


def fake_analysis(
    n_pores: int,
    porosity: float,
    mean_sphericity: float,
    sphericity: list[float] | None = None,
    clipped: int = 0,
) -> PoreAnalysis:
    """A :class:`PoreAnalysis` with the given summary (and per-pore sphericities, else all at the mean)."""
    psi = [mean_sphericity] * n_pores if sphericity is None else list(sphericity)
    pores = {c: [1.0] * len(psi) for c in PORE_COLUMNS}
    pores.update(
        label=list(range(1, len(psi) + 1)),
        sphericity=psi,
        sphericity_clipped=[i < clipped for i in range(len(psi))],
    )
    summary = {
        "threshold": 0.5,
        "n_pores": n_pores,
        "n_edge_killed": 2,
        "n_surface_killed": 0,
        "porosity": porosity,
        "n_sphericity_clipped": clipped,
        "mean_sphericity": mean_sphericity,
        "voxel_size_um": 1.0,
    }
    return PoreAnalysis.from_dict(
        {"summary": summary, "config": PoreAnalysisConfig().model_dump(), "pores": pores}
    )


def stub_pores(ev: StudyAEvaluation, analyses: dict, default: PoreAnalysis) -> list:
    """Make ``ev.pores(image, σ, realization)`` return ``analyses[(image, σ)]`` (else ``default``)."""
    calls = []

    def pores(method, sigma_um=None, realization=None):
        calls.append((method, sigma_um, realization))
        return analyses.get((method, sigma_um), default)

    ev.pores = pores
    return calls


def sphere_image(shape: tuple[int, int, int], spheres: list[tuple[float, float, float, float]]) -> np.ndarray:
    """Material-fraction image (matrix 1) of voids ``(z, y, x, r)`` in voxel indices, partial-volume edges."""
    n = np.asarray(shape, dtype=float)
    rows = [(x - (n[2] - 1) / 2, y - (n[1] - 1) / 2, z - (n[0] - 1) / 2, r, 0.0) for z, y, x, r in spheres]
    return voxelize(np.array(rows), tuple(shape), 1.0, supersampling=4, cylinder_radius=10.0 * float(n.max()))


# ------------------------------------------------------------------------------ relative error
def test_relative_error_pct():
    assert relative_error_pct(0.2, 0.25) == pytest.approx(-20.0)
    assert relative_error_pct(0.26, 0.25) == pytest.approx(4.0)
    assert relative_error_pct(0.98, 0.98) == 0.0
    assert relative_error_pct(0.0, 3.0) == -100.0
    assert relative_error_pct(-1.0, -2.0) == pytest.approx(-50.0)  # the sign of the truth is kept
    assert math.isnan(relative_error_pct(math.nan, 0.98))  # e.g. the mean sphericity of no pore
    for truth in (0.0, -0.0, math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match="finite and non-zero"):
            relative_error_pct(0.5, truth)


# ------------------------------------------------------------------------------ pore table
def test_pore_table_recovery_and_errors_by_hand(stub_eval):
    gt = fake_analysis(160, 0.25, 0.98)
    analyses = {
        ("gt", None): gt,
        ("phantom", None): fake_analysis(176, 0.26, 0.9898),
        ("hres", None): fake_analysis(160, 0.25, 0.98),
        ("fdk", 3.0): fake_analysis(120, 0.20, 0.882, clipped=3),
        ("deepnet", 3.0): fake_analysis(168, 0.26, 0.9604),
        ("rl_nlm", 9.0): fake_analysis(0, 0.0, math.nan),
    }
    calls = stub_pores(stub_eval, analyses, default=fake_analysis(80, 0.30, 0.49))
    table = stub_eval.pore_table("alternate")
    assert list(table.columns) == [
        "image",
        "sigma_um",
        "realization",
        "n_pores",
        "recovery_pct",
        "porosity",
        "porosity_error_pct",
        "mean_sphericity",
        "sphericity_error_pct",
        "n_sphericity_clipped",
        "threshold",
        "n_edge_killed",
    ]
    assert len(table) == 3 + len(SIGMAS) * len(PORE_METHODS)  # gt, the exact phantom, hres, methods
    assert list(table.image[:3]) == ["gt", "phantom", "hres"]
    assert {c[2] for c in calls} == {"alternate"}
    references = ("gt", "phantom", "hres")
    row = {(r.image, None if r.image in references else r.sigma_um): r for r in table.itertuples()}
    # (image, σ): recovery %, porosity error %, sphericity error %, all by hand
    expected = {
        ("gt", None): (100.0, 0.0, 0.0),
        ("phantom", None): (110.0, 4.0, 1.0),  # 176/160, 0.26/0.25 - 1, 0.9898/0.98 - 1
        ("hres", None): (100.0, 0.0, 0.0),
        ("fdk", 3.0): (75.0, -20.0, -10.0),  # 120/160, 0.20/0.25 - 1, 0.882/0.98 - 1
        ("deepnet", 3.0): (105.0, 4.0, -2.0),  # 168/160, 0.26/0.25 - 1, 0.9604/0.98 - 1
        ("srcnn", 5.0): (50.0, 20.0, -50.0),  # the default: 80/160, 0.30/0.25 - 1, 0.49/0.98 - 1
    }
    for key, (recovery, porosity_err, sphericity_err) in expected.items():
        r = row[key]
        assert r.recovery_pct == pytest.approx(recovery, rel=1e-12), key
        assert r.porosity_error_pct == pytest.approx(porosity_err, rel=1e-12, abs=1e-12), key
        assert r.sphericity_error_pct == pytest.approx(sphericity_err, rel=1e-12, abs=1e-12), key
    assert row[("fdk", 3.0)].n_sphericity_clipped == 3 and row[("fdk", 3.0)].n_edge_killed == 2
    none = row[("rl_nlm", 9.0)]  # no pore found: 0 % recovered, -100 % porosity, no mean sphericity
    assert none.recovery_pct == 0.0 and none.porosity_error_pct == -100.0
    assert math.isnan(none.sphericity_error_pct)
    assert math.isnan(row[("gt", None)].sigma_um) and row[("hres", None)].sigma_um == 1.0


def test_exact_phantom_as_the_ground_truth_is_not_listed_twice():
    profile = load_profile("smoke")
    evaluation = profile.evaluation.model_copy(update={"reference": "phantom"})
    profile = profile.model_copy(update={"evaluation": evaluation})
    ev = StudyAEvaluation(SimpleNamespace(profile=profile, cache=None, data=None), progress=False)
    stub_pores(ev, {}, fake_analysis(10, 0.2, 0.9))
    table = ev.pore_table("alternate")
    assert list(table.image[:2]) == ["gt", "hres"] and "phantom" not in set(table.image)
    with pytest.raises(ValueError, match="truth must be 'gt' or 'phantom'"):
        ev._comparison_params("fdk", 3.0, "alternate", truth="hres")


def test_pore_table_rejects_a_ground_truth_without_pores(stub_eval):
    stub_pores(stub_eval, {("gt", None): fake_analysis(0, 0.0, math.nan)}, fake_analysis(5, 0.1, 0.9))
    with pytest.raises(ValueError, match="n_truth"):
        stub_eval.pore_table()


# ------------------------------------------------------------------------------ sphericity statistics
def test_sphericity_statistics_by_hand():
    s = sphericity_statistics(np.array([0.9, 0.95, 1.0, 0.97]))
    assert s["count"] == 4 and type(s["count"]) is int
    assert s["mean"] == pytest.approx(0.955)
    # squared deviations from the mean: 0.055², 0.005², 0.045², 0.015², summing to 0.0053
    assert s["std"] == pytest.approx(math.sqrt(0.0053 / 3))
    assert s["min"] == 0.9 and s["median"] == pytest.approx(0.96)
    one = sphericity_statistics([0.8])
    assert one["count"] == 1 and one["mean"] == 0.8 and math.isnan(one["std"]) and one["median"] == 0.8
    none = sphericity_statistics([])
    assert none["count"] == 0 and all(math.isnan(none[k]) for k in ("mean", "std", "min", "median"))
    with pytest.raises(ValueError, match="NaN"):
        sphericity_statistics([0.9, np.nan])


SPHERES = [(12.3, 12.0, 12.6, 5.0), (12.0, 34.4, 34.0, 7.0), (34.0, 20.0, 30.3, 9.0)]


@pytest.fixture(scope="module")
def sphere_analyses() -> tuple[PoreAnalysis, PoreAnalysis]:
    """Pore analyses of 48³ images with the three voids of ``SPHERES`` (truth) and without the last."""
    truth = sphere_image((48, 48, 48), SPHERES)
    fewer = sphere_image((48, 48, 48), SPHERES[:2])
    mask = np.ones(truth.shape, dtype=bool)
    cfg = PoreAnalysisConfig(surface_margin_um=0.0)
    return analyse_pores(truth, mask, config=cfg), analyse_pores(fewer, mask, config=cfg)


def test_sphericity_statistics_of_sphere_images(sphere_analyses):
    truth, _ = sphere_analyses
    assert truth.n_pores == 3
    volume = sum(4 / 3 * math.pi * r**3 for *_, r in SPHERES)
    assert truth.porosity == pytest.approx(volume / 48**3, rel=0.03)
    s = sphericity_statistics(truth.table["sphericity"].to_numpy())
    assert s["count"] == 3
    assert s["mean"] == pytest.approx(truth.mean_sphericity, rel=1e-12)
    assert 0.95 <= s["min"] <= s["median"] <= 1.0  # voxelized spheres of r = 5-9 voxels: Ψ ≈ 0.98-0.99
    assert s["mean"] >= 0.97 and s["std"] < 0.03


def test_tables_of_sphere_images(stub_eval, sphere_analyses):
    truth, fewer = sphere_analyses
    stub_pores(stub_eval, {(m, None): truth for m in ("gt", "phantom", "hres")}, default=fewer)
    table = stub_eval.pore_table()
    r = table[(table.image == "deepnet") & (table.sigma_um == 5.0)].iloc[0]
    assert r.n_pores == 2 and r.recovery_pct == pytest.approx(100 * 2 / 3)
    kept = sum(r_**3 for *_, r_ in SPHERES[:2]) / sum(r_**3 for *_, r_ in SPHERES)
    assert r.porosity_error_pct == pytest.approx(100 * (kept - 1), abs=1.0)  # voxelization: about 1 %
    assert r.sphericity_error_pct == pytest.approx(
        100 * (fewer.table.sphericity.mean() / truth.table.sphericity.mean() - 1), rel=1e-9
    )
    stats = stub_eval.sphericity_table()
    assert list(stats.columns) == [
        "realization",
        "image",
        "sigma_um",
        "count",
        "mean",
        "std",
        "min",
        "median",
        "n_sphericity_clipped",
    ]
    assert stats["count"].tolist() == [3, 3, 3] + [2] * (len(SIGMAS) * len(PORE_METHODS))


def test_sphericity_table_matches_the_former_notebook_aggregation(stub_eval):
    analyses = {
        ("gt", None): fake_analysis(4, 0.25, 0.955, [0.9, 0.95, 1.0, 0.97], clipped=1),
        ("fdk", 3.0): fake_analysis(1, 0.1, 0.8, [0.8]),
        ("srcnn", 7.0): fake_analysis(0, 0.0, math.nan, []),
    }
    stub_pores(stub_eval, analyses, default=fake_analysis(3, 0.2, 0.9, [0.85, 0.9, 0.95], clipped=2))
    stats = stub_eval.sphericity_table("alternate")
    gt = stats.iloc[0]
    assert (gt.image, gt["count"], gt.n_sphericity_clipped) == ("gt", 4, 1)
    assert gt["std"] == pytest.approx(math.sqrt(0.0053 / 3)) and gt["median"] == pytest.approx(0.96)
    empty = stats[(stats.image == "srcnn") & (stats.sigma_um == 7.0)].iloc[0]
    assert empty["count"] == 0 and math.isnan(empty["mean"])  # kept, unlike a groupby of the pores
    # what notebook 08 computed with pandas, for every image with pores
    sizes = stub_eval.pore_sizes("alternate")
    old = (
        sizes.groupby(["realization", "image", "sigma_um"], dropna=False, sort=False)["sphericity"]
        .agg(["count", "mean", "std", "min", "median"])
        .reset_index()
    )
    new = stats[stats["count"] > 0].drop(columns="n_sphericity_clipped").reset_index(drop=True)
    pd.testing.assert_frame_equal(new, old, check_dtype=False)


# ------------------------------------------------------------------------------ size histograms
def test_size_histogram_table_shares_bins_across_groups():
    sizes = pd.DataFrame(
        {
            "image": ["gt", "gt", "gt", "fdk", "fdk"],
            "sigma_um": [np.nan, np.nan, np.nan, 3.0, 3.0],
            "diameter_um": [1.0, 4.9, 20.0, 5.0, 12.0],
        }
    )
    hist = size_histogram_table(sizes, ["image", "sigma_um"], bin_um=5.0)
    assert list(hist.columns) == ["image", "sigma_um", "bin_um", "count"]
    gt = hist[hist.image == "gt"]
    assert gt.bin_um.tolist() == [0.0, 5.0, 10.0, 15.0] and gt["count"].tolist() == [2, 0, 0, 1]
    assert gt.sigma_um.isna().all()  # NaN σ (the ground truth) is a group of its own
    fdk = hist[hist.image == "fdk"]
    assert fdk.bin_um.tolist() == [0.0, 5.0, 10.0, 15.0] and fdk["count"].tolist() == [0, 1, 1, 0]
    assert hist["count"].sum() == len(sizes)  # 20.0 is in the last bin (closed on the right)
    empty = size_histogram_table(sizes.iloc[:0], ["image", "sigma_um"])
    assert len(empty) == 0 and list(empty.columns) == ["image", "sigma_um", "bin_um", "count"]


# ------------------------------------------------------------------------------ slices
def test_slice_table_by_hand(stub_eval):
    shape = stub_eval.profile.volume.shape
    entries = [(m, s) for m in SCORED_METHODS for s in SIGMAS]
    offsets = {key: 0.01 * (k + 1) for k, key in enumerate(entries)}

    def image(method, sigma_um=None, realization=None):
        vol = np.zeros(shape, dtype=np.float32)
        if method != "gt":
            vol += offsets[(method, sigma_um)]
            vol[:, 0, 0] = 50.0  # outside the foam: must not count
            vol[33] = 7.0  # another slice: must not count
        return vol

    stub_eval.image = image
    index = shape[0] // 2
    slices = stub_eval.central_slices()
    assert list(slices) == [("gt", None)] + list(offsets)
    table = stub_eval.slice_table(slices, index)
    assert list(table.columns) == ["image", "sigma_um", "slice", "slice_mse"]
    assert len(table) == len(offsets) and (table["slice"] == index).all()
    for r in table.itertuples():
        c = float(np.float32(offsets[(r.image, r.sigma_um)]))
        assert r.slice_mse == pytest.approx(c**2, rel=1e-6)


# ------------------------------------------------------------------------------ effective resolution
def test_curve_minimum_on_known_curves():
    sigmas = np.round(np.arange(0.0, 3.01, 0.25), 10)
    best = curve_minimum(sigmas, (sigmas - 1.5) ** 2 + 0.1)
    assert (best.index, best.sigma, best.at_grid_edge) == (6, 1.5, False)
    assert best.fwhm == FWHM_PER_SIGMA * 1.5 == pytest.approx(1.5 * 2.3548, rel=1e-4)
    assert best.mse == pytest.approx(0.1)
    edge = curve_minimum(sigmas, -sigmas)  # still descending at the largest σ
    assert edge.at_grid_edge and edge.sigma == 3.0
    first = curve_minimum(sigmas, sigmas)  # σ = 0 is the grid's start, not a truncation
    assert first.sigma == 0.0 and first.fwhm == 0.0 and not first.at_grid_edge
    tie = curve_minimum([1.0, 2.0, 3.0], [0.5, 0.2, 0.2])
    assert tie.index == 1  # the first of equal minima, as numpy's argmin
    with pytest.raises(ValueError, match="does not match"):
        curve_minimum(sigmas, sigmas[:-1])
    with pytest.raises(ValueError, match="NaN"):
        curve_minimum([1.0, 2.0], [0.1, np.nan])
    with pytest.raises(ValueError, match="increasing"):
        curve_minimum([2.0, 1.0], [0.1, 0.2])


def _former_effective_resolution(curves: pd.DataFrame) -> pd.DataFrame:
    """StudyAEvaluation.effective_resolution before it called curve_minimum, for the regression check."""
    rows = []
    for (image, sigma), g in curves.groupby(["image", "sigma_um"], dropna=False, sort=False):
        i = int(np.argmin(g["mse"].to_numpy()))
        best = float(g["blur_um"].to_numpy()[i])
        rows.append(
            {
                "image": image,
                "sigma_um": sigma,
                "effective_sigma_um": best,
                "effective_fwhm_um": best * 2.0 * math.sqrt(2.0 * math.log(2.0)),
                "mse_at_best": float(g["mse"].to_numpy()[i]),
                "at_grid_edge": i == len(g) - 1,
            }
        )
    return pd.DataFrame(rows)


def test_effective_resolution_of_known_blurs_in_um(stub_eval):
    """Volumes blurred by σ = 1.5 voxels of 2 µm: an effective resolution of 3 µm."""
    voxel_um = 2.0
    rng = np.random.default_rng(3)
    truth = gaussian_filter(rng.random((32, 32, 32)), 1.0)
    truth = (truth - truth.min()) / np.ptp(truth)
    fit_um = np.round(np.arange(0.0, 6.0001, 0.2), 10)  # the grid in µm, as profile.evaluation gives it
    entries = {
        ("hres", None): truth,
        ("fdk", 3.0): gaussian_filter(truth, 1.5),
        ("deepnet", 3.0): gaussian_filter(truth, 5.0),
    }  # beyond the grid's 3 voxels
    fit = gaussian_fit(
        {f"{m}|{s}": v for (m, s), v in entries.items()},
        truth,
        sigmas=fit_um / voxel_um,
        mask=cylinder_mask(truth.shape, 13),
        device="cpu",
    )
    rows = []  # the long table of StudyAEvaluation.gaussian_fit
    for m, s in entries:
        rows += [
            {"image": m, "sigma_um": math.nan if s is None else s, "blur_um": b, "mse": float(e)}
            for b, e in zip(fit_um, fit.mse[f"{m}|{s}"], strict=True)
        ]
    curves = pd.DataFrame(rows)
    stub_eval.gaussian_fit = lambda realization=None: curves
    table = stub_eval.effective_resolution()
    assert list(table.columns) == [
        "image",
        "sigma_um",
        "effective_sigma_um",
        "effective_fwhm_um",
        "mse_at_best",
        "at_grid_edge",
    ]
    fdk = table[table.image == "fdk"].iloc[0]
    assert fdk.effective_sigma_um == pytest.approx(3.0, abs=1e-9)
    assert fdk.effective_fwhm_um == pytest.approx(3.0 * FWHM_PER_SIGMA, abs=1e-9)
    assert fdk.effective_sigma_um == pytest.approx(voxel_um * fit.best_sigma["fdk|3.0"], rel=1e-12)
    assert fdk.effective_fwhm_um == pytest.approx(voxel_um * fit.fwhm("fdk|3.0"), rel=1e-12)
    assert not fdk.at_grid_edge and fdk.mse_at_best == pytest.approx(fit.mse["fdk|3.0"].min())
    hres = table[table.image == "hres"].iloc[0]
    assert hres.effective_sigma_um == 0.0 and math.isnan(hres.sigma_um) and hres.mse_at_best == 0.0
    deep = table[table.image == "deepnet"].iloc[0]
    assert deep.at_grid_edge and deep.effective_sigma_um == 6.0
    pd.testing.assert_frame_equal(table, _former_effective_resolution(curves))  # same columns and values


# ------------------------------------------------------------------------------ MS-SSIM
def _ref_downsample(a: np.ndarray) -> np.ndarray:
    """2×2×2 block mean after repeating the last slice of every odd side."""
    a = np.pad(a, [(0, n % 2) for n in a.shape], mode="edge")
    z, y, x = a.shape
    return a.reshape(z // 2, 2, y // 2, 2, x // 2, 2).mean(axis=(1, 3, 5))


def _ref_ssim_terms(x: np.ndarray, y: np.ndarray, c1: float, c2: float, full: bool) -> np.ndarray:
    """Contrast·structure (times luminance when ``full``) with Gaussian-window statistics."""

    def g(a):
        return gaussian_filter(a, sigma=1.5, truncate=3.5, mode="reflect")

    mx, my = g(x), g(y)
    vx, vy, cxy = g(x * x) - mx**2, g(y * y) - my**2, g(x * y) - mx * my
    out = (2 * cxy + c2) / (vx + vy + c2)
    if full:
        out = out * (2 * mx * my + c1) / (mx**2 + my**2 + c1)
    return out


@pytest.mark.parametrize("masked", [False, True])
def test_ms_ssim_maps_match_a_reference_implementation(masked):
    rng = np.random.default_rng(11)
    truth = gaussian_filter(rng.random((36, 34, 33)), 1.2)  # odd sides exercise the edge padding
    truth = (truth - truth.min()) / np.ptp(truth)
    result = gaussian_filter(truth, 0.8) + 0.05 * rng.standard_normal(truth.shape)
    mask = cylinder_mask(truth.shape, 14) if masked else None
    ms = ms_ssim_3d(result, truth, data_range=1.0, scales=3, sigma=1.5, mask=mask)

    c1, c2 = 0.01**2, 0.03**2
    weights = np.array([0.0448, 0.2856, 0.3001]) / (0.0448 + 0.2856 + 0.3001)
    x, y = result.astype(np.float64), truth.astype(np.float64)
    m = None if mask is None else np.broadcast_to(mask, truth.shape).astype(np.float64)
    means = []
    assert len(ms.maps) == 3
    for j in range(3):
        if j:
            x, y = _ref_downsample(x), _ref_downsample(y)
            m = None if m is None else (_ref_downsample(m) >= 0.5).astype(np.float64)
        ref = _ref_ssim_terms(x, y, c1, c2, full=j == 2)
        assert ms.maps[j].shape == ref.shape
        np.testing.assert_allclose(ms.maps[j], ref, rtol=1e-9, atol=1e-12, err_msg=f"scale {j + 1}")
        means.append(ref.mean() if m is None else ref[m.astype(bool)].mean())
    assert [mp.shape for mp in ms.maps] == [(36, 34, 33), (18, 17, 17), (9, 9, 9)]
    np.testing.assert_allclose(ms.scale_means, means, rtol=1e-10)
    np.testing.assert_allclose(ms.weights, weights, rtol=1e-12)
    assert ms.score == pytest.approx(float(np.prod(np.maximum(means, 0.0) ** weights)), rel=1e-10)
    assert 0.0 < ms.score < 1.0


def test_quality_table_against_either_reference(stub_eval):
    calls = []

    def quality(method, sigma_um=None, realization=None, truth="gt"):
        calls.append((method, sigma_um, truth))
        return {"mse": 0.01, "psnr": 20.0, "ssim": 0.5 if truth == "gt" else 0.4}

    stub_eval.quality = quality
    vs_gt = stub_eval.quality_table("alternate")
    assert list(vs_gt.image[:2]) == ["phantom", "hres"]
    assert len(vs_gt) == 2 + len(SIGMAS) * len(SCORED_METHODS)
    assert math.isnan(vs_gt.sigma_um[0]) and vs_gt.sigma_um[1] == 1.0
    vs_phantom = stub_eval.quality_table("alternate", truth="phantom")
    assert list(vs_phantom.image[:2]) == ["gt", "hres"] and (vs_phantom.ssim == 0.4).all()
    assert {c[2] for c in calls} == {"gt", "phantom"}


# ------------------------------------------------------------------------------ parallel pore analysis
def test_prefetch_pores_fills_the_cache_with_one_by_one_results(tmp_path):
    """``prefetch_pores`` (2 processes) caches what ``pores()`` would build itself, image by image."""
    from xrsr_lib.io.cache import Cache

    profile = load_profile("smoke")
    evaluation = profile.evaluation.model_copy(update={"pore_workers": 2})
    profile = profile.model_copy(update={"evaluation": evaluation})
    n = profile.volume.n_voxels
    voids = {
        ("gt", None): [(32, 32, 32, 8)],
        ("fdk", 3.0): [(32, 32, 32, 7), (20, 40, 30, 5)],
        ("deepnet", 3.0): [(32, 24, 32, 6)],
    }
    images = {k: sphere_image((n, n, n), v) for k, v in voids.items()}

    def make_eval(cache_dir):
        study = SimpleNamespace(profile=profile, cache=Cache(cache_dir), data=None)
        ev = StudyAEvaluation(study, progress=False)
        ev._image_params = lambda m, s, r: {"image": m, "sigma_um": s, "realization": r}
        ev.image = lambda m, s=None, r=None: images[(m, s)]
        return ev

    ev = make_eval(tmp_path / "parallel")
    assert ev.prefetch_pores(list(images)) == 3
    assert ev.prefetch_pores(list(images)) == 0  # all cached now

    def no_image(*_args, **_kwargs):
        raise AssertionError("pores() re-analysed an image that prefetch_pores cached")

    ev.image = no_image
    one_by_one = make_eval(tmp_path / "sequential")  # pores() builds each image itself
    for key in images:
        got, want = ev.pores(*key), one_by_one.pores(*key)
        assert got.summary() == want.summary()
        pd.testing.assert_frame_equal(got.table, want.table)
    assert [ev.pores(*k).n_pores for k in images] == [1, 2, 1]
