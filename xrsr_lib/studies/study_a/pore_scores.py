"""Study A's pore scores (figures 5-7): the cached pore analysis of every image and its tables.

A mixin of :class:`~xrsr_lib.studies.study_a.evaluation.StudyAEvaluation`, which provides the
images, the foam mask, the cache and the settings: ``pores(method, σ, realization)`` segments one
image (cached), :meth:`PoreScores.prefetch_pores` segments the uncached ones of a list in
``evaluation.pore_workers`` processes at once, and the tables compare every image with the ground
truth's pores (recovery, porosity, sphericity, sizes).
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pandas as pd

from xrsr_lib import io
from xrsr_lib.evaluate.pores import (
    PoreAnalysis,
    analyse_pores,
    analyse_pores_parallel,
    pore_recovery,
    relative_error_pct,
    sphericity_statistics,
)

if TYPE_CHECKING:
    import numpy as np

    from xrsr_lib.config import Profile
    from xrsr_lib.config.evaluation import EvaluationConfig
    from xrsr_lib.config.pores import PoreAnalysisConfig
    from xrsr_lib.io.cache import Cache

__all__ = ["PORE_METHODS", "PoreScores"]

log = logging.getLogger(__name__)

#: Images whose pores are analysed per input blur (RL is segmented after NLM, as in study A).
PORE_METHODS = ("fdk", "rl_nlm", "srcnn", "deepnet")


class PoreScores:
    """Pore analyses and pore tables of study A's images.

    A mixin of ``StudyAEvaluation``, which also provides ``image``, ``foam_mask``, ``_image_params``,
    ``_reference_and`` and ``_sigma_column``.
    """

    profile: Profile
    cache: Cache
    config: EvaluationConfig
    pore_config: PoreAnalysisConfig
    progress: bool

    if TYPE_CHECKING:  # provided by StudyAEvaluation (declared here for the type checker only)

        @property
        def realization(self) -> str:
            """The realization scored by default (:attr:`StudyAEvaluation.realization`)."""

        @property
        def voxel_size_um(self) -> float:
            """The voxel size of every image, µm."""

        def image(
            self, method: str, sigma_um: float | None = None, realization: str | None = None
        ) -> np.ndarray:
            """Return an image as an array (z, y, x), material-fraction units."""

        def foam_mask(self, inner: bool = True) -> np.ndarray:
            """Return the foam's bulk (:meth:`StudyAEvaluation.foam_mask`)."""

        def _image_params(self, method: str, sigma_um: float | None, realization: str) -> dict[str, Any]: ...
        def _reference_and(self, methods: tuple[str, ...]) -> list[tuple[str, float | None]]: ...
        def _sigma_column(self, method: str, sigma_um: float | None) -> float: ...

    def pores(
        self, method: str, sigma_um: float | None = None, realization: str | None = None
    ) -> PoreAnalysis:
        """Return the study's segmentation workflow and per-pore measurements of one image."""
        realization = realization or self.realization
        params = self._pore_params(method, sigma_um, realization)

        def build(tmp: Path) -> None:
            analysis = analyse_pores(
                self.image(method, sigma_um, realization),
                self.foam_mask(inner=False),
                voxel_size_um=self.voxel_size_um,
                config=self.pore_config,
            )
            self._write_pores(tmp, params, analysis)

        table, attrs = io.read_table(self.cache.get_or_build("pores", params, build))
        return PoreAnalysis.from_dict(
            {
                "summary": attrs["summary"],
                "config": attrs["config"],
                "pores": {c: table[c].tolist() for c in table.columns},
            }
        )

    def prefetch_pores(self, entries: list[tuple[str, float | None]], realization: str | None = None) -> int:
        """Analyse the pores of the uncached images among ``entries`` in parallel; return how many.

        ``entries`` are ``(method, σ)`` pairs; they run in ``evaluation.pore_workers`` processes at
        once, so that :meth:`pores` then reads them from the cache. With one worker (or one image)
        nothing is done here and :meth:`pores` analyses them one by one (same results: the analysis
        is deterministic).
        """
        realization = realization or self.realization
        if self.config.pore_workers < 2:
            return 0
        params = {e: self._pore_params(*e, realization) for e in entries}
        todo = [e for e, p in params.items() if not self.cache.has("pores", p)]
        workers = min(self.config.pore_workers, len(todo))
        if workers < 2:
            return 0
        log.info("pore analysis of %d images in %d processes", len(todo), workers)
        jobs = ((e, lambda e=e: self.image(e[0], e[1], realization)) for e in todo)
        for key, analysis in analyse_pores_parallel(
            jobs,
            self.foam_mask(inner=False),
            self.voxel_size_um,
            self.pore_config,
            workers,
            progress=self.progress,
        ):
            p = params[cast(tuple[str, float | None], key)]
            write = functools.partial(self._write_pores, params=p, analysis=analysis)
            self.cache.get_or_build("pores", p, write)
        return len(todo)

    def _pore_params(self, method: str, sigma_um: float | None, realization: str) -> dict[str, Any]:
        return {
            "image": self._image_params(method, sigma_um, realization),
            "voxel_size_um": self.voxel_size_um,
            "foam_radius_um": self.profile.phantom.cylinder_radius_um,
            "config": self.pore_config.model_dump(),
        }

    @staticmethod
    def _write_pores(tmp: Path, params: dict[str, Any], analysis: PoreAnalysis) -> None:
        io.write_table(tmp, analysis.table, {**params, "summary": analysis.summary()})

    def pore_table(
        self, realization: str | None = None, methods: tuple[str, ...] = PORE_METHODS
    ) -> pd.DataFrame:
        """Pore count, recovery, porosity and sphericity per image (Figures 5-7).

        ``recovery_pct`` = 100 · :func:`~xrsr_lib.evaluate.pores.pore_recovery` (pores found /
        ground-truth pores, both edge-killed); ``porosity_error_pct`` and ``sphericity_error_pct`` are
        :func:`~xrsr_lib.evaluate.pores.relative_error_pct` of the porosity and the mean sphericity
        against the ground truth's, in %.
        """
        realization = realization or self.realization
        self.prefetch_pores([("gt", None), *self._reference_and(methods)], realization)
        gt = self.pores("gt", None, realization).summary()
        rows = []
        for m, s in self._reference_and(methods):
            summ = self.pores(m, s, realization).summary()
            rows.append(
                {
                    "image": m,
                    "sigma_um": self._sigma_column(m, s),
                    "realization": realization,
                    "n_pores": summ["n_pores"],
                    "recovery_pct": 100.0 * pore_recovery(summ["n_pores"], gt["n_pores"]),
                    "porosity": summ["porosity"],
                    "porosity_error_pct": relative_error_pct(summ["porosity"], gt["porosity"]),
                    "mean_sphericity": summ["mean_sphericity"],
                    "sphericity_error_pct": relative_error_pct(
                        summ["mean_sphericity"], gt["mean_sphericity"]
                    ),
                    "n_sphericity_clipped": summ["n_sphericity_clipped"],
                    "threshold": summ["threshold"],
                    "n_edge_killed": summ["n_edge_killed"],
                }
            )
        return pd.DataFrame(rows)

    def pore_sizes(
        self, realization: str | None = None, methods: tuple[str, ...] = PORE_METHODS
    ) -> pd.DataFrame:
        """Every segmented pore of every image: ``image``, ``sigma_um``, diameter, sphericity."""
        realization = realization or self.realization
        frames = []
        for m, s in self._reference_and(methods):
            t = self.pores(m, s, realization).table
            frames.append(
                pd.DataFrame(
                    {
                        "image": m,
                        "sigma_um": self._sigma_column(m, s),
                        "realization": realization,
                        "diameter_um": t["diameter_um"].to_numpy(),
                        "sphericity": t["sphericity"].to_numpy(),
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)

    def sphericity_table(
        self, realization: str | None = None, methods: tuple[str, ...] = PORE_METHODS
    ) -> pd.DataFrame:
        """Return the sphericity statistics per image (Figure 7).

        Columns ``realization``, ``image``, ``sigma_um``, then
        :func:`~xrsr_lib.evaluate.pores.sphericity_statistics` (``count``, ``mean``, ``std``, ``min``,
        ``median`` of Ψ, dimensionless) and ``n_sphericity_clipped`` (pores whose raw Ψ exceeded 1).
        """
        realization = realization or self.realization
        rows = []
        for m, s in self._reference_and(methods):
            analysis = self.pores(m, s, realization)
            rows.append(
                {
                    "realization": realization,
                    "image": m,
                    "sigma_um": self._sigma_column(m, s),
                    **sphericity_statistics(analysis.table["sphericity"].to_numpy()),
                    "n_sphericity_clipped": int(analysis.n_sphericity_clipped),
                }
            )
        return pd.DataFrame(rows)
