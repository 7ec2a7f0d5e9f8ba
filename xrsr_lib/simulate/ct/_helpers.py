"""Private helpers shared by the torch cone-beam operators: work chunks, batches, coordinates, progress."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

# Bilinear samples (output elements) per grid_sample call. On CPU moderate chunks keep the temporaries
# (grid + output ≈ 12 bytes per sample, ~12 MB) cache-friendly: measured ~1.5-2x faster than 2**22-2**24
# on a 2-core Xeon. On CUDA large chunks amortise kernel launches.
_CPU_CHUNK = 1 << 20
_GPU_CHUNK = 1 << 24


def chunk(device: torch.device) -> int:
    return _CPU_CHUNK if device.type == "cpu" else _GPU_CHUNK


def axis_coords(n: int, voxel_size: float, offset: float) -> np.ndarray:
    """Voxel centre coordinates (µm) along one axis, float64."""
    return (np.arange(n, dtype=np.float64) - (n - 1) / 2.0) * voxel_size + offset


def progress_iter(iterable: Sequence, enabled: bool, desc: str) -> Iterator:
    if not enabled:
        return iter(iterable)
    from tqdm.auto import tqdm

    return iter(tqdm(iterable, desc=desc, leave=False))


def progress_bar(total: int, enabled: bool, desc: str):
    """Make a tqdm bar over ``total`` steps (disabled, a no-op, unless ``enabled``)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False, disable=not enabled)


def index_batches(n: int, size: int) -> list[range]:
    size = max(1, int(size))
    return [range(s, min(n, s + size)) for s in range(0, n, size)]
