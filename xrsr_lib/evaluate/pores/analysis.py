"""Whole-image pore analysis (:func:`analyse_pores`, :class:`PoreAnalysis`) and its summaries.

:func:`porosity`, :func:`pore_recovery`, :func:`size_histogram`, :func:`size_histogram_table` and
:func:`sphericity_statistics` summarise a segmentation, a set of pore diameters or sphericities;
:func:`relative_error_pct` compares a summary with the ground truth's; :func:`analyse_pores` chains
:func:`~xrsr_lib.evaluate.pores.segment.segment_pores` and
:func:`~xrsr_lib.evaluate.pores.properties.pore_properties`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xrsr_lib.config.pores import PoreAnalysisConfig
from xrsr_lib.evaluate.pores.properties import PORE_COLUMNS, pore_properties
from xrsr_lib.evaluate.pores.segment import segment_pores
from xrsr_lib.io.cache import atomic_path

__all__ = [
    "SPHERICITY_STATISTICS",
    "PoreAnalysis",
    "analyse_pores",
    "pore_recovery",
    "porosity",
    "relative_error_pct",
    "share_below_pct",
    "size_histogram",
    "size_histogram_table",
    "sphericity_statistics",
]

#: Keys of :func:`sphericity_statistics`, in table order.
SPHERICITY_STATISTICS = ("count", "mean", "std", "min", "median")


# ------------------------------------------------------------------------------ summaries
def porosity(pore_mask: np.ndarray, foam_mask: np.ndarray) -> float:
    """Pore voxels inside the foam mask divided by the foam-mask voxels."""
    pores = np.asarray(pore_mask)
    mask = np.asarray(foam_mask)
    if pores.shape != mask.shape:
        raise ValueError(f"pore_mask shape {pores.shape} differs from foam_mask shape {mask.shape}")
    mask = mask.astype(bool)
    n_foam = int(np.count_nonzero(mask))
    if n_foam == 0:
        raise ValueError("foam_mask selects no voxel")
    return float(np.count_nonzero(pores.astype(bool) & mask)) / n_foam


def pore_recovery(n_found: float, n_truth: float) -> float:
    """Fraction ``n_found / n_truth`` of the true pores found (may exceed 1 with over-segmentation)."""
    if not (math.isfinite(n_truth) and n_truth > 0):
        raise ValueError(f"n_truth must be > 0, got {n_truth}")
    if not (math.isfinite(n_found) and n_found >= 0):
        raise ValueError(f"n_found must be >= 0, got {n_found}")
    return float(n_found) / float(n_truth)


def size_histogram(
    diameters_um: np.ndarray, bin_um: float = 5.0, max_um: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of pore diameters on bins ``[0, bin_um, 2 bin_um, ...]``.

    Parameters
    ----------
    diameters_um : 1-D array
        Pore diameters, µm (finite, >= 0).
    bin_um : float
        Bin width, µm.
    max_um : float, optional
        Upper end to cover (rounded up to a whole bin), so several images share the same edges;
        default: the largest diameter. Diameters above it raise an error.

    Returns
    -------
    counts : ndarray of int64
    edges : ndarray of float64
        ``len(counts) + 1`` edges starting at 0 in steps of ``bin_um``; the last bin includes its
        right edge.
    """
    d = np.asarray(diameters_um, dtype=np.float64).ravel()
    if not (math.isfinite(bin_um) and bin_um > 0):
        raise ValueError(f"bin_um must be finite and > 0, got {bin_um}")
    if d.size and not np.all(np.isfinite(d)):
        raise ValueError("diameters_um contains NaN or infinite values")
    if d.size and d.min() < 0:
        raise ValueError("diameters_um must be >= 0")
    top = float(d.max()) if d.size else 0.0
    if max_um is not None:
        if not (math.isfinite(max_um) and max_um > 0):
            raise ValueError(f"max_um must be finite and > 0, got {max_um}")
        if top > max_um:
            raise ValueError(f"{int(np.count_nonzero(d > max_um))} diameter(s) exceed max_um={max_um}")
        top = float(max_um)
    n_bins = max(1, math.ceil(top / bin_um - 1e-9))
    edges = np.arange(n_bins + 1, dtype=np.float64) * bin_um
    if edges[-1] < top:  # guard against rounding in the tolerance above
        edges = np.append(edges, edges[-1] + bin_um)
    counts, _ = np.histogram(d, bins=edges)
    return counts.astype(np.int64), edges


