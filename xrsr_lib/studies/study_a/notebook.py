"""The setup shared by study A's figure notebooks (``notebooks/04_*`` … ``10_*``, figures 3-9).

Each of those notebooks starts with::

    from xrsr_lib.studies.study_a.notebook import setup

    nb = setup(profile, figure_dir, cache_dir=cache_dir, device=device)

and then reads the profile, the evaluation, the scored realization, the σ levels and the output
folder from ``nb``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from xrsr_lib.config import Profile, load_profile
from xrsr_lib.io.cache import Cache
from xrsr_lib.plotting import default_figure_dir, save_figure
from xrsr_lib.studies.study_a.evaluation import StudyAEvaluation
from xrsr_lib.studies.study_a.methods import StudyA

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["LOG_FORMAT", "StudyANotebook", "setup"]

LOG_FORMAT = "%(asctime)s %(name)s %(message)s"
"""Format of the log lines the notebooks show (papermill's ``--log-output`` passes them on)."""


@dataclass(frozen=True)
class StudyANotebook:
    """What a study A figure notebook works with, as returned by :func:`setup`.

    Attributes
    ----------
    profile : Profile
        The typed profile (``load_profile(name)``).
    cache : Cache
        The artifact cache every stage reads and fills.
    study : StudyA
        Trains and applies the compared methods (builds only what the cache lacks, on demand).
    evaluation : StudyAEvaluation
        Scores the results against the ground truth.
    figure_dir : Path
        Folder of the figures (PNG, PDF) and tables (CSV, Markdown); exists.
    realization : str
        The realization figures 3-9 score, unseen by training (``profile.evaluation.realization``).
    sigmas_um : tuple of float
        The low-resolution blur levels σ, in µm (``profile.degrade.lres_sigmas_um``).
    """

    profile: Profile
    cache: Cache
    study: StudyA
    evaluation: StudyAEvaluation
    figure_dir: Path
    realization: str
    sigmas_um: tuple[float, ...]

    def summary(self) -> str:
        """One line: profile name, volume size in voxels, scored realization and σ levels in µm."""
        p = self.profile
        return (
            f"profile {p.name}: {p.volume.n_voxels}³ voxels, scoring realization {self.realization!r}, "
            f"σ = {self.sigmas_um} µm"
        )

    def save_figure(self, fig: Figure, name: str) -> list[Path]:
        """Save ``fig`` as ``<figure_dir>/<name>.png`` and ``.pdf``; returns both paths."""
        return save_figure(fig, self.figure_dir, name)


def setup(
    profile: str,
    figure_dir: str | os.PathLike[str] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    device: str | None = None,
    progress: bool = True,
    verbose: bool = True,
) -> StudyANotebook:
    """Configure logging and construct what a study A figure notebook needs; builds nothing.

    Logging is set to level INFO with :data:`LOG_FORMAT` on the root logger (``force=True``:
    replaces handlers installed earlier), as the notebooks have always done.

    Parameters
    ----------
    profile : str
        Profile name: ``smoke``, ``cpu`` or ``paper``.
    figure_dir : path-like, optional
        Output folder, created if missing; default
        :func:`~xrsr_lib.plotting.default_figure_dir` (``figures/<profile>`` in the checkout).
    cache_dir : path-like, optional
        Cache folder; default :func:`~xrsr_lib.io.cache.default_cache_dir` (``$XRSR_CACHE`` if
        set, else ``cache/`` in the checkout).
    device : str, optional
        Torch device (``None``: CUDA when available, else CPU).
    progress : bool
        Show progress bars of long steps (study and evaluation).
    verbose : bool
        Print :meth:`StudyANotebook.summary`.

    Returns
    -------
    StudyANotebook

    Raises
    ------
    ValueError
        If ``profile`` is not a known profile name (nothing is created then).
    """
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, force=True)
    cfg = load_profile(profile)
    out = Path(figure_dir) if figure_dir else default_figure_dir(profile)
    out.mkdir(parents=True, exist_ok=True)
    cache = Cache(cache_dir)
    study = StudyA(cfg, cache, device=device, progress=progress)
    nb = StudyANotebook(
        profile=cfg,
        cache=cache,
        study=study,
        evaluation=StudyAEvaluation(study, progress=progress),
        figure_dir=out,
        realization=cfg.evaluation.realization,
        sigmas_um=cfg.degrade.lres_sigmas_um,
    )
    if verbose:
        print(nb.summary())
    return nb
