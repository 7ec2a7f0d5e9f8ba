"""Shared figure style: one colour and label per method, slice panels, PNG+PDF output."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: figures are files
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = [
    "METHOD_COLORS",
    "METHOD_LABELS",
    "central_slice",
    "default_figure_dir",
    "image_grid",
    "register_methods",
    "save_figure",
    "slice_panels",
]

#: Colour per method name, filled by the studies (:func:`register_methods`), so every figure of a
#: study draws a method in the same colour.
METHOD_COLORS: dict[str, str] = {}
#: Display name per method name (legends, titles), filled by the studies.
METHOD_LABELS: dict[str, str] = {}


def register_methods(labels: Mapping[str, str], colors: Mapping[str, str]) -> None:
    """Add a study's method labels and colours (a name registered twice must keep its values).

    Raises
    ------
    ValueError
        If a name is already registered with another label or colour.
    """
    for registry, new, what in ((METHOD_LABELS, labels, "label"), (METHOD_COLORS, colors, "colour")):
        for name, value in new.items():
            if registry.get(name, value) != value:
                raise ValueError(f"method {name!r} already has the {what} {registry[name]!r}, not {value!r}")
            registry[name] = value


plt.rcParams.update(
    {
        "figure.dpi": 110,
        "savefig.dpi": 200,
        "font.size": 9,
        "axes.titlesize": 9,
        "image.interpolation": "nearest",
    }
)


def central_slice(volume: np.ndarray, axis: int = 0, index: int | None = None) -> np.ndarray:
    """Return a 2D slice through a (z, y, x) volume, at the centre unless ``index`` is given."""
    vol = np.asarray(volume)
    if vol.ndim != 3:
        raise ValueError(f"volume must be 3-D, got shape {vol.shape}")
    if axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0 (XY), 1 (XZ) or 2 (YZ), got {axis}")
    index = vol.shape[axis] // 2 if index is None else index
    if not 0 <= index < vol.shape[axis]:
        raise ValueError(f"slice index {index} outside 0..{vol.shape[axis] - 1}")
    return np.take(vol, index, axis=axis)


def slice_panels(
    volumes: Mapping[str, np.ndarray],
    axes: tuple[int, ...] = (0,),
    vmin: float | None = None,
    vmax: float | None = None,
    panel_size: float = 2.2,
    voxel_size_um: float | None = None,
) -> plt.Figure:
    """Grid of central slices: one column per volume, one row per slicing axis.

    All panels share one grey scale (``vmin``/``vmax``; by default the 0.5 and 99.5 percentiles of
    the first volume) so intensities compare across columns.
    """
    if not volumes:
        raise ValueError("no volumes to plot")
    names = list(volumes)
    first = np.asarray(volumes[names[0]])
    if vmin is None or vmax is None:
        lo, hi = np.percentile(first, [0.5, 99.5])
        vmin = lo if vmin is None else vmin
        vmax = hi if vmax is None else vmax
    fig, ax = plt.subplots(
        len(axes),
        len(names),
        figsize=(panel_size * len(names), panel_size * len(axes)),
        squeeze=False,
        constrained_layout=True,
    )
    plane = {0: "XY", 1: "XZ", 2: "YZ"}
    for r, axis in enumerate(axes):
        for c, name in enumerate(names):
            a = ax[r, c]
            img = central_slice(volumes[name], axis)
            im = a.imshow(img, cmap="gray", vmin=vmin, vmax=vmax, origin="lower")
            a.set_xticks([])
            a.set_yticks([])
            if r == 0:
                a.set_title(name)
            if c == 0:
                a.set_ylabel(f"central {plane[axis]}")
    if voxel_size_um is not None:
        n = first.shape[-1]
        bar = _nice_length(n * voxel_size_um / 5)
        a = ax[-1, 0]
        a.plot([n * 0.05, n * 0.05 + bar / voxel_size_um], [n * 0.06] * 2, color="yellow", lw=2)
        a.text(n * 0.05, n * 0.09, f"{bar:g} µm", color="yellow", fontsize=7)
    fig.colorbar(im, ax=ax, shrink=0.8, label="attenuation (material = 1)")
    return fig


def _nice_length(x: float) -> float:
    """Round down to 1, 2 or 5 × 10^k."""
    k = 10 ** np.floor(np.log10(x))
    for m in (5, 2, 1):
        if m * k <= x:
            return float(m * k)
    return float(k)


def save_figure(fig: plt.Figure, figure_dir: str | Path, name: str) -> list[Path]:
    """Save ``fig`` as ``<figure_dir>/<name>.png`` and ``.pdf``; returns both paths."""
    out = Path(figure_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    for p in paths:
        fig.savefig(p, bbox_inches="tight")
    return paths


def default_figure_dir(profile: str) -> Path:
    """``figures/<profile>`` at the root of the xrsr checkout."""
    return Path(__file__).resolve().parents[1] / "figures" / profile


def image_grid(
    rows: Mapping[str, Mapping[str, np.ndarray]],
    vmin: float = -0.25,
    vmax: float = 1.25,
    panel_size: float = 2.0,
    columns: list[str] | None = None,
    cmap: str = "gray",
    colorbar_label: str = "attenuation (material = 1)",
    column_styles: Mapping[str, tuple[str, float, float]] | None = None,
) -> plt.Figure:
    """Grid of 2D images: ``rows[row_label][column_label] -> image``; one shared colour scale.

    Columns are ``columns`` if given, else the union of the column labels in order of first
    appearance; a missing cell stays blank. ``column_styles[column] = (cmap, vmin, vmax)`` draws a
    column on its own scale (e.g. a grey-scale reference beside quality maps); the colour bar
    shows the shared scale.
    """
    if not rows:
        raise ValueError("no images to plot")
    cols: list[str] = list(columns or [])
    for r in rows.values():
        cols += [c for c in r if c not in cols]
    fig, ax = plt.subplots(
        len(rows),
        len(cols),
        figsize=(panel_size * len(cols), panel_size * len(rows)),
        squeeze=False,
        constrained_layout=True,
    )
    im = None
    ref = np.asarray(next(img for r in rows.values() for img in r.values()))
    for i, (rlabel, r) in enumerate(rows.items()):
        for j, clabel in enumerate(cols):
            a = ax[i, j]
            a.set_xticks([])
            a.set_yticks([])
            if clabel in r:
                img = np.asarray(r[clabel])
                if img.ndim != 2:
                    raise ValueError(f"image ({rlabel}, {clabel}) must be 2-D, got shape {img.shape}")
                if column_styles and clabel in column_styles:
                    c_map, lo, hi = column_styles[clabel]
                    a.imshow(img, cmap=c_map, vmin=lo, vmax=hi, origin="lower")
                else:
                    im = a.imshow(img, cmap=cmap, vmin=vmin, vmax=vmax, origin="lower")
            else:  # blank cell, shaped like an image so the layout and titles stay aligned
                a.set_frame_on(False)
                a.set_box_aspect(ref.shape[0] / ref.shape[1])
            if i == 0:
                a.set_title(clabel)
            if j == 0:
                a.set_ylabel(rlabel)
    if im is not None:
        fig.colorbar(im, ax=ax, shrink=0.8, label=colorbar_label)
    return fig
