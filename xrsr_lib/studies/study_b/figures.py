"""Plots of study B (notebooks 11 and 12): training curves, score bars, example crops."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from xrsr_lib.evaluate.sr_scores import SR_SCORES
from xrsr_lib.plotting import METHOD_COLORS, METHOD_LABELS, register_methods
from xrsr_lib.studies.study_b.methods import METHOD_LABELS as STUDY_B_LABELS

__all__ = ["STUDY_B_COLORS", "plot_example_crops", "plot_score_bars", "plot_training_curves"]

#: Study B's colours (one per method in every figure).
STUDY_B_COLORS = {
    "bicubic": "#7f7f7f",
    "utsr": "#9467bd",
    "swinir": "#ff7f0e",
    "rrdbnet": "#8c564b",
    "reference": "#000000",
    "utsr_mlp": "#c5b0d5",
    "utsr_single_window": "#17becf",
    "utsr_finetune_only": "#e7969c",
}
register_methods(STUDY_B_LABELS, STUDY_B_COLORS)


def _smooth(y: np.ndarray, n: int) -> np.ndarray:
    if n <= 1 or y.size < n:
        return y
    kernel = np.ones(n) / n
    return np.convolve(y, kernel, mode="valid")


def plot_training_curves(
    curves: Mapping[tuple[str, int], Mapping[str, Sequence[Mapping[str, float]]]],
    smooth: int = 25,
    baselines: Mapping[int, float] | None = None,
) -> plt.Figure:
    """Loss of both stages and validation PSNR per method, one column per scale.

    ``curves[(method, scale)]`` is :meth:`xrsr_lib.studies.study_b.methods.StudyB.loss_curves`.
    Pre-training steps are drawn at negative iterations (ending at 0), fine-tuning from 0 on; the
    loss is smoothed over ``smooth`` steps. ``baselines[scale]`` (e.g. the bicubic validation PSNR)
    is drawn as a dashed line.
    """
    scales = sorted({s for _, s in curves})
    fig, ax = plt.subplots(
        2, len(scales), figsize=(5.0 * len(scales), 6.0), squeeze=False, constrained_layout=True
    )
    for j, scale in enumerate(scales):
        for (method, s), c in curves.items():
            if s != scale:
                continue
            color = METHOD_COLORS.get(method, None)
            label = METHOD_LABELS.get(method, method)
            pre = c.get("pretrain", [])
            if pre:
                it = np.array([r["iteration"] for r in pre]) - pre[-1]["iteration"]
                loss = np.array([r["loss"] for r in pre])
                ax[0, j].plot(_smooth(it, smooth), _smooth(loss, smooth), color=color, lw=0.8, ls=":")
            fine = c.get("finetune", [])
            if fine:
                it = np.array([r["iteration"] for r in fine])
                loss = np.array([r["loss"] for r in fine])
                ax[0, j].plot(_smooth(it, smooth), _smooth(loss, smooth), color=color, lw=1.0, label=label)
            val = c.get("validation", [])
            if val:
                ax[1, j].plot(
                    [r["iteration"] for r in val],
                    [r["val_psnr"] for r in val],
                    "o-",
                    ms=3,
                    color=color,
                    label=label,
                )
        if baselines and scale in baselines:
            ax[1, j].axhline(baselines[scale], color=METHOD_COLORS["bicubic"], ls="--", lw=1, label="bicubic")
        ax[0, j].axvline(0, color="k", lw=0.5)
        ax[0, j].set_yscale("log")
        ax[0, j].set_title(f"×{scale}: L1 + λ·Sobel loss (dotted: pre-training on natural images)")
        ax[0, j].set_xlabel("iteration (fine-tuning from 0)")
        ax[1, j].set_title(f"×{scale}: validation PSNR (nano-CT val split)")
        ax[1, j].set_xlabel("fine-tuning iteration")
        ax[1, j].set_ylabel("PSNR, dB")
        ax[0, j].legend(fontsize=7)
        ax[1, j].legend(fontsize=7)
    return fig


def plot_score_bars(table: pd.DataFrame, methods: Sequence[str]) -> plt.Figure:
    """One panel per score (PSNR, SSIM, LPIPS, DISTS, NIQE): mean test score per method and scale."""
    scales = sorted(table["scale"].unique())
    fig, ax = plt.subplots(1, len(SR_SCORES), figsize=(3.0 * len(SR_SCORES), 3.2), constrained_layout=True)
    width = 0.8 / max(len(methods), 1)
    for k, (score, lower) in enumerate(SR_SCORES.items()):
        a = ax[k]
        for i, m in enumerate(methods):
            vals = [table.loc[(table["scale"] == s) & (table["method"] == m), score] for s in scales]
            y = [float(v.iloc[0]) if len(v) else np.nan for v in vals]
            y = [np.nan if not np.isfinite(v) else v for v in y]
            a.bar(
                np.arange(len(scales)) + (i - (len(methods) - 1) / 2) * width,
                y,
                width,
                color=METHOD_COLORS.get(m),
                label=METHOD_LABELS.get(m, m),
            )
        a.set_xticks(np.arange(len(scales)), [f"×{s}" for s in scales])
        a.set_title(f"{score.upper()} ({'lower' if lower else 'higher'} is better)")
        if score == "psnr":  # dB: start the axis near the lowest bar so the differences show
            vals = table.loc[table["method"].isin(methods), score].to_numpy(float)
            vals = vals[np.isfinite(vals)]
            if vals.size:
                a.set_ylim(bottom=np.floor(vals.min()) - 2)
    fig.legend(*ax[0].get_legend_handles_labels(), loc="outside lower center", ncol=len(methods), fontsize=8)
    return fig


def _overlay(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """RGB: true positives white, false positives red, missed crack pixels blue."""
    rgb = np.zeros((*truth.shape, 3))
    rgb[pred & truth] = (1.0, 1.0, 1.0)
    rgb[pred & ~truth] = (1.0, 0.2, 0.2)
    rgb[~pred & truth] = (0.2, 0.5, 1.0)
    return rgb


def plot_example_crops(
    examples: Mapping[int, Mapping[str, Any]],
    masks: Mapping[int, Mapping[str, np.ndarray]],
    methods: Sequence[str],
) -> plt.Figure:
    """Plot per scale two rows: the crops and their crack segmentations.

    The crops are the LR input, each method and the reference; the segmentations are drawn against
    the true mask (white hit, red false, blue missed).

    ``examples[scale]`` is :meth:`xrsr_lib.studies.study_b.evaluation.StudyBEvaluation.example_crops`,
    ``masks[scale][method]`` the segmentation of that method's crop.
    """
    cols = ["lr", *methods]
    scales = sorted(examples)
    fig, ax = plt.subplots(
        2 * len(scales),
        len(cols),
        figsize=(1.9 * len(cols), 2.0 * 2 * len(scales)),
        squeeze=False,
        constrained_layout=True,
    )
    for i, scale in enumerate(scales):
        ex = examples[scale]
        for j, m in enumerate(cols):
            top, bottom = ax[2 * i, j], ax[2 * i + 1, j]
            for a in (top, bottom):
                a.set_xticks([])
                a.set_yticks([])
            img = ex["lr"] if m == "lr" else ex["crops"][m]
            top.imshow(img, cmap="gray", vmin=0, vmax=1)
            top.set_title(f"LR input (×{scale})" if m == "lr" else METHOD_LABELS.get(m, m), fontsize=7)
            if m == "lr":
                bottom.imshow(ex["crack_mask"], cmap="gray")
                bottom.set_title("true crack mask", fontsize=7)
            else:
                bottom.imshow(_overlay(masks[scale][m], ex["crack_mask"]))
            if j == 0:
                top.set_ylabel(f"×{scale}, rows {ex['corner'][0]}+{ex['size']}")
    return fig
