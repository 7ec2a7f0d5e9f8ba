"""Study A's trust maps: computed without ground truth, calibrated on the held-out slab, checked with it.

::

    study models(method, σ, seed 0..K-1), trained below the held-out slab -> K members
    held-out slab (never trained on) + its 1 µm scan          -> conformal rule per signal, input domain
    alternate realization (unseen)                            -> signals, intervals, pore flags
    alternate realization + its truth                         -> AUROC, Spearman, coverage, pore scores

The training realization's held-out slab (``profile.held_out``: its top slices and a gap below
them), on which every network of the study is validated and none trains, plays the part of the
held-out blocks of a real scan's overlap, so the errors measured there are those of unseen
material. Member 0 is the study's own model (figures 3-9); member k is the same training with
seed k (the models of the seed spread, notebook 17). Signals
(:mod:`xrsr_lib.evaluate.trust.signals`): ``tta`` (member 0 under ``tta_transforms`` in-plane
symmetries), ``ensemble`` (the K members; only when ``ensemble_size >= 2``), ``consistency``
(member 0 blurred by the HRES -> LRES blur fitted on the calibration slab, against the input).
Intervals are calibrated against the 1 µm scan (what an overlap provides) and their coverage is
checked against the alternate realization's 1 µm scan; AUROC and Spearman use the ground truth
of ``evaluation.reference`` (by default study A's dense-view, noise-free FDK), as Figure 8 does.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, cast

import numpy as np
from scipy import ndimage

from xrsr_lib.config import TRUST_SIGNALS, TrustConfig
from xrsr_lib.evaluate.pores import segment_pores
from xrsr_lib.evaluate.resolution import gaussian_fit
from xrsr_lib.evaluate.trust import (
    InputDomain,
    auroc,
    block_features,
    calibrate,
    data_consistency,
    empirical_coverage,
    ensemble_spread,
    hallucinated_pores,
    invert_yx,
    local_mean,
    pore_flags,
    precision_recall,
    spearman,
    transform_yx,
)
from xrsr_lib.evaluate.trust.signals import DIHEDRAL_YX
from xrsr_lib.infer.loaded import LoadedModel
from xrsr_lib.studies.study_a.evaluation import StudyAEvaluation
from xrsr_lib.studies.study_a.methods import StudyA
from xrsr_lib.studies.study_a.seeds import seeded_profile

__all__ = ["StudyATrust"]

log = logging.getLogger(__name__)


class StudyATrust:
    """Trust maps of study A's trained methods (see the module docstring)."""

    def __init__(self, evaluation: StudyAEvaluation, config: TrustConfig | None = None) -> None:
        self.evaluation = evaluation
        self.study = evaluation.study
        self.profile = self.study.profile
        self.cache = self.study.cache
        self.data = self.study.data
        self.config = config or self.profile.trust
        for m in self.config.methods:
            if m not in ("deepnet", "srcnn"):
                raise ValueError(f"trust.methods: unknown trained method {m!r}")

    # ------------------------------------------------------------------ the split and the members
    def slabs(self) -> tuple[int, int]:
        """Return ``(train_end, calibration_start)``: the study's held-out split.

        See :meth:`~xrsr_lib.studies.study_a.methods.StudyA.held_out_slabs`.
        """
        return self.study.held_out_slabs()

    def signal_names(self) -> tuple[str, ...]:
        """Return the signals computed: :data:`TRUST_SIGNALS`, without ``ensemble`` for a single member."""
        return tuple(s for s in TRUST_SIGNALS if s != "ensemble" or self.config.ensemble_size > 1)

    def _member_study(self, method: str, member: int) -> StudyA:
        if member == 0:
            return self.study
        seed = getattr(self.profile.methods, method).training.seed + member
        return StudyA(
            seeded_profile(self.profile, seed),
            self.cache,
            device=self.study.device,
            progress=self.study.progress,
        )

    def model_params(self, method: str, sigma_um: float, member: int) -> dict[str, Any]:
        """Return the cache parameters of member ``member``: the study model with seed ``seed + member``."""
        return self._member_study(method, member).model_params(method, sigma_um)

    def _trained(self, method: str, sigma_um: float, member: int) -> Path:
        """Folder of member ``member`` of the (method, σ) ensemble, training it first if needed."""
        return self._member_study(method, member).train(method, sigma_um)

    def model(self, method: str, sigma_um: float, member: int = 0) -> LoadedModel:
        """Return member ``member`` of the (method, σ) ensemble (member 0: the study's model)."""
        return LoadedModel.load(self._trained(method, sigma_um, member), device=self.study.device)

    # ------------------------------------------------------------------ predictions
    def _realization(self, region: str) -> str:
        """Return the realization of a region: ``calibration`` (the training one's top slab) or ``target``."""
        return self.profile.training_realization if region == "calibration" else self.evaluation.realization

    def _inputs(self, sigma_um: float, region: str) -> tuple[np.ndarray, int]:
        """Return the σ input of a region and the first slice of it that is scored (context above that)."""
        vol = self.data.load_volume(self.data.reconstruction(self._realization(region), sigma_um))
        if region == "target":
            return vol, 0
        start = self.slabs()[1]
        context = min(start, 16)
        return vol[start - context :], context

    def predictions(self, method: str, sigma_um: float, region: str) -> Path:
        """Return the cached ``.npz``: member predictions (identity) and member 0 under each TTA symmetry."""
        realization = self._realization(region)
        c = self.config
        params = {
            "models": [self.model_params(method, sigma_um, m) for m in range(c.ensemble_size)],
            "input": self.data.reconstruction_params(realization, sigma_um),
            "region": region,
            "slabs": self.slabs() if region == "calibration" else None,
            "tta": c.tta_transforms,
            "inference": getattr(self.profile.methods, method).inference.model_dump(),
        }

        def build(tmp: Path) -> None:
            x, skip = self._inputs(sigma_um, region)
            out: dict[str, np.ndarray] = {}
            for m in range(c.ensemble_size):
                model = self.model(method, sigma_um, m)
                transforms = DIHEDRAL_YX[: c.tta_transforms] if m == 0 else DIHEDRAL_YX[:1]
                for i, (k, flip) in enumerate(transforms):
                    if region == "target" and m == 0 and i == 0:  # the study's own prediction (cached)
                        y = self.study.load(method, sigma_um, realization)
                        out["member0"] = np.ascontiguousarray(y[skip:], np.float32)
                        continue
                    y = invert_yx(
                        model.predict(
                            np.ascontiguousarray(transform_yx(x, k, flip)),
                            progress=self.study.progress,
                            **params["inference"],
                        ),
                        k,
                        flip,
                    )
                    out[f"member{m}" if i == 0 else f"tta{i}"] = np.ascontiguousarray(y[skip:], np.float32)
            with open(tmp, "wb") as f:
                np.savez(f, **cast(dict[str, Any], out))

        for m in range(c.ensemble_size):  # trained before, so the build time is the predictions'
            self._trained(method, sigma_um, m)
        return self.cache.get_or_build("trust_prediction", params, build, suffix=".npz")

    def signals(
        self,
        method: str,
        sigma_um: float,
        region: str,
        blur_sigma: float,
        inputs: tuple[np.ndarray, int] | None = None,
    ) -> dict[str, np.ndarray]:
        """Return the prediction (member 0) and the three signal maps of a region.

        ``inputs`` is the region's :meth:`_inputs`, when already loaded.
        """
        c = self.config
        with np.load(self.predictions(method, sigma_um, region)) as z:
            members = [z[f"member{m}"] for m in range(c.ensemble_size)]
            tta = [members[0], *(z[f"tta{i}"] for i in range(1, c.tta_transforms))]
        x, skip = inputs if inputs is not None else self._inputs(sigma_um, region)
        pred = members[0]
        return {
            "prediction": pred,
            "input": x[skip:],
            "tta": local_mean(ensemble_spread(tta)[1], c.smooth_voxels),  # the spread over the symmetries
            **(
                {"ensemble": local_mean(ensemble_spread(members)[1], c.smooth_voxels)}
                if len(members) > 1
                else {}
            ),
            "consistency": data_consistency(pred, x[skip:], blur_sigma, c.consistency_smooth_voxels),
        }

    # ------------------------------------------------------------------ calibration and scores
    def _hres(self, realization: str) -> np.ndarray:
        return self.data.load_volume(
            self.data.reconstruction(realization, self.profile.degrade.hres_sigma_um)
        )

    def scores(self, method: str, sigma_um: float) -> tuple[dict[str, Any], Path]:
        """Score the trust validation of (method, σ) (cached).

        Returns every number of the trust validation for (method, σ), and the cached ``.npz`` that
        holds them (``result``, JSON) with the figure's central slices.
        """
        params = self._score_params(method, sigma_um)
        path = self.cache.get_or_build(
            "trust_scores", params, lambda tmp: self._score(method, sigma_um, tmp), suffix=".npz"
        )
        with np.load(path) as z:
            return json.loads(str(z["result"])), path

    def all_scores(self) -> tuple[list[dict[str, Any]], dict[tuple[str, float], Path]]:
        """:meth:`scores` of every configured (method, σ): the results and their ``.npz`` files."""
        results, files = [], {}
        for method in self.config.methods:
            for s in self.config.sigmas_um:
                r, path = self.scores(method, s)
                results.append(r)
                files[(method, s)] = path
        return results, files

    def _score_params(self, method: str, sigma_um: float) -> dict[str, Any]:
        return {
            "predictions": [self.predictions(method, sigma_um, r).stem for r in ("calibration", "target")],
            "config": self.config.key_dict(),
            "pores": self.evaluation.pore_config.model_dump(),
            "truth": self.evaluation.image_path("gt", realization=self.evaluation.realization).stem,
        }

    def _score(self, method: str, sigma_um: float, tmp: Path) -> None:
        c, ev = self.config, self.evaluation
        start = self.slabs()[1]
        mask_all = ev.foam_mask()
        # calibration: blur fitted on the slab, then one conformal rule per signal
        train = self.profile.training_realization
        hres_cal = self._hres(train)[start:]
        x_cal = self._inputs(sigma_um, "calibration")
        mask_cal = mask_all[start:]
        top = 1.5 * sigma_um / self.profile.volume.voxel_size_um
        fit = gaussian_fit(
            x_cal[0][x_cal[1] :],
            hres_cal,
            sigmas=np.arange(0.0, top + 0.05, 0.1),
            mask=mask_cal,
            device=self.study.device,
        )
        blur = float(fit.refined_sigma["result"])
        cal = self.signals(method, sigma_um, "calibration", blur, inputs=x_cal)
        err_cal = np.abs(cal["prediction"] - hres_cal)
        rules = {s: calibrate(cal[s], err_cal, c.coverage, mask=mask_cal) for s in self.signal_names()}
        domain = InputDomain.fit(block_features(cal["input"], c.domain_block, mask_cal)[0], c.domain_level)
        # the unseen realization
        alt = ev.realization
        tgt = self.signals(method, sigma_um, "target", blur)
        gt = ev.image("gt", realization=alt)  # evaluation.reference: dense-view FDK by default
        hres = self._hres(alt)
        pred = tgt["prediction"]
        err_gt, err_hres = np.abs(pred - gt), np.abs(pred - hres)
        inside = mask_all
        worst = err_gt[inside] >= np.quantile(err_gt[inside], 1 - c.worst_fraction)
        ms = ev.ms_ssim(pred, gt)
        bad_ms = 1.0 - ms.combined_map()
        rows = []
        for s in self.signal_names():
            hw = rules[s].halfwidth(tgt[s])
            rows.append(
                {
                    "signal": s,
                    "auroc_worst": auroc(tgt[s][inside], worst),
                    "spearman_abs_error": spearman(tgt[s][inside], err_gt[inside]),
                    "spearman_1_msssim": spearman(tgt[s][inside], bad_ms[inside]),
                    "coverage": empirical_coverage(hw, err_hres, inside),
                    "coverage_calibration": empirical_coverage(rules[s].halfwidth(cal[s]), err_cal, mask_cal),
                    "mean_halfwidth": float(hw[inside].mean()),
                    "quantile": rules[s].quantile,
                }
            )
        # pores: hallucinated and missed ones against each signal's flags
        seg = segment_pores(pred, ev.foam_mask(inner=False), ev.voxel_size_um, ev.pore_config)
        seg_gt = segment_pores(gt, ev.foam_mask(inner=False), ev.voxel_size_um, ev.pore_config)
        halluc = hallucinated_pores(seg.labels, seg_gt.labels > 0, c.hallucination_overlap)
        missed = hallucinated_pores(seg_gt.labels, seg.labels > 0, c.hallucination_overlap)
        matrix = inside & (seg.pore_mask == 0) & (seg_gt.pore_mask == 0)
        n_gt = int(seg_gt.labels.max())
        flagged = {}
        for row in rows:
            signal = str(row["signal"])
            hw = rules[signal].halfwidth(tgt[signal])
            flags = pore_flags(seg.labels, pred, hw, seg.threshold, c.doubtful_fraction)
            doubtful = flags["doubtful"].to_numpy(bool)
            precision, recall = precision_recall(doubtful, halluc)
            could_be_pore = (pred - hw < seg.threshold).astype(np.float64)
            frac = ndimage.mean(could_be_pore, seg_gt.labels, np.arange(1, n_gt + 1)) if n_gt else []
            row.update(
                {
                    "n_doubtful": int(doubtful.sum()),
                    "doubtful_precision": precision,
                    "doubtful_recall": recall,
                    "auroc_pore": auroc(-flags["margin"].to_numpy(), halluc)
                    if 0 < halluc.sum() < len(halluc)
                    else float("nan"),
                    "missed_flagged": int((missed & (np.asarray(frac) > c.doubtful_fraction)).sum()),
                    "matrix_flagged_fraction": float(could_be_pore[matrix].mean()),
                }
            )
            flagged[row["signal"]] = (hw, flags["label"].to_numpy()[doubtful])
        hw, doubtful_labels = flagged[c.score]
        # the input domain: the unseen realization should look like the calibration slab, another σ not
        ood_target = domain.out_of_domain(block_features(tgt["input"], c.domain_block, inside)[0])
        other = [s for s in self.profile.degrade.lres_sigmas_um if s != sigma_um]
        far = max(other, key=lambda s: abs(s - sigma_um)) if other else None
        ood_other = None
        if far is not None:
            x_far = self.data.load_volume(self.data.reconstruction(alt, far))
            ood_other = float(domain.out_of_domain(block_features(x_far, c.domain_block, inside)[0]).mean())
        pores = {
            "n_pores": int(seg.n_pores),
            "n_truth": n_gt,
            "n_hallucinated": int(halluc.sum()),
            "n_missed": int(missed.sum()),
            "out_of_domain_fraction": float(ood_target.mean()),
            "other_sigma": far,
            "out_of_domain_fraction_other_sigma": ood_other,
        }
        result = {
            "method": method,
            "sigma_um": sigma_um,
            "blur_sigma_voxels": blur,
            "score": c.score,
            "coverage_nominal": c.coverage,
            "signals": rows,
            "pores": pores,
            "msssim": float(ms.score),
            # how the paper's map itself ranks the errors, voxel by voxel (the reference for the signals)
            "spearman_error_vs_1_msssim": spearman(err_gt[inside], bad_ms[inside]),
        }
        # with the figure's slices: mid-z of the unseen realization
        z = pred.shape[0] // 2
        with open(tmp, "wb") as f:
            np.savez(
                f,
                result=np.array(json.dumps(result, default=float)),
                input=tgt["input"][z],
                prediction=pred[z],
                truth=gt[z],
                bad_msssim=bad_ms[z],
                halfwidth=hw[z],
                error=err_gt[z],
                doubtful=np.isin(seg.labels[z], doubtful_labels),
                hallucinated=np.isin(seg.labels[z], np.flatnonzero(halluc) + 1),
                mask=inside[z],
            )
