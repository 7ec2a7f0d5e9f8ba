"""Generic helpers for the studies' result tables (pandas DataFrames).

* :func:`select_rows` – the rows of one image (``image``, ``sigma_um``, optional ``realization``);
* :func:`markdown_table` – a plain GitHub-markdown rendering, no extra dependency.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["markdown_table", "select_rows"]


def select_rows(
    table: pd.DataFrame, image: str, sigma_um: float | None, realization: str | None = None
) -> pd.Series:
    """Select the rows of an evaluation table for one image (and realization).

    ``sigma_um`` None or NaN selects the row without an input blur (the ground truth).
    """
    sel = table["image"] == image
    no_blur = sigma_um is None or pd.isna(sigma_um)
    sel &= table["sigma_um"].isna() if no_blur else table["sigma_um"] == sigma_um
    if realization is not None:
        sel &= table["realization"] == realization
    return sel


def markdown_table(table: pd.DataFrame, floatfmt: str = ".4g") -> str:
    """Render a table as plain GitHub markdown (no extra dependency)."""

    def cell(v: Any) -> str:
        if isinstance(v, float | np.floating):
            return "" if math.isnan(v) else format(float(v), floatfmt)
        return str(v)

    head = "| " + " | ".join(str(c) for c in table.columns) + " |"
    sep = "| " + " | ".join("---" for _ in table.columns) + " |"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([head, sep, *body]) + "\n"
