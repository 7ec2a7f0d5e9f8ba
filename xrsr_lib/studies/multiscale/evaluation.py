"""Scores of the multiscale workflow (Figure 12): registration errors, effective resolution, pores.

Images are compared on one grid (the hres scan's, 1 µm, or the LFOV's, 3 µm) after their grey
scale is mapped onto the reference's (:func:`~xrsr_lib.evaluate.quality.match_grey_scale`): each
scan has its own gain and offset. Two references: the 1 µm scan, as the paper had, and the exact
phantom, which the paper could not have. Pores are segmented with the study's workflow
(:func:`~xrsr_lib.evaluate.pores.analyse_pores`), with a smaller minimum size so that the small
pores of the sample count.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xrsr_lib import io
from xrsr_lib.config import PoreAnalysisConfig
from xrsr_lib.evaluate.pores import analyse_pores, size_histogram
from xrsr_lib.evaluate.quality import match_grey_scale, psnr
from xrsr_lib.evaluate.resolution import gaussian_fit
from xrsr_lib.prepare.pose import Pose
from xrsr_lib.simulate.multiscale import exact_phantom
from xrsr_lib.studies.multiscale.methods import MultiscaleStudy

log = logging.getLogger(__name__)

__all__ = ["HRES_IMAGES", "IMAGE_LABELS", "LFOV_IMAGES", "MultiscaleEvaluation"]

#: Images scored on the hres grid, in figure order, and on the LFOV grid.
HRES_IMAGES = ("lres", "lfov", "mres", "mres_3to1", "chain", "hres")
LFOV_IMAGES = ("lres", "lfov")
#: Display names.
IMAGE_LABELS = {
    "lres": "9 µm scan (resampled)",
    "lfov": "9→3 model",
    "mres": "3 µm scan (resampled)",
    "mres_3to1": "3→1 model on the 3 µm scan",
    "chain": "9→3→1 chain",
    "hres": "1 µm scan",
    "phantom": "exact phantom",
}


class MultiscaleEvaluation:
    """Cached tables of one profile's multiscale workflow."""

    def __init__(self, study: MultiscaleStudy) -> None:
        self.study = study
        self.cache = study.cache
        self.config = study.config
        #: σ grid of the Gaussian fits, µm (the profile's, as for study A's Figure 9)
        self.fit_sigmas_um = np.asarray(study.profile.evaluation.gaussian_fit_sigmas_um())
        self.pore_config = PoreAnalysisConfig(min_pore_diameter_um=2.0, surface_margin_um=0.0)

    def _key(self) -> dict[str, Any]:
        s = self.study
        return {
            "lfov": s.lfov_params(),
            "chain_model": s.model_params("3to1"),
            "inference": s.inference(),
            "pores": s.pores_params(),
            "hres": s.registration_params("hres"),
        }

    # ------------------------------------------------------------------ registration
    def registration_table(self) -> pd.DataFrame:
        """Tabulate how well every fine scan was registered.

        Per fine scan: recorded and registered pose errors against the true pose (fine voxels,
        degrees), peak ratio and correlations.
        """
        rows = []
        true_poses = self.study.true_poses()
        for scan in self.config.scans[1:]:
            reg = self.study.registration(scan.name)
            true = Pose.from_dict(true_poses[scan.name])
            found = Pose.from_dict(reg["pose"])
            recorded = Pose.from_dict(self.study.scan_attrs(scan.name)["recorded_pose"])
            err = (np.asarray(found.center_um) - true.center_um) / scan.voxel_size_um
            err0 = (np.asarray(recorded.center_um) - true.center_um) / scan.voxel_size_um
            rows.append(
                {
                    "scan": scan.name,
                    "voxel_size_um": scan.voxel_size_um,
                    "recorded_error_voxels": float(np.abs(err0).max()),
                    "error_z_voxels": err[0],
                    "error_y_voxels": err[1],
                    "error_x_voxels": err[2],
                    "error_voxels": float(np.abs(err).max()),
                    "true_angle_deg": true.angle_deg,
                    "angle_deg": found.angle_deg,
                    "angle_error_deg": found.angle_deg - true.angle_deg,
                    **{k: reg["report"][k] for k in ("peak_ratio", "correlation", "correlation_initial")},
                }
            )
        return pd.DataFrame(rows)

    # ------------------------------------------------------------------ images on the hres grid
    def images(self, grid: str = "hres") -> dict[str, np.ndarray]:
        """Every image of the chain on the ``hres`` grid, plus ``phantom``."""
        names = (*HRES_IMAGES, "phantom")
        return {n: np.asarray(self.study.on_grid(n, grid), dtype=np.float32) for n in names}

    def scores(self) -> pd.DataFrame:
        """Score every image of the chain on the hres grid (cached).

        Per image on the hres grid: PSNR against the phantom (grey scale matched), effective
        resolution against the 1 µm scan and against the phantom (σ, µm), pores found, small pores
        found, porosity and total pore volume.
        """
        params = {
            "key": self._key(),
            "pores": self.pore_config.model_dump(),
            "version": 1,
            "fit_sigmas_um": self.fit_sigmas_um.tolist(),
        }

        def build(tmp: Path) -> None:
            imgs = self.images()
            voxel = self.config.scan("hres").voxel_size_um
            phantom, hres = imgs["phantom"], imgs["hres"]
            small_um = 2 * self.config.sample.small_radius_um[1] + voxel  # diameters of the small population
            rows = []
            for name in (*HRES_IMAGES, "phantom"):
                img = imgs[name]
                on_phantom = match_grey_scale(img, phantom)[0]
                fits = {}
                for ref_name, ref, matched in (
                    ("hres", hres, match_grey_scale(img, hres)[0]),
                    ("phantom", phantom, on_phantom),
                ):
                    fit = gaussian_fit({"x": matched}, ref, sigmas=self.fit_sigmas_um / voxel, progress=False)
                    fits[ref_name] = float(fit.refined_sigma["x"]) * voxel
                pores = analyse_pores(on_phantom, np.ones(img.shape, bool), voxel, self.pore_config)
                d = pores.table["diameter_um"].to_numpy() if pores.n_pores else np.zeros(0)
                rows.append(
                    {
                        "image": name,
                        "psnr_vs_phantom": psnr(on_phantom, phantom, data_range=1.0),
                        "sigma_vs_hres_um": fits["hres"],
                        "sigma_vs_phantom_um": fits["phantom"],
                        "n_pores": int(pores.n_pores),
                        "n_small_pores": int((d <= small_um).sum()),
                        "porosity": float(pores.porosity),
                        "pore_volume_um3": float(pores.table["volume_um3"].sum()) if pores.n_pores else 0.0,
                        "diameters_um": " ".join(f"{v:.2f}" for v in d),
                    }
                )
            io.write_table(tmp, pd.DataFrame(rows), params)

        return io.read_table(self.cache.get_or_build("ms_scores", params, build))[0]

    def size_distributions(self, bin_um: float = 2.0) -> pd.DataFrame:
        """Pore-size histograms of every image on the hres grid (long table: image, bin, count)."""
        table = self.scores()
        diam = {
            r.image: np.array([float(v) for v in str(r.diameters_um).split()]) for r in table.itertuples()
        }
        top = max([d.max() for d in diam.values() if d.size] + [bin_um])
        rows = []
        for name, d in diam.items():
            counts, edges = size_histogram(d, bin_um, math.ceil(top / bin_um) * bin_um)
            rows += [
                {"image": name, "bin_low_um": lo, "bin_high_um": hi, "count": int(c)}
                for lo, hi, c in zip(edges[:-1], edges[1:], counts, strict=True)
            ]
        return pd.DataFrame(rows)

    # ------------------------------------------------------------------ the LFOV
    def lfov_scores(self) -> pd.DataFrame:
        """Score the 9 µm scan and the 9->3 model's output over the LFOV (cached).

        On the LFOV grid (3 µm, inside the sample): PSNR and effective resolution of the
        resampled 9 µm scan and of the 9->3 model's output against the exact phantom.
        """
        params = {"key": self._key(), "version": 1, "fit_sigmas_um": self.fit_sigmas_um.tolist()}

        def build(tmp: Path) -> None:
            shape, voxel = self.study.lfov_grid()
            lres, attrs = self.study.scan(self.config.scans[0].name)
            from xrsr_lib.prepare.masks import cylinder_mask
            from xrsr_lib.prepare.resample import resample

            phantom = exact_phantom(
                self.study.pores(),
                self.config.sample.cylinder_radius_um,
                0.0,
                (0.0, 0.0, 0.0),
                shape[0],
                voxel,
            )
            inner_um = self.config.sample.cylinder_radius_um - 3 * voxel
            mask = np.ascontiguousarray(cylinder_mask(shape, inner_um / voxel))
            images = {
                "lres": resample(lres, attrs["voxel_size_um"], shape, voxel, Pose(), order=3)[0],
                "lfov": np.asarray(self.study.lfov()),
            }
            rows = []
            for name, img in images.items():
                matched = match_grey_scale(img, phantom, mask)[0]
                fit = gaussian_fit(
                    {"x": matched}, phantom, sigmas=self.fit_sigmas_um / voxel, mask=mask, progress=False
                )
                rows.append(
                    {
                        "image": name,
                        "psnr_vs_phantom": psnr(matched, phantom, data_range=1.0, mask=mask),
                        "sigma_vs_phantom_um": float(fit.refined_sigma["x"]) * voxel,
                    }
                )
            io.write_table(tmp, pd.DataFrame(rows), params)

        return io.read_table(self.cache.get_or_build("ms_lfov_scores", params, build))[0]
