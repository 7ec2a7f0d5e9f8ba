"""The docs' result tables: rendered from the committed CSV files of a run, with known answers."""

import importlib.util
import math
from pathlib import Path

import pandas as pd
import pytest

from xrsr_lib.studies.report import (
    claims_table,
    render_tables,
    replace_blocks,
    seed_table,
    study_a_table,
    timings_table,
)

REPO = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("publish_results", REPO / "scripts" / "publish_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_docs_tables_are_those_of_the_committed_run():
    data = REPO / "docs" / "data" / "cpu"
    assert (data / "summary_measured.csv").exists(), "docs/data/cpu holds the published run's CSV files"
    assert _script().stale_pages(data) == []
    # every table rendered from the data appears in some page
    text = "".join(p.read_text() for p in _script().pages())
    for name in render_tables(data):
        assert f"<!-- table:{name} -->" in text, f"table {name} is published nowhere"


def test_a_changed_number_makes_a_page_stale(tmp_path):
    data = REPO / "docs" / "data" / "cpu"
    copy = tmp_path / "cpu"
    copy.mkdir()
    for f in data.glob("*.csv"):
        (copy / f.name).write_bytes(f.read_bytes())
    m = pd.read_csv(copy / "summary_measured.csv")
    m.loc[m["image"] == "deepnet", "psnr"] += 1.0
    m.to_csv(copy / "summary_measured.csv", index=False)
    assert any("study_a" in line for line in _script().stale_pages(copy))


def _measured():
    rows = []
    for image, psnr, ssim, rec, por, eff in (
        ("fdk", 15.0, 0.3, 90.0, -1.0, 3.0),
        ("rl", 18.0, 0.5, 95.0, 5.0, 1.5),
        ("rl_nlm", 19.0, 0.6, 96.0, 4.0, 1.6),
        ("srcnn", 21.0, 0.7, 93.0, -2.0, 1.3),
        ("deepnet", 22.0, 0.65, 97.0, 0.5, 1.0),
    ):
        rows.append(
            {
                "image": image,
                "sigma_um": 3.0,
                "psnr": psnr,
                "ssim": ssim,
                "recovery_pct": rec,
                "abs_recovery_error_pct": 100 - rec,
                "porosity_error_pct": por,
                "abs_porosity_error_pct": abs(por),
                "effective_sigma_um": eff,
            }
        )
    rows.append({"image": "gt", "sigma_um": math.nan})
    rows.append({"image": "hres", "sigma_um": 1.0, "psnr": 30.0})  # the 1 µm scan is no input row
    return pd.DataFrame(rows)


def test_study_a_table_bolds_the_best_method_not_the_input():
    text = study_a_table(_measured())
    lines = {line.split("|")[2].strip(): line for line in text.splitlines()[2:]}
    assert "**22.0**" in lines["PSNR / dB"] and "**0.700**" in lines["SSIM"]  # SRCNN's SSIM
    assert "**97.0**" in lines["pores recovered / %"] and "**+0.5**" in lines["porosity error / %"]
    assert "**1.0**" in lines["effective σ / µm"] and "**3.0**" not in lines["effective σ / µm"]
    assert "−2.0" in lines["porosity error / %"]  # a real minus sign
    assert "1 µm" not in text
    # a tie at the shown precision bolds both
    tied = _measured()
    tied.loc[tied["image"] == "rl_nlm", ["recovery_pct", "abs_recovery_error_pct"]] = [97.0, 3.0]
    line = [x for x in study_a_table(tied).splitlines() if "pores recovered" in x][0]
    assert line.count("**97.0**") == 2


def test_claims_table_counts_what_holds():
    comparison = pd.DataFrame(
        [
            {
                "image": "deepnet",
                "sigma_um": 3.0,
                "quantity": "recovery_pct",
                "measured": 97.0,
                "paper": "> 95 % of the pores",
                "agrees": "yes",
            },
            {
                "image": "srcnn",
                "sigma_um": 9.0,
                "quantity": "recovery_pct",
                "measured": 40.0,
                "paper": "about 60 % of the pores",
                "agrees": "no",
            },
            {
                "image": "gt",
                "sigma_um": math.nan,
                "quantity": "n_pores",
                "measured": 160.0,
                "paper": "1,380 pores",
                "agrees": "n/a (compare on paper)",
            },
            {
                "image": "order",
                "sigma_um": 3.0,
                "quantity": "ssim",
                "measured": math.nan,
                "paper": "DeepNet > SRCNN > RL",
                "agrees": "no (srcnn > deepnet > rl)",
            },
        ]
    )
    text = claims_table(comparison)
    assert text.endswith("\n1 of 3 statements hold.\n")
    assert "| order in SSIM | 3 µm | DeepNet > SRCNN > RL | srcnn > deepnet > rl | **no** |" in text
    assert "| SRCNN: pores recovered / % | 9 µm | about 60 % of the pores | 40.0 | **no** |" in text


def test_seed_and_timing_tables():
    spread = pd.DataFrame(
        [
            {"method": m, "sigma_um": 3.0, "metric": "psnr", "mean": v, "sd": 0.25, "n": 3}
            for m, v in (("deepnet", 22.0), ("srcnn", 21.0))
        ]
    )
    diff = pd.DataFrame([{"sigma_um": 3.0, "metric": "psnr", "difference": 1.0, "p_value": 0.0123}])
    text = seed_table(spread, diff)
    assert "| 3 µm | PSNR / dB | 22.00 ± 0.25 | 21.00 ± 0.25 | +1.00, p = 0.012 | 3 |" in text
    runs = [
        "01_a.ipynb",
        "02_b.ipynb (method=deepnet sigma=3.0)",
        "02_b.ipynb (method=srcnn sigma=3.0)",
        "total",
    ]  # total: the run's wall time
    timings = pd.DataFrame({"notebook": runs, "seconds": [60.0, 120.0, 30.0, 216.0]})
    text = timings_table(timings)
    assert "| 01_a | 1.0 |  |" in text and "| 02_b | 2.5 | 2 |" in text
    assert "| **total** | **3.6** |  |" in text and "| total |" not in text


def test_replace_blocks():
    page = "a\n<!-- table:x -->\nold\n<!-- /table:x -->\nb\n"
    new, names = replace_blocks(page, {"x": "| new |\n"})
    assert new == "a\n<!-- table:x -->\n| new |\n<!-- /table:x -->\nb\n" and names == ["x"]
    assert replace_blocks(new, {"x": "| new |\n"})[0] == new  # idempotent
    with pytest.raises(KeyError, match="README.md: no table 'x'"):
        replace_blocks(page, {}, source="README.md")
