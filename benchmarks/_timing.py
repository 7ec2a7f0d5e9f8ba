"""The timer the benchmarks share: best wall time of repeated runs.

Run a benchmark as ``python benchmarks/bench_<name>.py``, which puts this folder on ``sys.path``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch


def best_time(fn: Callable[[], Any], repeat: int, cuda: bool = False) -> tuple[float, Any]:
    """Return the best wall time (s) of ``repeat`` calls of ``fn`` and the last call's result.

    With ``cuda`` the device is synchronized before and after each call so queued kernels are
    counted.
    """
    best, out = float("inf"), None
    for _ in range(repeat):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = fn()
        if cuda:
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best, out
