"""The notebooks are clean parameterized sources, and run_all.sh regenerates every figure of the
``smoke`` profile end to end (every notebook, every figure, the summary table), headlessly."""

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from xrsr_lib.config import load_profile
from xrsr_lib.studies.study_a.reported import ORDER_METRICS, STUDY_A_REPORTED

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))

#: every figure of study A that run_all.sh must produce (PNG and PDF each)
FIGURES = [
    # the walk-through on one's own scans (notebook 00, not a figure of the paper)
    "fig00_own_data",
    "fig01_training_images",
    "fig02_deepnet_training_vs_alternate",
    "fig03_image_quality",
    "fig04_central_slices",
    "fig05_pore_recovery",
    "fig06_porosity_psd",
    "fig07_sphericity",
    "fig08_msssim_maps",
    "fig09_gaussian_fit",
    # the multiscale workflow (study A, Figures 10-12)
    "fig10_multiscale_scans",
    "fig11_multiscale_chain",
    "fig12_multiscale_quantitative",
    # trust maps (beside Figure 8)
    "fig16_trust_maps",
    # seed spread of the learned methods
    "fig17_seed_spread",
    # study B
    "b_fig10_nanoct_data",
    "b_fig10_utsr_training",
    "b_fig11_utsr_comparison",
    "b_fig12_utsr_examples",
]
TABLES = [
    "fig00_own_data.csv",
    "fig02_psnr.csv",
    "fig03_image_quality.csv",
    "fig04_slices.csv",
    "fig05_pore_recovery.csv",
    "fig05_ground_truth_check.csv",
    "fig06_porosity.csv",
    "fig06_pore_size_histograms.csv",
    "fig07_sphericity.csv",
    "fig08_msssim.csv",
    "fig09_gaussian_fit_curves.csv",
    "fig09_effective_resolution.csv",
    "summary_measured.csv",
    "fig17_seed_scores.csv",
    "fig17_seed_spread.csv",
    "fig17_deepnet_minus_srcnn.csv",
    "summary_vs_paper.csv",
    "summary.csv",
    "summary.md",
    "fig10_registration.csv",
    "fig12_multiscale_scores.csv",
    "fig12_pore_size_histograms.csv",
    "fig12_lfov_scores.csv",
    "fig16_trust_signals.csv",
    "fig16_trust_pores.csv",
    # study B
    "b_fig10_training.csv",
    "b_fig11_comparison.csv",
    "b_fig11_ablation.csv",
    "b_fig11_segmentation.csv",
    "b_fig11_paper_size_cost.csv",
    "b_fig11_vs_paper.csv",
    "study_b_summary.md",
]


def _env(tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "XRSR_CACHE": str(tmp / "cache"),
        "XRSR_FIGURES": str(tmp / "figures"),
        "XRSR_SKIP_BOOTSTRAP": "1",  # use this interpreter's environment
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def test_every_notebook_has_a_parameters_cell_and_no_outputs():
    # 00 (the walk-through on one's own data) to NN, with no gap
    assert [p.name[:2] for p in NOTEBOOKS] == [f"{i:02d}" for i in range(len(NOTEBOOKS))]
    assert len(NOTEBOOKS) >= 10
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
        assert "profile" in tagged[0].source, f"{path.name}: parameters cell must define `profile`"
        for c in nb.cells:
            if c.cell_type == "code":
                assert not c.outputs and c.execution_count is None, f"{path.name}: outputs committed"


def test_run_all_rejects_bad_options():
    proc = subprocess.run(
        ["bash", str(REPO / "run_all.sh"), "--profile", "huge"],
        capture_output=True,
        text=True,
        env={**os.environ, "XRSR_SKIP_BOOTSTRAP": "1"},
    )
    assert proc.returncode == 2 and "unknown profile 'huge'" in proc.stderr
    for bad in ("0", "x", "-1"):
        proc = subprocess.run(
            ["bash", str(REPO / "run_all.sh"), "--profile", "smoke", "--seeds", bad],
            capture_output=True,
            text=True,
            env={**os.environ, "XRSR_SKIP_BOOTSTRAP": "1"},
        )
        assert proc.returncode == 2 and f"--seeds must be a whole number >= 1, got '{bad}'" in proc.stderr


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ("raise RuntimeError('boom')", ["at code cell 4", "RuntimeError: boom"]),  # papermill adds a cell
        # the kernel dies (as when the system kills it for memory): no cell holds the error
        ("import os\nos._exit(1)", ["at an unknown cell (DeadKernelError"]),
    ],
    ids=["error", "dead-kernel"],
)
def test_run_all_names_the_failing_notebook_and_cell(tmp_path, step, expected):
    work = tmp_path / "repo"
    (work / "notebooks").mkdir(parents=True)
    shutil.copy(REPO / "run_all.sh", work / "run_all.sh")
    (work / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "run_notebooks.py", work / "scripts" / "run_notebooks.py")
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = new_code_cell('profile = "smoke"\nfigure_dir = None')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        params,
        new_code_cell("x = 1"),
        new_code_cell(f"# the broken step\n{step}"),
        new_code_cell("y = 2"),
    ]
    nbformat.write(nb, work / "notebooks" / "01_broken.ipynb")
    nbformat.write(new_notebook(cells=[params]), work / "notebooks" / "02_never.ipynb")
    proc = subprocess.run(
        ["bash", "run_all.sh", "--profile", "smoke"],
        cwd=work,
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=300,
    )
    assert proc.returncode == 1
    for text in expected:
        assert f"FAILED in 01_broken.ipynb {expected[0]}" in proc.stderr and text in proc.stderr
    assert "run_all.sh: the executed notebook, with " in proc.stderr
    assert "02_never" not in proc.stdout  # stops at the first failure


