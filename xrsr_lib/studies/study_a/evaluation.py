"""Study A's evaluation (figures 3-9): every score of every result, cached like the data.

::

    image(method, σ, realization) + ground truth -> quality (MSE, PSNR, SSIM)
                                                 -> MS-SSIM score and local quality map
    image(method, σ, realization) + foam mask    -> pore analysis (count, porosity, sizes, sphericity)
    all images of a realization + ground truth   -> Gaussian fit (MSE vs blur of the truth)

An *image* is one of: ``gt`` (the ground truth of setting ``evaluation.reference``: by default study
A's dense-view, noise-free FDK; see :meth:`DatasetBuilder.reference`), ``phantom`` (the exact
voxelized phantom, reported beside it), ``hres`` (the 1 µm FDK reconstruction), ``fdk``
(the σ µm input) or a method's prediction (``rl``, ``rl_nlm``, ``srcnn``, ``deepnet``; see
:mod:`xrsr_lib.studies.study_a.methods`). Each score is cached under ``cache/<stage>/`` keyed by
the image's own cache key and the scoring settings, so a re-run only scores what changed.
Everything is measured inside the foam's bulk (the phantom's cylinder), the region the study's
masks cover. The comparison with the paper is in :mod:`xrsr_lib.studies.study_a.paper`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from xrsr_lib import io
from xrsr_lib.evaluate.msssim import MultiscaleSSIM, ms_ssim_3d
from xrsr_lib.evaluate.pores import (
    PoreAnalysisConfig,
)
from xrsr_lib.evaluate.quality import mse, psnr, ssim
from xrsr_lib.evaluate.resolution import curve_minimum, gaussian_fit
from xrsr_lib.prepare.masks import cylinder_mask
from xrsr_lib.simulate.phantom import void_statistics
from xrsr_lib.studies.study_a.datasets import spheres_to_um
from xrsr_lib.studies.study_a.methods import PREDICTION_METHODS, StudyA
from xrsr_lib.studies.study_a.paper import compare_with_paper
from xrsr_lib.studies.study_a.pore_scores import PORE_METHODS, PoreScores

__all__ = ["PORE_METHODS", "REFERENCE_IMAGES", "SCORED_METHODS", "MSSSIMResult", "StudyAEvaluation"]

log = logging.getLogger(__name__)

#: Images scored per input blur, in the order figures show them.
SCORED_METHODS = ("fdk", *PREDICTION_METHODS)
REFERENCE_IMAGES = ("gt", "phantom", "hres")


@dataclass(frozen=True)
class MSSSIMResult:
    """Global MS-SSIM and where its local quality map is cached."""

    score: float
    scale_means: tuple[float, ...]
    map_path: Path

    def quality_map(self) -> np.ndarray:
        """Return the local MS-SSIM map (z, y, x): weighted product of the per-scale maps."""
        return io.read_volume(self.map_path)[0]


class StudyAEvaluation(PoreScores):
    """Scores study A's results against the ground truth for one profile.

    Parameters
    ----------
    study : StudyA
        Provides the images (and trains / predicts what is missing).
    pore_config : PoreAnalysisConfig, optional
        Segmentation settings, the same for every image.
    progress : bool
        Show progress bars of long steps.
    """

    def __init__(
        self, study: StudyA, pore_config: PoreAnalysisConfig | None = None, progress: bool = True
    ) -> None:
        self.study = study
        self.profile = study.profile
        self.cache = study.cache
        self.data = study.data
        self.config = self.profile.evaluation
        self.pore_config = pore_config or PoreAnalysisConfig(
            surface_margin_um=self.config.foam_mask_margin_um
        )
        self.progress = progress

    # ------------------------------------------------------------------ images
    @property
    def realization(self) -> str:
        """The realization figures 3-9 score (unseen by training)."""
        return self.config.realization

    @property
    def sigmas_um(self) -> tuple[float, ...]:
        """The input blurs σ of the low-resolution scans, µm (``degrade.lres_sigmas_um``)."""
        return self.profile.degrade.lres_sigmas_um

    @property
    def voxel_size_um(self) -> float:
        """The voxel size of every image, µm."""
        return self.profile.volume.voxel_size_um

    def _foam_radius_um(self) -> float:
        radius_um = self.profile.phantom.cylinder_radius_um - self.config.foam_mask_margin_um
        if radius_um <= 0:
            raise ValueError(f"foam_mask_margin_um {self.config.foam_mask_margin_um} leaves no foam")
        return radius_um

    def foam_mask(self, inner: bool = True) -> np.ndarray:
        """Return the foam's bulk: the phantom's cylinder, less its outer shell when ``inner``.

        The shell is ``evaluation.foam_mask_margin_um`` thick; without it (``inner``) is where images
        are scored. The pore analysis takes the whole cylinder and treats the shell as surface itself.
        """
        radius_um = self._foam_radius_um() if inner else self.profile.phantom.cylinder_radius_um
        return np.ascontiguousarray(cylinder_mask(self.profile.volume.shape, radius_um / self.voxel_size_um))

    def _check_image(self, method: str, sigma_um: float | None) -> float | None:
        if method in REFERENCE_IMAGES:
            return self.profile.degrade.hres_sigma_um if method == "hres" else None
        if method not in SCORED_METHODS:
            raise ValueError(
                f"unknown image {method!r}; choose one of {', '.join(REFERENCE_IMAGES + SCORED_METHODS)}"
            )
        if sigma_um is None or float(sigma_um) not in self.sigmas_um:
            raise ValueError(f"{method} needs an input blur σ among {self.sigmas_um}, got {sigma_um}")
        return float(sigma_um)

    def image_path(self, method: str, sigma_um: float | None = None, realization: str | None = None) -> Path:
        """Return the cached file of an image (built, trained or predicted first if missing)."""
        realization = realization or self.realization
        sigma = self._check_image(method, sigma_um)
        if method == "gt" and self.config.reference == "dense_fdk":
            return self.data.reference(realization)
        if method in ("gt", "phantom"):
            return self.data.ground_truth(realization)
        sigma = cast(float, sigma)  # a blurred image: _check_image returned its σ
        if method in ("hres", "fdk"):
            return self.data.reconstruction(realization, sigma)
        return self.study.predict(method, sigma, realization)

    def image(self, method: str, sigma_um: float | None = None, realization: str | None = None) -> np.ndarray:
        """Return an image as an array (z, y, x), material-fraction units."""
        return self.data.load_volume(self.image_path(method, sigma_um, realization))

    def _sigma_column(self, method: str, sigma_um: float | None) -> float:
        """Return the ``sigma_um`` an image gets in tables.

        Its input blur, 1 µm for ``hres``, NaN for ``gt`` and ``phantom``.
        """
        sigma = self._check_image(method, sigma_um)
        return math.nan if sigma is None else sigma

    def _references(self) -> list[tuple[str, float | None]]:
        """``gt``, ``phantom`` (unless it is the ground truth) and ``hres``."""
        extra = [("phantom", None)] if self.config.reference != "phantom" else []
        return [("gt", None), *extra, ("hres", None)]

    def _reference_and(self, methods: tuple[str, ...]) -> list[tuple[str, float | None]]:
        """Return the reference images and every method at every input blur, in table order."""
        return self._references() + [(m, s) for s in self.sigmas_um for m in methods]

    def _image_params(self, method: str, sigma_um: float | None, realization: str) -> dict[str, Any]:
        sigma = self._check_image(method, sigma_um)
        return {
            "image": method,
            "sigma_um": sigma,
            "realization": realization,
            "key": self.image_path(method, sigma, realization).stem,
        }

    def _comparison_params(
        self, method: str, sigma_um: float | None, realization: str, truth: str = "gt"
    ) -> dict[str, Any]:
        """Return what identifies a comparison of an image with ``truth`` inside the foam mask.

        ``truth`` is ``gt`` or ``phantom``.
        """
        if truth not in ("gt", "phantom"):
            raise ValueError(f"truth must be 'gt' or 'phantom', got {truth!r}")
        return {
            "result": self._image_params(method, sigma_um, realization),
            "truth": self._image_params(truth, None, realization),
            "data_range": self.config.data_range,
            "foam_radius_um": self._foam_radius_um(),
        }

    # ------------------------------------------------------------------ scores
    def quality(
        self, method: str, sigma_um: float | None = None, realization: str | None = None, truth: str = "gt"
    ) -> dict[str, float]:
        """Return the MSE, PSNR (dB) and SSIM of an image against ``truth``, inside the foam.

        ``truth`` is the ground truth ``gt``, or the exact ``phantom``.
        """
        realization = realization or self.realization
        params = {
            **self._comparison_params(method, sigma_um, realization, truth),
            "ssim_sigma": self.config.ssim_sigma,
        }

        def build(tmp: Path) -> None:
            result = self.image(method, sigma_um, realization)
            reference = self.image(truth, None, realization)
            mask = self.foam_mask()
            scores = {
                "mse": mse(result, reference, mask=mask),
                "psnr": psnr(result, reference, data_range=self.config.data_range, mask=mask),
                "ssim": ssim(
                    result,
                    reference,
                    data_range=self.config.data_range,
                    mask=mask,
                    sigma=self.config.ssim_sigma,
                ),
            }
            io.write_table(tmp, pd.DataFrame([scores]), params)

        table, _ = io.read_table(self.cache.get_or_build("quality", params, build))
        return {k: float(v) for k, v in table.iloc[0].items()}

    def ms_ssim(self, result: np.ndarray, truth: np.ndarray) -> MultiscaleSSIM:
        """3D MS-SSIM of two volumes with the evaluation's settings, inside the (inner) foam mask."""
        return ms_ssim_3d(
            result,
            truth,
            data_range=self.config.data_range,
            scales=self.config.msssim_scales,
            sigma=self.config.ssim_sigma,
            mask=self.foam_mask(),
        )

    def msssim(
        self, method: str, sigma_um: float | None = None, realization: str | None = None
    ) -> MSSSIMResult:
        """3D multiscale SSIM of an image against the ground truth, with its local quality map."""
        realization = realization or self.realization
        params = {
            **self._comparison_params(method, sigma_um, realization),
            "sigma": self.config.ssim_sigma,
            "scales": self.config.msssim_scales,
        }

        def build(tmp: Path) -> None:
            result, truth = self.image(method, sigma_um, realization), self.image("gt", None, realization)
            ms = self.ms_ssim(result, truth)
            attrs = {
                **params,
                "score": float(ms.score),
                "weights": list(ms.weights),
                "scale_means": [float(v) for v in ms.scale_means],
            }
            io.write_volume(tmp, ms.combined_map(), attrs)

        path = self.cache.get_or_build("msssim", params, build)
        attrs = io.read_attrs(path)
        return MSSSIMResult(float(attrs["score"]), tuple(attrs["scale_means"]), path)

    def gaussian_fit(self, realization: str | None = None) -> pd.DataFrame:
        """Gaussian fit of every image of a realization (``hres`` and all scored methods per σ).

        Returns a long table: ``image``, ``sigma_um`` (input blur; NaN for hres), ``blur_um``
        (σ of the Gaussian applied to the truth) and ``mse``.
        """
        realization = realization or self.realization
        entries = [("hres", None)] + [(m, s) for s in self.sigmas_um for m in SCORED_METHODS]
        fit_sigmas = self.config.gaussian_fit_sigmas_um()
        params = {
            "images": [self._image_params(m, s, realization) for m, s in entries],
            "truth": self._image_params("gt", None, realization),
            "blur_um": list(fit_sigmas),
            "foam_radius_um": self._foam_radius_um(),
            "voxel_size_um": self.voxel_size_um,
        }

        def build(tmp: Path) -> None:
            results = {f"{m}|{s}": self.image(m, s, realization) for m, s in entries}
            fit = gaussian_fit(
                results,
                self.image("gt", None, realization),
                sigmas=np.asarray(fit_sigmas) / self.voxel_size_um,
                mask=self.foam_mask(),
                device=self.study.device,
                progress=self.progress,
            )
            rows = []
            for m, s in entries:
                curve = fit.mse[f"{m}|{s}"]
                rows += [
                    {"image": m, "sigma_um": self._sigma_column(m, s), "blur_um": b, "mse": float(e)}
                    for b, e in zip(fit_sigmas, curve, strict=True)
                ]
            io.write_table(tmp, pd.DataFrame(rows), params)

        return io.read_table(self.cache.get_or_build("gaussfit", params, build))[0]

    # ------------------------------------------------------------------ tables
    def generated_pores_inside(self, realization: str | None = None) -> int:
        """Count the generated voids lying fully inside the volume: what an edge-killed count can find."""
        realization = realization or self.realization
        spheres, _ = io.read_spheres(self.data.phantom(realization))
        s_um = spheres_to_um(spheres, self.profile.phantom.cylinder_radius_um)
        return int(void_statistics(s_um, self.profile.volume.half_height_um)["n_inside"])

    def quality_table(self, realization: str | None = None, truth: str = "gt") -> pd.DataFrame:
        """Return the MSE, PSNR, SSIM against ``truth`` of the references and every method (Figure 3).

        The rows are ``hres`` (and the exact ``phantom`` when the ground truth is another image) and
        every scored method at every σ.
        """
        realization = realization or self.realization
        entries = [(m, s) for m, s in self._references() if m != truth]
        entries += [(m, s) for s in self.sigmas_um for m in SCORED_METHODS]
        return pd.DataFrame(
            [
                {"image": m, "sigma_um": self._sigma_column(m, s), **self.quality(m, s, realization, truth)}
                for m, s in entries
            ]
        )

    def central_slices(
        self, index: int | None = None, realization: str | None = None
    ) -> dict[tuple[str, float | None], np.ndarray]:
        """Return the XY slice ``z = index`` of ``gt`` and of every scored image at every σ (Figure 4).

        ``index`` defaults to the central slice; the slices are keyed ``(image, σ µm)`` (σ None for
        ``gt``), in figure order.
        """
        realization = realization or self.realization
        entries = [("gt", None)] + [(m, s) for m in SCORED_METHODS for s in self.sigmas_um]
        index = self.profile.volume.shape[0] // 2 if index is None else int(index)
        return {(m, s): np.array(self.image(m, s, realization)[index]) for m, s in entries}

    def slice_table(
        self, slices: dict[tuple[str, float | None], np.ndarray], index: int | None = None
    ) -> pd.DataFrame:
        """Return the MSE of every slice of :meth:`central_slices` against the ``gt`` slice.

        MSE is :func:`~xrsr_lib.evaluate.quality.mse`, squared material-fraction units, inside the foam
        mask's slice ``index`` (default the central one). Columns ``image``, ``sigma_um``, ``slice``,
        ``slice_mse``.
        """
        index = self.profile.volume.shape[0] // 2 if index is None else int(index)
        truth, disc = slices[("gt", None)], self.foam_mask()[index]
        return pd.DataFrame(
            [
                {"image": m, "sigma_um": s, "slice": index, "slice_mse": mse(sl, truth, mask=disc)}
                for (m, s), sl in slices.items()
                if m != "gt"
            ],
            columns=["image", "sigma_um", "slice", "slice_mse"],
        )

    def effective_resolution(self, realization: str | None = None) -> pd.DataFrame:
        """Return the argmin of each Gaussian-fit curve: the effective resolution.

        The argmin is :func:`~xrsr_lib.evaluate.resolution.curve_minimum` on the µm grid; the table
        holds the effective resolution σ and FWHM (µm), the MSE there, and whether it is the grid's
        largest σ.
        """
        curves = self.gaussian_fit(realization)
        rows = []
        for (image, sigma), g in curves.groupby(["image", "sigma_um"], dropna=False, sort=False):
            best = curve_minimum(g["blur_um"].to_numpy(), g["mse"].to_numpy())
            rows.append(
                {
                    "image": image,
                    "sigma_um": sigma,
                    "effective_sigma_um": best.sigma,
                    "effective_fwhm_um": best.fwhm,
                    "mse_at_best": best.mse,
                    "at_grid_edge": best.at_grid_edge,
                }
            )
        return pd.DataFrame(rows)

    def measured_table(self, realization: str | None = None) -> pd.DataFrame:
        """One row per (image, σ): every number of figures 3-9 side by side."""
        realization = realization or self.realization
        q = self.quality_table(realization)
        if self.config.reference != "phantom":  # the same scores against the exact phantom, beside
            vs = self.quality_table(realization, truth="phantom")
            q = q.merge(
                vs.rename(columns={c: f"{c}_vs_phantom" for c in ("mse", "psnr", "ssim")}),
                on=["image", "sigma_um"],
                how="outer",
            )
        p = self.pore_table(realization)
        e = self.effective_resolution(realization)
        out = q.merge(p.drop(columns=["realization"]), on=["image", "sigma_um"], how="outer")
        out = out.merge(e, on=["image", "sigma_um"], how="outer")
        out["abs_recovery_error_pct"] = (out["recovery_pct"] - 100.0).abs()
        out["abs_porosity_error_pct"] = out["porosity_error_pct"].abs()
        out["abs_sphericity_error_pct"] = out["sphericity_error_pct"].abs()
        order = {m: i for i, m in enumerate(REFERENCE_IMAGES + SCORED_METHODS)}
        out = out.sort_values(
            ["sigma_um", "image"], key=lambda c: c.map(order) if c.name == "image" else c, na_position="first"
        )
        return out.reset_index(drop=True)

    def summary_table(self, realization: str | None = None) -> pd.DataFrame:
        """Return the measured values beside study A's statements.

        See :func:`~xrsr_lib.studies.study_a.paper.compare_with_paper`.
        """
        return compare_with_paper(self.measured_table(realization), self.profile.name, self.sigmas_um)