def share_below_pct(diameters_um: np.ndarray, limit_um: float) -> float:
    """Share of pores whose equivalent diameter is below ``limit_um``, in % of all pores.

    Parameters
    ----------
    diameters_um : array_like
        Equivalent diameters of the pores, µm (finite, >= 0).
    limit_um : float
        The diameter limit, µm (> 0); a pore of exactly ``limit_um`` is not below it.

    Returns
    -------
    float
        ``100 · #{d < limit} / #{d}``; NaN when there is no pore.
    """
    d = np.asarray(diameters_um, dtype=np.float64).ravel()
    if not np.all(np.isfinite(d)) or np.any(d < 0):
        raise ValueError("diameters_um must be finite and >= 0 µm")
    if not (math.isfinite(float(limit_um)) and float(limit_um) > 0):
        raise ValueError(f"limit_um must be a finite value > 0 µm, got {limit_um}")
    if d.size == 0:
        return math.nan
    return 100.0 * float(np.count_nonzero(d < float(limit_um))) / d.size


def relative_error_pct(value: float, truth: float) -> float:
    """Relative error of ``value`` against ``truth`` in %, ``100·(value / truth - 1)``.

    Parameters
    ----------
    value : float
        Measured quantity (e.g. a porosity, dimensionless, or a mean sphericity); NaN gives NaN.
    truth : float
        The ground truth's value of the same quantity, in the same units; finite and non-zero.

    Returns
    -------
    float
        Relative error, % (negative when ``value`` underestimates ``truth``).

    Raises
    ------
    ValueError
        ``truth`` is zero, NaN or infinite.
    """
    t = float(truth)
    if not math.isfinite(t) or t == 0.0:
        raise ValueError(f"truth must be finite and non-zero for a relative error, got {truth}")
    return 100.0 * (float(value) / t - 1.0)


def size_histogram_table(
    sizes: pd.DataFrame, by: Sequence[str], bin_um: float = 5.0, column: str = "diameter_um"
) -> pd.DataFrame:
    """:func:`size_histogram` of every group of ``sizes``, on bins shared by all groups.

    Parameters
    ----------
    sizes : pandas.DataFrame
        One row per pore, with the ``by`` columns and ``column`` (diameters, µm).
    by : sequence of str
        Columns identifying a histogram (e.g. realization, image, σ); NaN is a group of its own,
        groups keep their order of first appearance.
    bin_um : float
        Bin width, µm.
    column : str
        Column of the diameters, µm.

    Returns
    -------
    pandas.DataFrame
        Columns ``*by, bin_um, count``: one row per group and bin (zero counts included), ``bin_um``
        the bin's lower edge in µm. The bins start at 0 and cover the largest diameter of all
        groups (the last bin includes its right edge).
    """
    by = list(by)
    d = sizes[column].to_numpy(dtype=np.float64)
    max_um = max(float(d.max()) if d.size else 0.0, bin_um)
    rows: list[dict[str, Any]] = []
    for key, group in sizes.groupby(by, dropna=False, sort=False):
        counts, edges = size_histogram(group[column].to_numpy(), bin_um=bin_um, max_um=max_um)
        ident = dict(zip(by, key, strict=True))
        rows += [
            {**ident, "bin_um": float(lo), "count": int(c)} for lo, c in zip(edges[:-1], counts, strict=True)
        ]
    return pd.DataFrame(rows, columns=[*by, "bin_um", "count"])


def sphericity_statistics(sphericity: np.ndarray) -> dict[str, float | int]:
    """Count, mean, standard deviation, minimum and median of pore sphericities.

    Parameters
    ----------
    sphericity : 1-D array
        Sphericity Ψ of each pore (dimensionless, finite; ``PoreAnalysis.table.sphericity``).

    Returns
    -------
    dict
        :data:`SPHERICITY_STATISTICS` keys: ``count`` (int), ``mean``, ``std`` (sample standard
        deviation, ``ddof = 1`` as pandas; NaN below 2 pores), ``min``, ``median`` (NaN with no pore).
    """
    psi = np.asarray(sphericity, dtype=np.float64).ravel()
    if psi.size and not np.all(np.isfinite(psi)):
        raise ValueError("sphericity contains NaN or infinite values")
    n = int(psi.size)
    return {
        "count": n,
        "mean": float(psi.mean()) if n else math.nan,
        "std": float(psi.std(ddof=1)) if n > 1 else math.nan,
        "min": float(psi.min()) if n else math.nan,
        "median": float(np.median(psi)) if n else math.nan,
    }


