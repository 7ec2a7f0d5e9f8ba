"""What study A reports, as checkable statements (``../shared/study.md``, "Reported numbers").

The paper gives few exact numbers; most statements are bounds ("DeepNet recovers > 95 % of the
pores at 3, 5 and 7 µm"). Each one is a :class:`Reported` with the quantity it constrains, so the
summary table can put the measured value beside it and say whether it holds
(:func:`xrsr_lib.studies.study_a.paper.compare_with_paper`).

Quantities are columns of :func:`xrsr_lib.studies.study_a.evaluation.StudyAEvaluation.measured_table`:
``ssim``, ``recovery_pct`` (pores found / ground-truth pores, edge-killed), ``porosity_error_pct``
(relative to the ground truth's porosity), ``mean_sphericity``, ``sphericity_error_pct``,
``n_pores`` (ground truth).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

__all__ = ["ORDER_METRICS", "STUDY_A_REPORTED", "Op", "Reported"]

Op = Literal[">", "<", "approx", "abs<="]


@dataclass(frozen=True)
class Reported:
    """One statement of study A about one quantity of one method at some input blurs.

    Parameters
    ----------
    method : str
        ``gt``, ``rl``, ``rl_nlm``, ``srcnn`` or ``deepnet`` (the image the statement is about).
    quantity : str
        Column of the measured table.
    sigmas_um : tuple of float
        Input blurs it is stated for (empty for the ground truth).
    op, value, tolerance : the check: ``>``/``<`` value, ``approx`` (``|x − value| ≤ tolerance``)
        or ``abs<=`` (``|x| ≤ value``).
    text : str
        The statement as the paper makes it.
    profiles : tuple of str
        Profiles the statement can be compared with (counts depend on the volume size).
    """

    method: str
    quantity: str
    sigmas_um: tuple[float, ...]
    op: Op
    value: float
    text: str
    tolerance: float = 0.0
    profiles: tuple[str, ...] = ("smoke", "cpu", "paper")

    def holds(self, measured: float) -> bool | None:
        """Whether ``measured`` satisfies the statement (None when it is not a number)."""
        if measured is None or not math.isfinite(measured):
            return None
        if self.op == ">":
            return measured > self.value
        if self.op == "<":
            return measured < self.value
        if self.op == "approx":
            return abs(measured - self.value) <= self.tolerance
        if self.op == "abs<=":
            return abs(measured) <= self.value
        raise ValueError(f"unknown comparison {self.op!r}")


#: Study A's statements about the alternate realization (unless noted), in the paper's order.
STUDY_A_REPORTED: tuple[Reported, ...] = (
    Reported(
        "gt",
        "n_pores",
        (),
        "approx",
        1380,
        "1,380 pores (512³, edge-killed)",
        tolerance=69,
        profiles=("paper",),
    ),
    Reported("gt", "mean_sphericity", (), "approx", 0.990, "mean sphericity 0.990", tolerance=0.01),
    Reported("deepnet", "recovery_pct", (3.0, 5.0, 7.0), ">", 95.0, "> 95 % of the pores"),
    Reported("deepnet", "recovery_pct", (9.0,), ">", 85.0, "> 85 % of the pores"),
    Reported("deepnet", "porosity_error_pct", (3.0, 5.0, 7.0, 9.0), "abs<=", 6.0, "porosity within 6 %"),
    Reported(
        "deepnet",
        "sphericity_error_pct",
        (3.0, 5.0, 7.0),
        "abs<=",
        5.0,
        "mean sphericity within 5 % (up to 7:1)",
    ),
    Reported("srcnn", "recovery_pct", (9.0,), "approx", 60.0, "about 60 % of the pores", tolerance=10.0),
    Reported("srcnn", "porosity_error_pct", (3.0, 5.0, 7.0, 9.0), "abs<=", 10.0, "porosity within 10 %"),
    Reported("rl", "ssim", (3.0,), "approx", 0.94, "SSIM ≈ 0.94", tolerance=0.02),
    Reported("rl_nlm", "recovery_pct", (3.0,), "<", 90.0, "< 90 % of the pores"),
    Reported("rl_nlm", "porosity_error_pct", (3.0,), ">", 0.0, "porosity over-estimated"),
)

#: "Order in every metric and every σ: DeepNet > SRCNN > RL" — the metrics it is checked on, with
#: the direction that is better and which RL image stands for RL.
ORDER_METRICS: dict[str, tuple[str, str]] = {
    "mse": ("lower", "rl"),
    "psnr": ("higher", "rl"),
    "ssim": ("higher", "rl"),
    "abs_recovery_error_pct": ("lower", "rl_nlm"),
    "abs_porosity_error_pct": ("lower", "rl_nlm"),
    "abs_sphericity_error_pct": ("lower", "rl_nlm"),
    "effective_sigma_um": ("lower", "rl"),
}
