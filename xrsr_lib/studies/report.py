"""The result tables of the docs, rendered from a run's CSV files so that they cannot go stale.

``scripts/publish_results.py`` copies the CSV files a run wrote (:data:`RESULT_FILES`, from
``figures/<profile>/``) into ``docs/data/<profile>/`` and rewrites every marked block of the docs::

    <!-- table:study_a -->
    ...rendered from the CSV files; never edited by hand...
    <!-- /table:study_a -->

:func:`render_tables` turns the copied files into the blocks' markdown, and
:func:`replace_blocks` puts them into a page; ``tests/test_report.py`` renders the committed CSV
files again and fails when a page's block differs from them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd

__all__ = [
    "RESULT_FILES",
    "claims_count",
    "claims_table",
    "render_tables",
    "replace_blocks",
    "seed_table",
    "study_a_table",
    "timings_table",
    "trust_pores_table",
    "trust_signal_table",
]

#: The CSV files of a run (``figures/<profile>/``) the docs' tables are rendered from.
RESULT_FILES = (
    "summary_measured.csv",
    "summary_vs_paper.csv",
    "fig16_trust_signals.csv",
    "fig16_trust_pores.csv",
    "fig17_seed_spread.csv",
    "fig17_deepnet_minus_srcnn.csv",
    "run_all_timings.csv",
)

_LABELS = {
    "fdk": "FDK input",
    "rl": "RL",
    "rl_nlm": "RL + NLM",
    "srcnn": "SRCNN",
    "deepnet": "DeepNet",
    "gt": "ground truth",
    "hres": "1 µm scan",
    "order": "order",
}
_QUANTITIES = {
    "recovery_pct": "pores recovered / %",
    "porosity_error_pct": "porosity error / %",
    "sphericity_error_pct": "sphericity error / %",
    "mean_sphericity": "mean sphericity",
    "n_pores": "pores",
    "ssim": "SSIM",
    "psnr": "PSNR",
    "mse": "MSE",
    "abs_recovery_error_pct": "pore recovery",
    "abs_porosity_error_pct": "porosity error",
    "abs_sphericity_error_pct": "sphericity error",
    "effective_sigma_um": "effective σ",
}
_BLOCK = re.compile(r"(<!-- table:(?P<name>[a-z0-9_]+) -->\n)(?P<body>.*?)(<!-- /table:(?P=name) -->)", re.S)


def _f(value: float, digits: int, signed: bool = False) -> str:
    """Format a number with ``digits`` decimals ('–' when missing); ``signed`` shows + and the minus sign."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    text = f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
    return text.replace("-", "−")


