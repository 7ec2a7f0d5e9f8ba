"""Figures of the multiscale workflow (study A, Figures 10-12)."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Polygon

from xrsr_lib.plotting import METHOD_COLORS, METHOD_LABELS, register_methods
from xrsr_lib.prepare.pose import Pose
from xrsr_lib.studies.multiscale.evaluation import IMAGE_LABELS

__all__ = ["MULTISCALE_COLORS", "plot_chain", "plot_quantitative", "plot_scans"]

#: One colour per image of the chain.
MULTISCALE_COLORS = {
    "lres": "#7f7f7f",
    "lfov": "#1f77b4",
    "mres": "#bcbd22",
    "mres_3to1": "#ff7f0e",
    "chain": "#2ca02c",
    "hres": "#d62728",
    "phantom": "#000000",
}
register_methods(IMAGE_LABELS, MULTISCALE_COLORS)


def _grey(ax: plt.Axes, img: np.ndarray, extent: list[float] | None = None) -> None:
    lo, hi = np.percentile(img, [0.5, 99.5])
    box = None if extent is None else (extent[0], extent[1], extent[2], extent[3])
    ax.imshow(img, cmap="gray", vmin=lo, vmax=hi, extent=box, origin="lower")
    ax.set_xticks([])
    ax.set_yticks([])


def _box(pose: Pose, n: int, voxel_um: float) -> np.ndarray:
    """Corners (x, y) µm of a scan's field of view in the sample frame (its central slice)."""
    h = n * voxel_um / 2
    corners = np.array([[0.0, -h, -h], [0.0, -h, h], [0.0, h, h], [0.0, h, -h]])
    pts = pose.to_sample(corners)
    return pts[:, [2, 1]]


def plot_scans(
    scans: Mapping[str, tuple[np.ndarray, float]],
    poses: Mapping[str, Pose],
    lfov: np.ndarray,
    lfov_voxel_um: float,
    checkerboards: Mapping[str, np.ndarray],
) -> plt.Figure:
    """Plot the figure 10 analog: the coarse scan with the fine scans' boxes, and more.

    The panels: the coarse scan with the fine scans' boxes, the central slice of every scan, the
    registration checkerboards, and the recovered LFOV.

    ``scans[name] = (volume, voxel_um)`` coarse to fine; ``poses`` registered; ``lfov`` the 9->3
    output on its grid.
    """
    names = list(scans)
    fig, ax = plt.subplots(2, len(names) + 1, figsize=(3.0 * (len(names) + 1), 6.2), constrained_layout=True)
    coarse, cv = scans[names[0]]
    half = coarse.shape[2] * cv / 2
    _grey(ax[0, 0], coarse[coarse.shape[0] // 2], [-half, half, -half, half])
    for k, name in enumerate(names[1:]):
        vol, v = scans[name]
        ax[0, 0].add_patch(
            Polygon(
                _box(poses[name], vol.shape[2], v),
                closed=True,
                fill=False,
                color=f"C{k + 1}",
                lw=1.2,
                label=f"{name} ({v:g} µm)",
            )
        )
    ax[0, 0].set_title(f"{names[0]} ({cv:g} µm), whole sample")
    ax[0, 0].legend(loc="lower right", fontsize=6)
    for j, name in enumerate(names, start=1):
        vol, v = scans[name]
        h = vol.shape[2] * v / 2
        _grey(ax[0, j], vol[vol.shape[0] // 2], [-h, h, -h, h])
        ax[0, j].set_title(f"FDK {name}: {vol.shape[2]}³ × {v:g} µm")
    for j, name in enumerate(names[1:], start=1):
        _grey(ax[1, j], checkerboards[name])
        ax[1, j].set_title(f"registration {name} → {names[j - 1]}\n(checkerboard, central slice)")
    hl = lfov.shape[2] * lfov_voxel_um / 2
    _grey(ax[1, 0], np.asarray(lfov[lfov.shape[0] // 2]), [-hl, hl, -hl, hl])
    ax[1, 0].set_title(f"9→3 model over the LFOV ({lfov.shape[2]}³ × {lfov_voxel_um:g} µm)")
    for j in range(len(names), len(names) + 1):
        ax[1, j].axis("off")
    return fig


def plot_chain(images: Mapping[str, np.ndarray], crop: int | None = None) -> plt.Figure:
    """Figure 11 analog: the same central slice of every image on the 1 µm grid (high magnification)."""
    names = list(images)
    fig, ax = plt.subplots(1, len(names), figsize=(2.2 * len(names), 2.6), constrained_layout=True)
    for a, name in zip(ax, names, strict=True):
        img = np.asarray(images[name])
        sl = img[img.shape[0] // 2]
        if crop:
            c0 = (sl.shape[0] - crop) // 2
            sl = sl[c0 : c0 + crop, c0 : c0 + crop]
        _grey(a, sl)
        a.set_title(METHOD_LABELS.get(name, name), fontsize=7)
    return fig


def plot_quantitative(scores: pd.DataFrame, histograms: pd.DataFrame) -> plt.Figure:
    """Plot the figure 12 analog: pore-size distributions, total pore volume and effective resolution.

    Every image is compared against the 1 µm scan and against the exact phantom.
    """
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.6), constrained_layout=True)
    for name, h in histograms.groupby("image", sort=False):
        centre = (h["bin_low_um"] + h["bin_high_um"]) / 2
        ax[0].step(
            centre,
            h["count"],
            where="mid",
            color=METHOD_COLORS.get(name),
            label=METHOD_LABELS.get(name, name),
            lw=2.0 if name in ("hres", "phantom") else 1.2,
        )
    ax[0].set_xlabel("equivalent diameter (µm)")
    ax[0].set_ylabel("pores")
    ax[0].set_yscale("symlog", linthresh=1)
    ax[0].legend(fontsize=6)
    ax[0].set_title("pore-size distribution (1 µm grid)")
    x = np.arange(len(scores))
    colors = [METHOD_COLORS.get(n) for n in scores["image"]]
    ax[1].bar(x, scores["pore_volume_um3"] / 1e3, color=colors)
    labels = [METHOD_LABELS.get(n, n) for n in scores["image"]]
    ax[1].set_xticks(x, labels, rotation=40, ha="right", fontsize=7)
    ax[1].set_ylabel("total pore volume (10³ µm³)")
    ax[1].set_title("pore volume")
    w = 0.38
    ax[2].bar(x - w / 2, scores["sigma_vs_hres_um"], w, label="vs the 1 µm scan", color="#999999")
    ax[2].bar(x + w / 2, scores["sigma_vs_phantom_um"], w, label="vs the exact phantom", color="#333333")
    ax[2].set_xticks(x, labels, rotation=40, ha="right", fontsize=7)
    ax[2].set_ylabel("effective resolution σ (µm)")
    ax[2].set_title("Gaussian fit")
    ax[2].legend(fontsize=7)
    return fig
