"""Plots of study A's figures 3 and 5-9 from the tables of :mod:`xrsr_lib.studies.study_a.evaluation`.

Each function takes plain tables (pandas DataFrames with the columns the evaluation writes) and
returns a matplotlib figure; the notebooks only choose what to show and save it.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from xrsr_lib.evaluate.pores import size_histogram
from xrsr_lib.plotting import METHOD_COLORS, METHOD_LABELS, register_methods
from xrsr_lib.studies.tables import select_rows

__all__ = [
    "STUDY_A_COLORS",
    "STUDY_A_LABELS",
    "plot_gaussian_fit",
    "plot_metrics_vs_sigma",
    "plot_recovery",
    "plot_size_histograms",
    "plot_sphericity_boxes",
]

#: Study A's methods as figures show them (one colour each in every figure).
STUDY_A_LABELS = {
    "gt": "Ground truth",
    "phantom": "Exact phantom",
    "fdk": "FDK input",
    "hres": "HRES 1 µm (FDK)",
    "rl": "Richardson-Lucy",
    "rl_nlm": "RL + NLM",
    "srcnn": "SRCNN 3D",
    "deepnet": "DeepNet",
}
STUDY_A_COLORS = {
    "gt": "#000000",
    "phantom": "#8c564b",
    "fdk": "#7f7f7f",
    "hres": "#bcbd22",
    "rl": "#d62728",
    "rl_nlm": "#e377c2",
    "srcnn": "#1f77b4",
    "deepnet": "#2ca02c",
}
register_methods(STUDY_A_LABELS, STUDY_A_COLORS)

#: a panel: (title, image, realization)
Panel = tuple[str, str, str]


def _label(image: str) -> str:
    return METHOD_LABELS.get(image, image)


def plot_metrics_vs_sigma(
    table: pd.DataFrame, metrics: dict[str, str], images: Sequence[str], reference: str | None = "hres"
) -> plt.Figure:
    """One panel per metric: its value against the input blur σ, a line per image.

    ``table`` has columns ``image``, ``sigma_um`` and the metrics; the ``reference`` image (the
    1 µm reconstruction) is drawn as a horizontal dotted line.
    """
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(3.6 * len(metrics), 3.2), constrained_layout=True, squeeze=False
    )
    for ax, (col, title) in zip(axes[0], metrics.items(), strict=True):
        for image in images:
            t = table[table["image"] == image].sort_values("sigma_um")
            if t.empty:
                continue
            ax.plot(
                t["sigma_um"],
                t[col],
                "o-",
                color=METHOD_COLORS.get(image),
                label=_label(image),
                ls="--" if image == "fdk" else "-",
                ms=4,
            )
        if reference is not None and (table["image"] == reference).any():
            ref = float(table.loc[table["image"] == reference, col].iloc[0])
            ax.axhline(ref, color=METHOD_COLORS.get(reference), ls=":", label=_label(reference))
        ax.set_xlabel("input blur σ / µm")
        ax.set_title(title)
        sig = sorted(table["sigma_um"].dropna().unique())
        ax.set_xticks(
            [
                s
                for s in sig
                if reference is None or s != table.loc[table["image"] == reference, "sigma_um"].min()
            ]
        )
        ax.grid(alpha=0.3)
    axes[0, -1].legend(fontsize=7, loc="best")
    return fig


def plot_recovery(series: dict[str, tuple[pd.DataFrame, str]], column: str = "recovery_pct") -> plt.Figure:
    """Pore recovery (%) against σ: ``series[label] = (table of one image, line style)``."""
    fig, ax = plt.subplots(figsize=(4.8, 3.4), constrained_layout=True)
    for label, (t, style) in series.items():
        t = t.sort_values("sigma_um")
        image = str(t["image"].iloc[0])
        ax.plot(
            t["sigma_um"], t[column], marker="o", ls=style, color=METHOD_COLORS.get(image), label=label, ms=4
        )
    ax.axhline(100.0, color="k", lw=0.8)
    ax.set_xlabel("input blur σ / µm")
    ax.set_ylabel("pores found / ground truth (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def plot_size_histograms(
    sizes: pd.DataFrame,
    porosity: pd.DataFrame,
    panels: Sequence[Panel],
    sigmas: Sequence[float],
    bin_um: float = 5.0,
) -> plt.Figure:
    """Pore-size distributions (spherical-equivalent diameter, ``bin_um`` bins) per panel.

    Each panel overlays the ground truth of its realization and the image at every σ; the legend
    gives the porosity φ of each.
    """
    dmax = float(sizes["diameter_um"].max()) if len(sizes) else bin_um
    edges = np.arange(0.0, dmax + bin_um, bin_um)
    fig, axes = plt.subplots(
        1, len(panels), figsize=(3.6 * len(panels), 3.2), constrained_layout=True, sharey=True, squeeze=False
    )
    cmap = plt.get_cmap("viridis")
    for ax, (title, image, realization) in zip(axes[0], panels, strict=True):
        entries = [("gt", np.nan)] + [(image, s) for s in sigmas]
        for k, (img, s) in enumerate(entries):
            d = sizes.loc[select_rows(sizes, img, s, realization), "diameter_um"].to_numpy()
            psel = select_rows(porosity, img, s, realization)
            phi = float(porosity.loc[psel, "porosity"].iloc[0]) if psel.any() else np.nan
            counts, _ = (
                size_histogram(d, bin_um=bin_um, max_um=edges[-1])
                if d.size
                else (np.zeros(len(edges) - 1), edges)
            )
            name = "ground truth" if img == "gt" else f"σ = {s:g} µm"
            color = "k" if img == "gt" else cmap(k / max(len(entries) - 1, 1) * 0.9)
            ax.stairs(
                counts, edges, color=color, lw=1.6 if img == "gt" else 1.1, label=f"{name} (φ = {phi:.3f})"
            )
        ax.set_title(title)
        ax.set_xlabel("equivalent diameter / µm")
        ax.legend(fontsize=6.5)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel(f"pores per {bin_um:g} µm bin")
    return fig


def plot_sphericity_boxes(
    sizes: pd.DataFrame, panels: Sequence[Panel], sigmas: Sequence[float], seed: int = 0
) -> plt.Figure:
    """Plot sphericity box plots per panel: ground truth and each σ.

    The mean is marked and labelled, the individual pores overlaid (jittered).
    """
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(
        1, len(panels), figsize=(3.6 * len(panels), 3.4), constrained_layout=True, sharey=True, squeeze=False
    )
    for ax, (title, image, realization) in zip(axes[0], panels, strict=True):
        entries = [("gt", np.nan)] + [(image, s) for s in sigmas]
        data, labels = [], []
        for img, s in entries:
            data.append(sizes.loc[select_rows(sizes, img, s, realization), "sphericity"].to_numpy())
            labels.append("GT" if img == "gt" else f"{s:g} µm")
        pos = np.arange(1, len(data) + 1)
        ax.boxplot([d if d.size else [np.nan] for d in data], positions=pos, widths=0.6, showfliers=False)
        for p, d in zip(pos, data, strict=True):
            if d.size:
                ax.scatter(
                    p + rng.uniform(-0.2, 0.2, d.size),
                    d,
                    s=3,
                    alpha=0.35,
                    color=METHOD_COLORS.get(image if p > 1 else "gt"),
                )
                mean = float(np.mean(d))
                ax.hlines(mean, p - 0.3, p + 0.3, color="r", lw=1.5)
                ax.annotate(
                    f"{mean:.3f}",
                    (p, mean),
                    xytext=(0, 6),
                    textcoords="offset points",
                    ha="center",
                    fontsize=6.5,
                    color="r",
                )
        ax.set_xticks(pos, labels)
        ax.set_title(title)
        ax.grid(alpha=0.3, axis="y")
    axes[0, 0].set_ylabel("sphericity Ψ (clipped at 1)")
    return fig


def plot_gaussian_fit(
    curves: pd.DataFrame,
    best: pd.DataFrame,
    sigmas: Sequence[float],
    images: Sequence[str],
    reference: str | None = "hres",
) -> plt.Figure:
    """Plot the MSE against the blur applied to the ground truth, one panel per input σ.

    The minimum of each curve (the effective resolution) is marked with a drop line.
    """
    fig, axes = plt.subplots(
        1, len(sigmas), figsize=(3.4 * len(sigmas), 3.2), constrained_layout=True, sharey=True, squeeze=False
    )

    def draw(ax: plt.Axes, image: str, sel: pd.Series, bsel: pd.Series, style: str) -> None:
        c = curves[sel]
        color = METHOD_COLORS.get(image)
        ax.plot(c["blur_um"], c["mse"], ls=style, color=color, label=_label(image))
        if bsel.any():
            b = best[bsel].iloc[0]
            ax.vlines(b["effective_sigma_um"], 0, b["mse_at_best"], color=color, ls=":", lw=1)
            ax.plot(b["effective_sigma_um"], b["mse_at_best"], "o", color=color, ms=3)

    for ax, s in zip(axes[0], sigmas, strict=True):
        for image in images:
            draw(
                ax,
                image,
                (curves["image"] == image) & (curves["sigma_um"] == s),
                (best["image"] == image) & (best["sigma_um"] == s),
                "--" if image == "fdk" else "-",
            )
        if reference is not None:
            draw(ax, reference, curves["image"] == reference, best["image"] == reference, ":")
        ax.set_title(f"input σ = {s:g} µm")
        ax.set_xlabel("σ of the Gaussian applied to the ground truth / µm")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("MSE (inside the foam)")
    axes[0, -1].legend(fontsize=7)
    return fig