def _md(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _row_cells(
    at: dict[str, pd.Series], methods: list[str], fmt: Callable[[pd.Series], str], key: str, better: str
) -> list[str]:
    """One table row: ``fmt`` of each method's row, the best method's (by ``key``) in bold."""
    scored = {m: float(at[m][key]) for m in at if m != "fdk" and pd.notna(at[m][key])}
    best: set[str] = set()
    if scored:  # the winner, and every method shown with the same value (a tie at the shown precision)
        winner = (max if better == "higher" else min)(scored, key=lambda m: scored[m])
        best = {m for m in scored if fmt(at[m]) == fmt(at[winner])}
    return ["–" if m not in at else f"**{fmt(at[m])}**" if m in best else fmt(at[m]) for m in methods]


def study_a_table(measured: pd.DataFrame, sigmas_um: tuple[float, ...] | None = None) -> str:
    """Study A per input σ: PSNR / SSIM, pore recovery and porosity error, effective σ per method.

    ``measured`` is notebook 10's ``summary_measured.csv`` (one row per image and σ); the best value
    of each row among the methods is bold (the FDK input is not a method).
    """
    methods = ["fdk", "rl", "rl_nlm", "srcnn", "deepnet"]
    inputs = measured[measured["image"] == "fdk"]["sigma_um"]  # the low-resolution inputs (not 1 µm)
    sig = sorted(inputs.dropna().unique()) if sigmas_um is None else list(sigmas_um)
    lines = (  # label, format, the column that ranks, better
        ("PSNR / dB", lambda r: _f(r["psnr"], 1), "psnr", "higher"),
        ("SSIM", lambda r: _f(r["ssim"], 3), "ssim", "higher"),
        ("pores recovered / %", lambda r: _f(r["recovery_pct"], 1), "abs_recovery_error_pct", "lower"),
        (
            "porosity error / %",
            lambda r: _f(r["porosity_error_pct"], 1, signed=True),
            "abs_porosity_error_pct",
            "lower",
        ),
        ("effective σ / µm", lambda r: _f(r["effective_sigma_um"], 1), "effective_sigma_um", "lower"),
    )
    rows = []
    for s in sig:
        rows_at = {m: measured[(measured["image"] == m) & (measured["sigma_um"] == s)] for m in methods}
        at = {m: r.iloc[0] for m, r in rows_at.items() if len(r)}
        for i, (label, fmt, key, better) in enumerate(lines):
            rows.append([f"{s:g} µm" if i == 0 else "", label, *_row_cells(at, methods, fmt, key, better)])
    return _md(["input σ", "", *(_LABELS[m] for m in methods)], rows)


def claims_table(comparison: pd.DataFrame) -> str:
    """Render each of study A's statements as a row, then a count of those that hold.

    A row holds what the paper says, what this run measured and whether it holds (notebook 10's
    ``summary_vs_paper.csv``).
    """
    rows = []
    for r in comparison.itertuples(index=False):
        sigma = "" if pd.isna(r.sigma_um) else f"{r.sigma_um:g} µm"
        agrees = str(r.agrees)
        if r.image == "order":
            ours = agrees.split("(", 1)[1].rstrip(")") if "(" in agrees else "–"
            verdict = agrees.split(" ", 1)[0]
            claim = f"order in {_QUANTITIES.get(r.quantity, r.quantity)}"
        else:
            x = float(r.measured)
            ours = _f(x, 3 if abs(x) < 10 else 1) if math.isfinite(x) else "–"
            verdict = agrees
            claim = f"{_LABELS.get(r.image, r.image)}: {_QUANTITIES.get(r.quantity, r.quantity)}"
        rows.append([claim, sigma, str(r.paper), ours, f"**{verdict}**" if verdict == "no" else verdict])
    table = _md(["claim", "σ", "paper", "this run", "holds"], rows)
    return table + f"\n{claims_count(comparison)}"


def claims_count(comparison: pd.DataFrame) -> str:
    """``"N of M statements hold."``: of study A's statements this run could judge (yes / no)."""
    verdicts = [str(a).split(" ", 1)[0] for a in comparison["agrees"]]
    judged = [v for v in verdicts if v in ("yes", "no")]
    return f"{judged.count('yes')} of {len(judged)} statements hold.\n"


def trust_signal_table(signals: pd.DataFrame) -> str:
    """Render notebook 16's ``fig16_trust_signals.csv`` as a table.

    Per (method, σ) and signal: AUROC of the worst 10 % errors, Spearman with |error|, coverage on the
    unseen realization and mean half-width.
    """
    rows = []
    for r in signals.itertuples(index=False):
        rows.append(
            [
                f"{_LABELS.get(r.method, r.method)} {r.sigma_um:g} µm",
                str(r.signal),
                _f(r.auroc_worst, 2),
                _f(r.spearman_abs_error, 2),
                f"{100 * r.coverage:.1f} %",
                _f(r.mean_halfwidth, 3),
                f"{r.n_doubtful}",
                _f(r.doubtful_precision, 2),
                _f(r.doubtful_recall, 2),
            ]
        )
    bar = "\\|"  # a | inside a markdown table cell
    return _md(
        [
            "method, σ",
            "signal",
            f"AUROC, worst 10 % {bar}error{bar}",
            f"Spearman with {bar}error{bar}",
            "coverage",
            "mean half-width",
            "doubtful pores",
            "precision",
            "recall",
        ],
        rows,
    )


def trust_pores_table(pores: pd.DataFrame) -> str:
    """Render notebook 16's ``fig16_trust_pores.csv`` as a table.

    Pores found, hallucinated and missed against the truth, and the share of the unseen realization's
    blocks outside the calibration's input domain.
    """
    rows = []
    for r in pores.itertuples(index=False):
        other = (
            "–"
            if pd.isna(r.out_of_domain_fraction_other_sigma)
            else (f"{100 * r.out_of_domain_fraction_other_sigma:.1f} % ({r.other_sigma:g} µm input)")
        )
        rows.append(
            [
                f"{_LABELS.get(r.method, r.method)} {r.sigma_um:g} µm",
                f"{r.n_pores} / {r.n_truth}",
                f"{r.n_hallucinated}",
                f"{r.n_missed}",
                f"{100 * r.out_of_domain_fraction:.1f} %",
                other,
            ]
        )
    return _md(
        [
            "method, σ",
            "pores (result / truth)",
            "hallucinated",
            "missed",
            "blocks out of domain",
            "out of domain, other σ",
        ],
        rows,
    )


def seed_table(spread: pd.DataFrame, difference: pd.DataFrame) -> str:
    """Notebook 17: mean ± sd over seeds per method and σ, and DeepNet − SRCNN with Welch's p."""
    units = {
        "recovery_pct": ("pores recovered / %", 1),
        "porosity_error_pct": ("porosity error / %", 1),
        "psnr": ("PSNR / dB", 2),
        "ssim": ("SSIM", 3),
    }
    rows = []
    for s in sorted(spread["sigma_um"].unique()):
        for metric, (label, d) in units.items():
            cell = {}
            for m in ("deepnet", "srcnn"):
                g = spread[(spread["sigma_um"] == s) & (spread["method"] == m) & (spread["metric"] == metric)]
                cell[m] = "–" if g.empty else f"{_f(g['mean'].iloc[0], d)} ± {_f(g['sd'].iloc[0], d)}"
            diff = difference[(difference["sigma_um"] == s) & (difference["metric"] == metric)]
            dtext = (
                "–"
                if diff.empty
                else (f"{_f(diff['difference'].iloc[0], d, signed=True)}, p = {diff['p_value'].iloc[0]:.2g}")
            )
            n = spread[(spread["sigma_um"] == s) & (spread["metric"] == metric)]["n"]
            if n.empty:
                continue
            rows.append([f"{s:g} µm", label, cell["deepnet"], cell["srcnn"], dtext, f"{int(n.min())}"])
    return _md(["σ", "", "DeepNet", "SRCNN", "difference, p", "seeds"], rows)


def timings_table(timings: pd.DataFrame) -> str:
    """Render ``run_all_timings.csv`` as a table: minutes per notebook and the total.

    Runs of one notebook are summed; the total is the file's own ``total`` row when it has one,
    else the sum.
    """
    total = timings[timings["notebook"] == "total"]["seconds"]
    timings = timings[timings["notebook"] != "total"]
    names = timings["notebook"].str.extract(r"^(\d\d_[^ ]+?)(?:\.ipynb)?(?: \(.*\))?$")[0]
    per = timings.assign(name=names).groupby("name", sort=False)["seconds"].agg(["sum", "count"])
    rows = [
        [str(n), f"{r['sum'] / 60:.1f}", f"{int(r['count'])}" if r["count"] > 1 else ""]
        for n, r in per.iterrows()
    ]
    seconds = float(total.iloc[0]) if len(total) else float(timings["seconds"].sum())
    rows.append(["**total**", f"**{seconds / 60:.1f}**", ""])
    return _md(["notebook", "minutes", "runs"], rows)


def render_tables(folder: str | Path) -> dict[str, str]:
    """Every table block whose CSV files are in ``folder`` (a ``docs/data/<profile>`` copy)."""
    folder = Path(folder)

    def read(name: str) -> pd.DataFrame | None:
        path = folder / name
        return pd.read_csv(path) if path.exists() else None

    out: dict[str, str] = {}
    if (m := read("summary_measured.csv")) is not None:
        out["study_a"] = study_a_table(m)
    if (c := read("summary_vs_paper.csv")) is not None:
        out["study_a_claims"] = claims_table(c)
        out["study_a_claims_count"] = claims_count(c)
    if (s := read("fig16_trust_signals.csv")) is not None:
        out["trust_signals"] = trust_signal_table(s)
    if (p := read("fig16_trust_pores.csv")) is not None:
        out["trust_pores"] = trust_pores_table(p)
    spread, diff = read("fig17_seed_spread.csv"), read("fig17_deepnet_minus_srcnn.csv")
    if spread is not None and diff is not None:
        out["seed_spread"] = seed_table(spread, diff)
    if (t := read("run_all_timings.csv")) is not None:
        out["timings"] = timings_table(t)
    return out


def replace_blocks(text: str, tables: dict[str, str], source: str = "page") -> tuple[str, list[str]]:
    """``text`` with every ``<!-- table:NAME -->`` block's body replaced by ``tables[NAME]``.

    Returns the new text and the names replaced.

    Raises
    ------
    KeyError
        If a block names a table that ``tables`` lacks (its CSV file was not copied).
    """
    names: list[str] = []

    def body(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in tables:
            raise KeyError(f"{source}: no table {name!r} (its CSV file is missing)")
        names.append(name)
        return f"{match.group(1)}{tables[name]}{match.group(4)}"

    return _BLOCK.sub(body, text), names
