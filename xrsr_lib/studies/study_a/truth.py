"""What study A's ground truth holds (Figure 5's check table).

The generated voids, and the pores segmented in the reference image and in the exact phantom.
"""

from __future__ import annotations

from typing import Any

from xrsr_lib.evaluate.pores import share_below_pct
from xrsr_lib.studies.study_a.evaluation import StudyAEvaluation

__all__ = ["SIZE_LIMITS_UM", "ground_truth_check"]

#: Diameters below which study A says pores are lost: RL at 3 µm "mainly below 20 µm", SRCNN at
#: 9 µm "below 25 µm".
SIZE_LIMITS_UM = (20.0, 25.0)


def ground_truth_check(
    evaluation: StudyAEvaluation, realization: str, limits_um: tuple[float, ...] = SIZE_LIMITS_UM
) -> dict[str, Any]:
    """Return one row of the ground-truth check: the generated voids, then per truth its pores.

    The row holds the voids generated fully inside the volume, then for the ground truth (``gt``,
    the setting ``evaluation.reference``) and the exact ``phantom``: the pores segmented
    (edge-killed), their mean sphericity and the share (%) of pores with an equivalent diameter
    below each limit (µm).
    """
    row: dict[str, Any] = {
        "realization": realization,
        "reference": evaluation.config.reference,
        "generated voids fully inside": evaluation.generated_pores_inside(realization),
    }
    evaluation.prefetch_pores([("gt", None), ("phantom", None)], realization)
    for image in ("gt", "phantom"):
        analysis = evaluation.pores(image, None, realization)
        summary = analysis.summary()
        row[f"{image} pores segmented"] = summary["n_pores"]
        row[f"{image} mean sphericity"] = summary["mean_sphericity"]
        for limit in limits_um:
            row[f"{image} % pores < {limit:g} µm"] = share_below_pct(
                analysis.table["diameter_um"].to_numpy(), limit
            )
    return row
