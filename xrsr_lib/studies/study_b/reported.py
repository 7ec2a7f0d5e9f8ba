"""What study B reports: the numbers of its abstract (``../shared/study.md``, "Study B").

They are shown beside the measured values (:mod:`xrsr_lib.studies.study_b.evaluation`), not checked.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["STUDY_B_REPORTED", "ReportedValue"]


@dataclass(frozen=True)
class ReportedValue:
    """One number of the study B abstract (``../shared/study.md``, "Study B")."""

    text: str
    value: float


#: The abstract's numbers. It states neither the scale factor, the test set nor whether "FLOPs"
#: counts multiply-adds; they are shown beside measured values, not checked.
STUDY_B_REPORTED: dict[str, ReportedValue] = {
    "utsr_niqe": ReportedValue("UTSR NIQE", 9.38),
    "utsr_lpips": ReportedValue("UTSR LPIPS", 0.312),
    "utsr_gflops": ReportedValue("UTSR GFLOPs (as reported; multiply-adds here)", 45.72),
    "ablation_niqe": ReportedValue("ablation DCFFN + GMSA NIQE", 10.99),
    "seg_accuracy": ReportedValue("crack segmentation accuracy on UTSR output, %", 99.3),
    "seg_recall_gain": ReportedValue("crack recall gain over the original images, %", 24.5),
    "seg_f1_gain": ReportedValue("crack F1 gain over the original images, %", 19.1),
}