# ------------------------------------------------------------------------------ full analysis
@dataclass(frozen=True, eq=False)
class PoreAnalysis:
    """Summary and per-pore table of one analysed image (see :func:`analyse_pores`).

    Attributes
    ----------
    threshold : float
    n_pores : int
        Pores kept (after edge-kill when enabled): the rows of ``table``.
    n_edge_killed : int
    porosity : float
        Pore fraction of the foam mask, without its surface shell (before edge-kill).
    n_sphericity_clipped : int
        Pores whose raw sphericity exceeded 1.
    mean_sphericity : float
        Mean of ``table.sphericity`` (NaN when there is no pore).
    voxel_size_um : float
    config : PoreAnalysisConfig
    table : pandas.DataFrame
        :func:`pore_properties` of the kept pores.
    n_surface_killed : int
        Objects dropped in the surface shell (``config.surface_margin_um``).
    """

    threshold: float
    n_pores: int
    n_edge_killed: int
    porosity: float
    n_sphericity_clipped: int
    mean_sphericity: float
    voxel_size_um: float
    config: PoreAnalysisConfig
    table: pd.DataFrame
    n_surface_killed: int = 0

    def summary(self) -> dict[str, float | int]:
        """Return the scalar results as plain Python numbers (JSON-friendly)."""
        return {
            "threshold": float(self.threshold),
            "n_pores": int(self.n_pores),
            "n_edge_killed": int(self.n_edge_killed),
            "n_surface_killed": int(self.n_surface_killed),
            "porosity": float(self.porosity),
            "n_sphericity_clipped": int(self.n_sphericity_clipped),
            "mean_sphericity": float(self.mean_sphericity),
            "voxel_size_um": float(self.voxel_size_um),
        }

    def to_dict(self) -> dict[str, Any]:
        """Summary, config and table (column -> list) as plain JSON types."""
        return {
            "summary": self.summary(),
            "config": self.config.model_dump(),
            "pores": {c: self.table[c].tolist() for c in self.table.columns},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PoreAnalysis:
        """Inverse of :meth:`to_dict`."""
        s = data["summary"]
        table = pd.DataFrame(data["pores"], columns=list(data["pores"].keys()) or list(PORE_COLUMNS))
        if len(table) == 0:
            table = pd.DataFrame({c: pd.Series(dtype=float) for c in PORE_COLUMNS})
        table = table.astype({"label": np.int64, "sphericity_clipped": bool})
        return cls(
            threshold=float(s["threshold"]),
            n_pores=int(s["n_pores"]),
            n_edge_killed=int(s["n_edge_killed"]),
            porosity=float(s["porosity"]),
            n_sphericity_clipped=int(s["n_sphericity_clipped"]),
            mean_sphericity=float(s["mean_sphericity"]),
            voxel_size_um=float(s["voxel_size_um"]),
            config=PoreAnalysisConfig(**data["config"]),
            table=table,
            n_surface_killed=int(s.get("n_surface_killed", 0)),
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_dict` as one JSON file, atomically; returns the path.

        (The evaluation caches analyses as HDF5 tables instead: see :meth:`StudyAEvaluation.pores`.)
        """
        final = Path(path)
        with atomic_path(final) as tmp:
            tmp.write_text(json.dumps(self.to_dict()) + "\n")
        return final

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PoreAnalysis:
        """Read a file written by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text()))


def analyse_pores(
    image: np.ndarray,
    foam_mask: np.ndarray,
    voxel_size_um: float = 1.0,
    config: PoreAnalysisConfig | None = None,
) -> PoreAnalysis:
    """Segment the pores of ``image`` and measure each one.

    This is :func:`segment_pores` then :func:`pore_properties`.

    Parameters
    ----------
    image : (Z, Y, X) array
        Material-fraction image.
    foam_mask : (Z, Y, X) array of bool
        The foam's bulk.
    voxel_size_um : float
        Edge of the (isotropic) voxel, µm.
    config : PoreAnalysisConfig, optional
        Defaults to ``PoreAnalysisConfig()``.

    Returns
    -------
    PoreAnalysis
    """
    cfg = PoreAnalysisConfig() if config is None else config
    seg = segment_pores(image, foam_mask, voxel_size_um, cfg)
    table = pore_properties(seg.labels, seg.voxel_size_um, cfg.surface_smoothing_sigma)
    mean_psi = float(table["sphericity"].mean()) if len(table) else float("nan")
    return PoreAnalysis(
        threshold=seg.threshold,
        n_pores=len(table),
        n_edge_killed=seg.n_edge_killed,
        porosity=porosity(seg.pore_mask, foam_mask if seg.inner_mask is None else seg.inner_mask),
        n_sphericity_clipped=int(table["sphericity_clipped"].sum()),
        mean_sphericity=mean_psi,
        voxel_size_um=seg.voxel_size_um,
        config=cfg,
        table=table,
        n_surface_killed=seg.n_surface_killed,
    )