_VERDICT = re.compile(r"yes|no|n/a \(compare on .+\)|n/a \(not measured\)")
_ORDER_VERDICT = re.compile(r"(yes|no) \(\w+ > \w+ > \w+\)")


def _check_verdicts(rows: list[dict[str, str]], profile: str) -> None:
    """Every row of summary_vs_paper.csv has a verdict, not merely a non-empty string: a statement
    ``yes``/``no`` (with its measured value), ``n/a (compare on P)`` for another profile's statement
    or ``n/a (not measured)``; an ordering row ``yes``/``no`` with the measured order (always for
    MSE, PSNR and SSIM)."""
    for r in rows:
        verdict = r["agrees"]
        where = f"{r['image']} {r['quantity']} at σ = {r['sigma_um']}: agrees = {verdict!r}"
        if r["image"] == "order":  # image metrics are always measured; pore metrics may not be
            unmeasured = r["quantity"] not in ("mse", "psnr", "ssim") and verdict == "n/a (not measured)"
            assert _ORDER_VERDICT.fullmatch(verdict) or unmeasured, where
            continue
        assert _VERDICT.fullmatch(verdict), where
        assert not verdict.startswith("n/a (compare on") or profile not in verdict, where
        if verdict in ("yes", "no"):
            assert r["measured"] not in ("", "nan"), where


