"""One block of a block-wise prediction: its input with a halo, resampled, through the model.

:func:`predict_block` reads the input region under an output block plus the job's halo (and, for a
finer output grid, a cubic-spline margin of :data:`SPLINE_MARGIN` input voxels), resamples it to the
output grid when ``scale != 1`` (cubic spline, the same voxel-centre mapping as
:func:`xrsr_lib.prepare.resample.resample`), applies the model in one pass (no inner tiling) and
crops the halo off. :func:`predict_block_trust` does the same through the job's trust map.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.ndimage import map_coordinates, spline_filter

from xrsr_lib.infer.block_job import PredictionJob, cached_model

__all__ = ["SPLINE_MARGIN", "predict_block", "predict_block_trust"]

#: Input voxels of context for the cubic-spline prefilter of a block (its influence decays as
#: 0.268ⁿ: below 10⁻⁶ of the signal at 12 voxels).
SPLINE_MARGIN = 12


def _input_coords(j0: int, j1: int, scale: float) -> np.ndarray:
    """Input voxel coordinates of output voxels ``j0 .. j1 - 1`` (voxel centres aligned)."""
    return (np.arange(j0, j1) + 0.5) / scale - 0.5


def _block_input(job: PredictionJob, region: tuple[slice, ...]) -> tuple[np.ndarray, tuple[slice, ...]]:
    """Return the input of one output region with its halo, on the output grid, and the region within it."""
    lo = [job.offset[a] + region[a].start - job.halo[a] for a in range(3)]
    hi = [job.offset[a] + region[a].stop + job.halo[a] for a in range(3)]
    lo = [max(v, 0) for v in lo]
    hi = [min(v, n) for v, n in zip(hi, job.full_shape, strict=True)]
    if job.scale == 1.0:
        x = job.source.read(tuple(slice(a, b) for a, b in zip(lo, hi, strict=True)))
    else:
        coords = [_input_coords(a, b, job.scale) for a, b in zip(lo, hi, strict=True)]
        i0 = [max(int(math.floor(c[0])) - SPLINE_MARGIN, 0) for c in coords]
        i1 = [
            min(int(math.ceil(c[-1])) + SPLINE_MARGIN + 1, n)
            for c, n in zip(coords, job.source.shape, strict=True)
        ]
        src = job.source.read(tuple(slice(a, b) for a, b in zip(i0, i1, strict=True)))
        coeffs = spline_filter(src, order=3, mode="mirror", output=np.float32)
        grid = np.meshgrid(*(c - a for c, a in zip(coords, i0, strict=True)), indexing="ij", sparse=True)
        idx = np.stack(np.broadcast_arrays(*grid))
        x = map_coordinates(coeffs, idx, order=3, mode="mirror", prefilter=False).astype(np.float32)
        del coeffs, idx, src
    inner = tuple(
        slice(job.offset[a] + region[a].start - lo[a], job.offset[a] + region[a].stop - lo[a])
        for a in range(3)
    )
    return x, inner


def predict_block(job: PredictionJob, region: tuple[slice, ...]) -> np.ndarray:
    """Return the model's output on one output region, computed with its halo.

    Parameters
    ----------
    job : PredictionJob
        The planned prediction.
    region : tuple of slice
        The region, slices of the job's output grid (voxels).

    Returns
    -------
    numpy.ndarray
        float32, the region's shape, grey units of the model's output.
    """
    x, inner = _block_input(job, region)
    model = cached_model(job.model, job.device)
    return model.predict(x, tile=max(x.shape))[inner]


def predict_block_trust(
    job: PredictionJob, region: tuple[slice, ...]
) -> tuple[np.ndarray, np.ndarray, tuple[int, int] | dict[str, Any]]:
    """Prediction, trust half-widths and domain state (:meth:`BlockTrust.__call__`) of one output region."""
    if job.trust is None:
        raise ValueError("this prediction job computes no trust map")
    x, inner = _block_input(job, region)
    model = cached_model(job.model, job.device)
    return job.trust(lambda v: model.predict(v, tile=max(v.shape)), x, inner)
