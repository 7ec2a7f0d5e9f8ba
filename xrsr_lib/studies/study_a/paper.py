"""Study A's measured tables beside what the paper reports (:mod:`xrsr_lib.studies.study_a.reported`).

* :func:`compare_with_paper` – every statement of the paper with the measured value and whether it
  holds, then the ordering "DeepNet > SRCNN > RL" per metric and σ;
* :func:`side_by_side` – measured columns per (image, σ) with the paper's statements about the row.
"""

from __future__ import annotations

import math

import pandas as pd

from xrsr_lib.studies.study_a.reported import ORDER_METRICS, STUDY_A_REPORTED
from xrsr_lib.studies.tables import select_rows

__all__ = ["compare_with_paper", "side_by_side"]


def compare_with_paper(
    measured: pd.DataFrame, profile_name: str, sigmas_um: tuple[float, ...]
) -> pd.DataFrame:
    """Put measured values beside study A's statements and say whether each holds.

    Parameters
    ----------
    measured : DataFrame
        One row per (``image``, ``sigma_um``) with the quantities as columns (the ground truth
        has ``sigma_um`` NaN), as :meth:`StudyAEvaluation.measured_table` returns.
    profile_name : str
        Statements tied to a volume size (pore counts) only apply to their profile.
    sigmas_um : tuple of float
        Input blurs to check the ordering at.

    Returns
    -------
    DataFrame
        Columns ``image``, ``sigma_um``, ``quantity``, ``measured``, ``paper``, ``agrees``: every
        statement of :data:`~xrsr_lib.studies.study_a.reported.STUDY_A_REPORTED` at every σ it names,
        then the ordering "DeepNet > SRCNN > RL" for every metric of
        :data:`~xrsr_lib.studies.study_a.reported.ORDER_METRICS`
        at every σ (``agrees`` then names the measured order).
    """

    def value(image: str, sigma: float | None, quantity: str) -> float:
        sel = select_rows(measured, image, sigma)
        if not sel.any() or quantity not in measured:
            return math.nan
        return float(measured.loc[sel, quantity].iloc[0])

    rows = []
    for rep in STUDY_A_REPORTED:
        for sigma in rep.sigmas_um or (None,):
            x = value(rep.method, sigma, rep.quantity)
            if profile_name not in rep.profiles:
                agrees = f"n/a (compare on {', '.join(rep.profiles)})"
            else:
                holds = rep.holds(x)
                agrees = "n/a (not measured)" if holds is None else "yes" if holds else "no"
            rows.append(
                {
                    "image": rep.method,
                    "sigma_um": math.nan if sigma is None else sigma,
                    "quantity": rep.quantity,
                    "measured": x,
                    "paper": rep.text,
                    "agrees": agrees,
                }
            )
    for metric, (better, rl_image) in ORDER_METRICS.items():
        for sigma in sigmas_um:
            vals = {m: value(m, sigma, metric) for m in ("deepnet", "srcnn", rl_image)}
            if any(math.isnan(v) for v in vals.values()):
                agrees = "n/a (not measured)"
            else:
                ranked = sorted(vals, key=lambda m: vals[m], reverse=better == "higher")
                holds = ranked == ["deepnet", "srcnn", rl_image] and len(set(vals.values())) == 3
                agrees = ("yes" if holds else "no") + " (" + " > ".join(ranked) + ")"
            rows.append(
                {
                    "image": "order",
                    "sigma_um": sigma,
                    "quantity": metric,
                    "measured": math.nan,
                    "paper": f"DeepNet > SRCNN > RL ({better} is better)",
                    "agrees": agrees,
                }
            )
    return pd.DataFrame(rows)


def side_by_side(measured: pd.DataFrame, comparison: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Return the measured ``columns`` per (image, σ) with what the paper says about that row.

    ``comparison`` is :func:`compare_with_paper`'s table; its statements about an (image, σ) are
    joined into one ``paper (agrees?)`` cell ("—" where the paper states no number for the row).
    """
    stated = comparison[comparison["image"] != "order"]
    out = measured[columns].copy()
    notes = []
    for image, sigma in zip(out["image"], out["sigma_um"], strict=True):
        sel = select_rows(stated, image, sigma)
        notes.append("; ".join(f"{r.paper} ({r.agrees})" for r in stated[sel].itertuples()) or "—")
    out["paper (agrees?)"] = notes
    return out