def test_the_verdict_check_tells_values_apart():
    """The end-to-end test's check of ``agrees`` tests values, not truthy strings."""
    good = [
        {"image": "deepnet", "quantity": "psnr", "sigma_um": "1.0", "measured": "31.2", "agrees": "no"},
        {
            "image": "order",
            "quantity": "ssim",
            "sigma_um": "1.0",
            "measured": "nan",
            "agrees": "yes (deepnet > srcnn > rl)",
        },
        {
            "image": "fdk",
            "quantity": "pores",
            "sigma_um": "",
            "measured": "nan",
            "agrees": "n/a (compare on paper)",
        },
    ]
    _check_verdicts(good, "smoke")
    for bad in ("", "False", "maybe", "n/a (compare on smoke)"):
        with pytest.raises(AssertionError):
            _check_verdicts([{**good[0], "agrees": bad}], "smoke")
    for bad in ("yes", "n/a (not measured)", "True"):
        with pytest.raises(AssertionError):
            _check_verdicts([{**good[1], "agrees": bad}], "smoke")
    with pytest.raises(AssertionError):  # a verdict on a value that was not measured
        _check_verdicts([{**good[0], "measured": "nan"}], "smoke")


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_run_all_smoke_end_to_end(tmp_path):
    """The whole smoke profile: every notebook, every figure file exists and is non-empty, the
    summary table has every row; a second run of a figure notebook only reads the cache."""
    env = _env(tmp_path)
    proc = subprocess.run(
        ["bash", "run_all.sh", "--profile", "smoke"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=1400,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    out = tmp_path / "figures" / "smoke"
    for name in FIGURES:
        for ext in (".png", ".pdf"):
            f = out / f"{name}{ext}"
            assert f.exists() and f.stat().st_size > 2000, f"{f.name} missing or empty"
    for name in TABLES:
        assert (out / name).exists() and (out / name).stat().st_size > 0, f"{name} missing or empty"
    profile = load_profile("smoke")
    executed = sorted(p.name for p in (out / "executed").glob("*.ipynb"))
    n_runs_02 = 2 * len(profile.degrade.lres_sigmas_um)  # every other notebook, 00 included, runs once
    assert len(executed) == len(NOTEBOOKS) - 1 + n_runs_02
    assert "00_own_data.ipynb" in executed  # the walk-through on one's own data ran too
    for p in (out / "executed").glob("*.ipynb"):
        nb = nbformat.read(p, as_version=4)
        assert not any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))

    # the summary beside the paper has one row per statement and σ, plus the ordering rows
    rows = list(csv.DictReader((out / "summary_vs_paper.csv").open()))
    expected = sum(len(r.sigmas_um) or 1 for r in STUDY_A_REPORTED)
    expected += len(ORDER_METRICS) * len(profile.degrade.lres_sigmas_um)
    assert len(rows) == expected
    _check_verdicts(rows, "smoke")
    measured = list(csv.DictReader((out / "summary_measured.csv").open()))
    n_methods = 5  # fdk, rl, rl_nlm, srcnn, deepnet
    # + gt (dense-view FDK), the exact phantom, hres
    assert len(measured) == 3 + n_methods * len(profile.degrade.lres_sigmas_um)
    assert {"ssim_vs_phantom", "psnr_vs_phantom"} <= set(measured[0])
    assert "## Beside the paper" in (out / "summary.md").read_text()
    # study B: one row per scale and method, the ablations at their scale, the abstract's numbers
    b = profile.study_b
    comparison = list(csv.DictReader((out / "b_fig11_comparison.csv").open()))
    assert [(int(r["scale"]), r["method"]) for r in comparison] == [
        (s, m) for s in b.scales for m in ("reference", "bicubic", "utsr", "swinir", "rrdbnet")
    ]
    ablation = list(csv.DictReader((out / "b_fig11_ablation.csv").open()))
    assert [r["method"] for r in ablation] == ["utsr", "utsr_mlp", "utsr_single_window", "utsr_finetune_only"]
    training = list(csv.DictReader((out / "b_fig10_training.csv").open()))
    assert len(training) == 3 * len(b.scales) + len(b.ablations)
    assert all(float(r["train_seconds"]) > 0 for r in training)
    # multiscale: both fine scans registered within half a fine voxel of the true pose, and every
    # image of the chain scored
    registration = list(csv.DictReader((out / "fig10_registration.csv").open()))
    assert [r["scan"] for r in registration] == ["mres", "hres"]
    assert float(registration[0]["error_voxels"]) < 0.5
    scores = list(csv.DictReader((out / "fig12_multiscale_scores.csv").open()))
    assert [r["image"] for r in scores] == ["lres", "lfov", "mres", "mres_3to1", "chain", "hres", "phantom"]
    timings = list(csv.DictReader((out / "run_all_timings.csv").open()))
    assert timings[-1]["notebook"] == "total" and int(timings[-1]["seconds"]) >= 0
    # every artifact the run wrote is in the recorded cache-key listing that tests/test_cache_keys.py
    # guards (a stage or key missing from scripts/cache_keys.py would change unnoticed)
    recorded = json.loads((REPO / "tests" / "data" / "cache_keys_smoke.json").read_text())
    stages = [d for d in (tmp_path / "cache").iterdir() if d.is_dir()]
    assert len(stages) >= 20
    for stage in stages:
        unlisted = {p.stem for p in stage.glob("*.json")} - set(recorded.get(stage.name, []))
        assert not unlisted, f"cache stage {stage.name}: keys not in the listing: {sorted(unlisted)}"

    # re-running a figure notebook reuses every cached score (study A and study B)
    for only in ("04_", "12_", "15_"):
        again = subprocess.run(
            ["bash", "run_all.sh", "--profile", "smoke", "--only", only],
            cwd=REPO,
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert again.returncode == 0, again.stderr[-3000:]
        log = again.stdout + again.stderr
        assert "cache hit" in log and "cache miss" not in log, only
