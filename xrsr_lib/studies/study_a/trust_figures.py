"""Tables and the figure of the trust-map validation (``notebooks/16_trust_maps``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from xrsr_lib.studies.study_a.figures import STUDY_A_LABELS

__all__ = ["plot_trust_maps", "pore_table", "signal_table"]


def signal_table(results: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One row per (method, σ, signal): AUROC, Spearman, coverage on the unseen realization, width."""
    rows = [{"method": r["method"], "sigma_um": r["sigma_um"], **s} for r in results for s in r["signals"]]
    return pd.DataFrame(rows)


def pore_table(results: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One row per (method, σ): hallucinated / missed pores against the doubtful flags, domain checks."""
    return pd.DataFrame(
        [
            {
                "method": r["method"],
                "sigma_um": r["sigma_um"],
                "score": r["score"],
                "ms_ssim": r["msssim"],
                "spearman_error_vs_1_msssim": r.get("spearman_error_vs_1_msssim"),
                **r["pores"],
            }
            for r in results
        ]
    )


def plot_trust_maps(slices: dict[tuple[str, float], Path], coverage: float, score: str) -> plt.Figure:
    """Per (method, σ) a row: input, result, |error| and 1 - MS-SSIM (with the truth), trust map (without).

    The trust map is the half-width of the ``coverage`` interval of the ``score`` signal; contours
    mark the result's pores flagged doubtful (orange) and the hallucinated ones (cyan, from the truth).
    """
    keys = list(slices)
    fig, axes = plt.subplots(
        len(keys), 5, figsize=(15, 3.1 * len(keys)), constrained_layout=True, squeeze=False
    )
    data = {k: dict(np.load(p)) for k, p in slices.items()}
    err_top = max(float(np.percentile(d["error"][d["mask"]], 99)) for d in data.values())
    ms_top = max(float(np.percentile(d["bad_msssim"][d["mask"]], 99)) for d in data.values())
    hw_top = max(float(np.percentile(d["halfwidth"][d["mask"]], 99)) for d in data.values())
    titles = (
        "input (FDK)",
        "result",
        "|result − truth| (needs truth)",
        "1 − local MS-SSIM (needs truth)",
        f"trust: {100 * coverage:.0f} % interval half-width ({score}; no truth)",
    )
    for row, key in zip(axes, keys, strict=True):
        d = data[key]
        out = ~d["mask"]
        panels = [
            (d["input"], "gray", -0.25, 1.25),
            (d["prediction"], "gray", -0.25, 1.25),
            (d["error"], "magma", 0, err_top),
            (d["bad_msssim"], "magma", 0, ms_top),
            (d["halfwidth"], "magma", 0, hw_top),
        ]
        for j, (ax, (img, cmap, lo, hi)) in enumerate(zip(row, panels, strict=True)):
            shown = np.where(out, np.nan, img) if j >= 2 else img
            im = ax.imshow(shown, cmap=cmap, vmin=lo, vmax=hi)
            ax.set_xticks([])
            ax.set_yticks([])
            if key == keys[0]:
                ax.set_title(titles[j], fontsize=9)
            if j >= 2 and key == keys[-1]:
                fig.colorbar(im, ax=ax, orientation="horizontal", fraction=0.05, pad=0.02)
        for ax in (row[1], row[4]):
            if d["doubtful"].any():
                ax.contour(d["doubtful"], levels=[0.5], colors="orange", linewidths=0.8)
            if d["hallucinated"].any():
                ax.contour(d["hallucinated"], levels=[0.5], colors="cyan", linewidths=0.8, linestyles="--")
        method, sigma = key
        row[0].set_ylabel(f"{STUDY_A_LABELS.get(method, method)}\nσ = {sigma:g} µm")
    return fig
