"""Study B's scores: image quality, cost and crack segmentation of every method, all cached.

::

    prediction(method, scale) + reference ─> quality table  (per test image: PSNR, SSIM, LPIPS, DISTS, NIQE)
    prediction(method, scale) + crack mask ─> segmentation table (per test image: TP, FP, FN, TN)
    model(method, scale)                   ─> parameters, FLOPs / MACs at a stated input size

Tables for notebook 12: :meth:`StudyBEvaluation.comparison_table` (one row per method and
scale), :meth:`~StudyBEvaluation.ablation_table`, :meth:`~StudyBEvaluation.segmentation_table`,
:meth:`~StudyBEvaluation.paper_size_cost` and :meth:`~StudyBEvaluation.paper_comparison`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xrsr_lib import io
from xrsr_lib.evaluate.cracks import segment_cracks, segmentation_scores
from xrsr_lib.evaluate.sr_scores import SR_SCORES, sr_image_scores
from xrsr_lib.studies.study_b.methods import METHOD_LABELS, StudyB
from xrsr_lib.studies.study_b.reported import STUDY_B_REPORTED

__all__ = ["StudyBEvaluation", "pooled_scores"]

log = logging.getLogger(__name__)

_COUNTS = ("tp", "fp", "fn", "tn")


def pooled_scores(counts: pd.DataFrame) -> dict[str, float]:
    """Accuracy, precision, recall and F1 from summed TP / FP / FN / TN (all test pixels pooled).

    Same zero-division rules as :func:`xrsr_lib.evaluate.cracks.segmentation_scores`.
    """
    tp, fp, fn, tn = (float(counts[k].sum()) for k in _COUNTS)
    total = tp + fp + fn + tn
    if total == 0:
        raise ValueError("no pixels to score")
    precision = tp / (tp + fp) if tp + fp else (1.0 if fn == 0 else 0.0)
    recall = tp / (tp + fn) if tp + fn else (1.0 if fp == 0 else 0.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"accuracy": (tp + tn) / total, "precision": precision, "recall": recall, "f1": f1}


class StudyBEvaluation:
    """Scores of study B for one profile (computed once, cached beside the predictions).

    Parameters
    ----------
    study : StudyB
    """

    def __init__(self, study: StudyB) -> None:
        self.study = study
        self.config = study.config
        self.cache = study.cache

    # ------------------------------------------------------------------ per image
    def _input_key(self, method: str, scale: int) -> str:
        if method == "reference":
            return self.cache.path_for("nanoct_split", self.study.split_params("test", scale)).stem
        return self.study.predict(method, scale).stem

    def quality(self, method: str, scale: int) -> pd.DataFrame:
        """Per test image: ``image``, ``psnr``, ``ssim``, ``lpips``, ``dists``, ``niqe``."""
        from tqdm.auto import tqdm

        params = {
            "method": method,
            "scale": int(scale),
            "input": self._input_key(method, scale),
            "lpips_net": self.config.lpips_net,
            "clip": [0, 1],
        }

        def build(tmp: Path) -> None:
            images = self.study.load(method, scale)
            ref = self.study.load("reference", scale)
            rows = [
                {"image": i, **sr_image_scores(a, b, lpips_net=self.config.lpips_net)}
                for i, (a, b) in enumerate(
                    tqdm(
                        list(zip(images, ref, strict=True)),
                        desc=f"scores {method} ×{scale}",
                        disable=not self.study.progress,
                    )
                )
            ]
            io.write_table(tmp, pd.DataFrame(rows), params)

        return io.read_table(self.cache.get_or_build("sr_quality", params, build))[0]

    def segmentation(self, method: str, scale: int) -> pd.DataFrame:
        """Per test image: crack segmentation scores of ``method`` against the crack mask."""
        seg = self.config.segmentation
        params = {
            "method": method,
            "scale": int(scale),
            "input": self._input_key(method, scale),
            "segmentation": seg.model_dump(),
        }

        def build(tmp: Path) -> None:
            images = self.study.load(method, scale)
            masks = self.study.load_split("test", scale)["crack_mask"]
            rows = [
                {"image": i, **segmentation_scores(segment_cracks(a, seg), m)}
                for i, (a, m) in enumerate(zip(images, masks, strict=True))
            ]
            io.write_table(tmp, pd.DataFrame(rows), params)

        return io.read_table(self.cache.get_or_build("sr_segmentation", params, build))[0]

    # ------------------------------------------------------------------ cost
    def cost(self, method: str, scale: int, lr_px: int | None = None) -> dict[str, Any]:
        """Return the parameters, FLOPs and MACs of the method's network, and its training time.

        FLOPs and MACs are counted on a ``1 × 1 × lr_px × lr_px`` input (``torch.utils.flop_counter``;
        default ``lr_px = study_b.flops_lr_px``).
        """
        from xrsr_lib.models import build_model
        from xrsr_lib.models.flops import count_flops

        lr_px = self.config.flops_lr_px if lr_px is None else int(lr_px)
        net = build_model(self.study.variants[method].network, self.study.model_config(method, scale))
        c = count_flops(net, (1, 1, lr_px, lr_px))
        rec = self.study.training_record(method, scale)
        return {
            "params": c["params"],
            "gflops": c["flops"] / 1e9,
            "gmacs": c["macs"] / 1e9,
            "flops_input": f"{lr_px}x{lr_px}",
            "train_minutes": rec["train_seconds"] / 60.0,
            "best_iteration": rec["best_iteration"],
        }

    def paper_size_cost(self, lr_px: int = 64, scale: int = 4) -> pd.DataFrame:
        """Return the FLOPs / MACs of the published-size networks (the ``paper`` profile's architectures).

        They are counted at ``lr_px × lr_px``, ×``scale``, beside the paper's 45.72 G for UTSR.
        """
        from xrsr_lib.config import load_profile
        from xrsr_lib.models import build_model
        from xrsr_lib.models.flops import count_flops

        models = load_profile("paper").study_b.models
        rows = []
        for name, fields in models.items():
            c = count_flops(build_model(name, {**fields, "scale": scale}), (1, 1, lr_px, lr_px))
            rows.append(
                {
                    "method": name,
                    "label": METHOD_LABELS[name],
                    "params_M": c["params"] / 1e6,
                    "gflops": c["flops"] / 1e9,
                    "gmacs": c["macs"] / 1e9,
                    "input": f"{lr_px}x{lr_px}, x{scale}",
                    "paper": STUDY_B_REPORTED["utsr_gflops"].value if name == "utsr" else np.nan,
                }
            )
        return pd.DataFrame(rows)

    # ------------------------------------------------------------------ tables
    def summary_row(self, method: str, scale: int) -> dict[str, Any]:
        """Mean test scores of one method at one scale; cost and training time for trained ones."""
        q = self.quality(method, scale)
        row: dict[str, Any] = {"scale": scale, "method": method, "label": METHOD_LABELS[method]}
        row.update({k: float(q[k].mean()) for k in SR_SCORES})
        if method in self.study.variants:
            row.update(self.cost(method, scale))
        return row

    def comparison_table(self, include_ablations: bool = False) -> pd.DataFrame:
        """One row per (scale, method): mean scores over the test split, cost and training time.

        Rows: ``reference`` (the HR slices against themselves: NIQE of the truth), ``bicubic``, the
        three networks (and the ablations when ``include_ablations``).
        """
        rows = []
        for scale in self.config.scales:
            methods = ["reference", *self.study.methods(scale)]
            if not include_ablations:
                methods = [m for m in methods if m in ("reference", "bicubic") or not self._is_ablation(m)]
            rows += [self.summary_row(m, scale) for m in methods]
        return pd.DataFrame(rows)

    def _is_ablation(self, method: str) -> bool:
        v = self.study.variants.get(method)
        return v is not None and v.ablation is not None

    def ablation_table(self) -> pd.DataFrame:
        """UTSR against each ablation at ``ablation_scale``: mean scores, change against full UTSR."""
        scale = self.config.ablation_scale
        methods = ["utsr", *(m for m in self.study.methods(scale) if self._is_ablation(m))]
        table = pd.DataFrame([self.summary_row(m, scale) for m in methods])
        for k in SR_SCORES:
            table[f"d_{k}"] = table[k] - table.loc[0, k]
        return table

    def segmentation_table(self) -> pd.DataFrame:
        """Return the crack segmentation scores per (scale, method), all test pixels pooled.

        With the change in recall and F1 against bicubic in percentage points and relative %.
        """
        rows = []
        for scale in self.config.scales:
            base = pooled_scores(self.segmentation("bicubic", scale))  # methods(scale) always has bicubic
            for m in ["reference", *self.study.methods(scale)]:
                counts = self.segmentation(m, scale)
                row: dict[str, Any] = {
                    "scale": scale,
                    "method": m,
                    "label": METHOD_LABELS[m],
                    **pooled_scores(counts),
                    "f1_per_image_mean": float(counts["f1"].mean()),
                }
                for k in ("recall", "f1"):
                    row[f"{k}_gain_points"] = 100.0 * (row[k] - base[k])
                    row[f"{k}_gain_rel_pct"] = 100.0 * (row[k] / base[k] - 1.0) if base[k] > 0 else np.nan
                rows.append(row)
        return pd.DataFrame(rows)

    def paper_comparison(
        self,
        comparison: pd.DataFrame | None = None,
        segmentation: pd.DataFrame | None = None,
        paper_cost: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Each number of the study B abstract beside the measured counterpart (per scale).

        The abstract gives values without the data, scale or test set; the measured values are
        on simulated slices, so they are shown side by side, not checked. The orderings the
        paper claims (UTSR ahead of SwinIR and Real-ESRGAN) are checked per metric.
        """
        comp = self.comparison_table() if comparison is None else comparison
        seg = self.segmentation_table() if segmentation is None else segmentation
        cost = self.paper_size_cost() if paper_cost is None else paper_cost
        rows: list[dict[str, Any]] = []

        def add(key: str, measured: float, where: str) -> None:
            r = STUDY_B_REPORTED[key]
            rows.append({"quantity": r.text, "paper": r.value, "measured": measured, "where": where})

        add(
            "utsr_gflops",
            float(cost.loc[cost["method"] == "utsr", "gmacs"].iloc[0]),
            "paper-size UTSR, multiply-adds, " + str(cost["input"].iloc[0]),
        )
        if self.config.ablations:
            a = comp[(comp["scale"] == self.config.ablation_scale) & (comp["method"] == "utsr")]
            add(
                "ablation_niqe",
                float(a["niqe"].iloc[0]),
                f"x{self.config.ablation_scale}, full UTSR (DCFFN + GMSA), test mean",
            )
        for scale in self.config.scales:
            u = comp[(comp["scale"] == scale) & (comp["method"] == "utsr")].iloc[0]
            add("utsr_niqe", float(u["niqe"]), f"x{scale}, test mean")
            add("utsr_lpips", float(u["lpips"]), f"x{scale}, test mean")
            s = seg[(seg["scale"] == scale) & (seg["method"] == "utsr")].iloc[0]
            add("seg_accuracy", 100.0 * float(s["accuracy"]), f"x{scale}, pooled")
            add("seg_recall_gain", float(s["recall_gain_points"]), f"x{scale}, points over bicubic")
            add("seg_f1_gain", float(s["f1_gain_points"]), f"x{scale}, points over bicubic")
            nets = comp[(comp["scale"] == scale) & comp["method"].isin(["utsr", "swinir", "rrdbnet"])]
            for k, lower in SR_SCORES.items():
                best = nets.loc[nets[k].idxmin() if lower else nets[k].idxmax(), "method"]
                rows.append(
                    {
                        "quantity": f"UTSR has the best {k.upper()} of the three networks",
                        "paper": np.nan,
                        "measured": np.nan,
                        "where": f"x{scale}: best is {METHOD_LABELS[best]}",
                        "holds": best == "utsr",
                    }
                )
        return pd.DataFrame(rows)

    # ------------------------------------------------------------------ examples
    def example_crops(self, scale: int, image: int = 0) -> dict[str, Any]:
        """Crops of one test image around its most cracked window, for every method at ``scale``.

        Returns ``{"corner": (row, col), "size": s, "crops": {method: (s, s) array},
        "crack_mask": (s, s) bool, "lr": low-resolution crop}``.
        """
        from xrsr_lib.studies.study_b.methods import crack_rich_window

        size = self.config.example_crop_px
        size -= size % scale
        split = self.study.load_split("test", scale)
        r, c = crack_rich_window(split["crack_mask"][image], size)
        r, c = r - r % scale, c - c % scale
        crops = {
            m: self.study.load(m, scale)[image, r : r + size, c : c + size]
            for m in ["reference", *self.study.methods(scale)]
        }
        lr = split["lr"][image, r // scale : (r + size) // scale, c // scale : (c + size) // scale]
        return {
            "corner": (r, c),
            "size": size,
            "crops": crops,
            "crack_mask": split["crack_mask"][image, r : r + size, c : c + size],
            "lr": lr,
        }
