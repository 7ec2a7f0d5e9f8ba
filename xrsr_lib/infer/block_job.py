"""A block-wise prediction job: what it is, how it is planned, and what tells two jobs apart.

:func:`plan_prediction` turns the arguments of :func:`xrsr_lib.infer.chunked.predict_to_zarr` into a
:class:`PredictionJob`: the output region and grid, the block and chunk shapes and the halo (the
network's reach plus the context a trust map needs). The job pickles small (paths, not arrays), so
dask workers receive it whole; :meth:`PredictionJob.key` is what a resumed run must match, and holds
the input's identity (:func:`input_identity`). :func:`cached_model` loads a model folder once per
process (each dask worker loads its own).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np

from xrsr_lib.infer.loaded import LoadedModel
from xrsr_lib.io.errors import XrsrInputError
from xrsr_lib.io.lazy import LazyVolume

__all__ = [
    "PredictionJob",
    "TrustPerBlock",
    "cached_model",
    "input_identity",
    "plan_prediction",
]

_MODELS: dict[str, LoadedModel] = {}


def input_identity(source: LazyVolume, samples: int = 8, side: int = 16) -> dict[str, Any]:
    """Return what tells one input from another with the same path and shape, cheaply.

    Parameters
    ----------
    source : LazyVolume
        The input volume.
    samples : int
        Regions hashed, spaced along the volume's diagonal.
    side : int
        Edge of each region, voxels (clipped to the volume's shape).

    Returns
    -------
    dict
        ``size`` (bytes; of every file under a Zarr store), ``mtime_ns`` (latest modification) and
        ``sample_sha256``: a SHA-256 of ``samples`` regions of ``side``³ voxels spaced along the
        volume's diagonal, read as float32 (a few hundred kB however large the volume).
    """
    path = Path(source.path)
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    stats = [p.stat() for p in files]
    digest = hashlib.sha256()
    for k in range(samples):
        corner = [int((n - min(side, n)) * k / max(samples - 1, 1)) for n in source.shape]
        region = tuple(slice(c, c + min(side, n)) for c, n in zip(corner, source.shape, strict=True))
        digest.update(np.ascontiguousarray(source.read(region, check_finite=False)).tobytes())
    return {
        "size": sum(st.st_size for st in stats),
        "mtime_ns": max((st.st_mtime_ns for st in stats), default=0),
        "sample_sha256": digest.hexdigest(),
    }


class TrustPerBlock(Protocol):
    """What :func:`~xrsr_lib.infer.chunked.predict_to_zarr` needs of a trust map.

    The trust map pickles to dask workers. It is implemented by
    :class:`xrsr_lib.evaluate.trust.BlockTrust` (a layer above, so only its interface is named here).
    """

    def context(self) -> int:
        """Output voxels of context per side the score needs beyond the network's halo."""
        ...

    def key(self) -> dict[str, Any]:
        """JSON description: part of the job key (a resumed run must match)."""
        ...

    def attrs(self) -> dict[str, Any]:
        """Return what is recorded with the trust image (``score``, ``coverage``, ...)."""
        ...

    def __call__(
        self, predict: Any, x: np.ndarray, inner: tuple[slice, ...]
    ) -> tuple[np.ndarray, np.ndarray, tuple[int, int] | dict[str, Any]]:
        """Return the block's prediction and half-widths (``x[inner]``'s shape), and its domain state.

        The domain state is ``(out of domain, blocks seen)``, or a JSON-able dict holding them as
        ``"out_of_domain"`` (kept with the block and handed, for all blocks, to ``summarize`` when the
        trust map has one).
        """
        ...


@dataclass(frozen=True)
class PredictionJob:
    """Everything a worker needs for one block; pickles small (paths, not arrays).

    Attributes
    ----------
    model : str
        Model folder.
    source : LazyVolume
        The input volume.
    work : str
        The Zarr store being written (``<out>.partial``).
    scale : float
        Output voxels per input voxel along each axis.
    offset : (int, int, int)
        Output-grid index of the region's first voxel on the whole input's output grid
        (``roi start × scale``).
    out_shape, full_shape : (int, int, int)
        The region's output shape and the whole input's output shape.
    block, halo : (int, int, int)
        Output voxels per block (a multiple of the chunks) and of context per side.
    device : str, optional
        Torch device the workers run the model on (default CUDA when available); not part of
        :meth:`key`, so a run may resume on another device.
    trust : TrustPerBlock, optional
        Also compute a trust map (the halo then includes its context).
    """

    model: str
    source: LazyVolume
    work: str
    scale: float
    offset: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    full_shape: tuple[int, int, int]
    block: tuple[int, int, int]
    halo: tuple[int, int, int]
    device: str | None = None
    trust: TrustPerBlock | None = None

    def key(self) -> dict[str, Any]:
        """Return what makes two runs the same (a resumed run must match).

        Returns
        -------
        dict
            The job's fields as JSON (paths resolved; the input with its :func:`input_identity`;
            the trust map's own key), without the store path and the device.
        """
        d = asdict(replace(self, trust=None))
        d["trust"] = None if self.trust is None else self.trust.key()
        src = self.source
        d["source"] = {
            "path": str(Path(src.path).resolve()),
            "dataset": src.dataset,
            "shape": list(src.shape),
            "identity": input_identity(src),
        }
        d["model"] = str(Path(self.model).resolve())
        d.pop("work")
        d.pop("device")
        return json.loads(json.dumps(d))


def cached_model(folder: str, device: str | None = None) -> LoadedModel:
    """Return the folder's model on ``device``, loaded once per process (reloaded when its weights change).

    Parameters
    ----------
    folder : str
        A trained model folder (with ``weights.pt``).
    device : str, optional
        Torch device (default CUDA when available, else CPU).

    Returns
    -------
    LoadedModel
        The same object for every call with the same folder, weights file time and device.
    """
    key = f"{Path(folder).resolve()}:{(Path(folder) / 'weights.pt').stat().st_mtime_ns}:{device}"
    if key not in _MODELS:
        _MODELS[key] = LoadedModel.load(folder, device=device)
    return _MODELS[key]


def _triple(
    value: int | tuple[int, ...] | None, name: str, default: tuple[int, int, int]
) -> tuple[int, int, int]:
    if value is None:
        return default
    vals = (value,) * 3 if isinstance(value, int | np.integer) else tuple(value)
    if len(vals) != 3 or any(int(v) < 0 for v in vals):
        raise XrsrInputError(f"{name} must be an int or three ints >= 0, got {value!r}", parameter=name)
    return tuple(int(v) for v in vals)  # type: ignore[return-value]


def plan_prediction(
    model: str | Path,
    source: LazyVolume,
    work: str | Path,
    *,
    scale: float = 1.0,
    roi: tuple[slice, slice, slice] | None = None,
    chunks: int | tuple[int, int, int] = 64,
    block: int | tuple[int, int, int] | None = None,
    halo: int | tuple[int, int, int] | None = None,
    device: str | None = None,
    trust: TrustPerBlock | None = None,
) -> tuple[PredictionJob, tuple[int, int, int]]:
    """Return the job of :func:`~xrsr_lib.infer.chunked.predict_to_zarr` and the Zarr chunk shape.

    The parameters are those of :func:`~xrsr_lib.infer.chunked.predict_to_zarr`; ``work`` is the
    store to write (``<out>.partial``).

    Returns
    -------
    job : PredictionJob
        The planned job (block and halo clipped to the region, voxels of the output grid).
    chunks : (int, int, int)
        The Zarr chunk shape of the output, voxels (clipped to the region's shape).

    Raises
    ------
    ValueError
        Bad scale, roi, chunks, block or halo.
    """
    if not (isinstance(scale, int | float) and math.isfinite(scale) and scale > 0):
        raise XrsrInputError(f"scale must be a number > 0, got {scale!r}", parameter="scale")
    roi = roi or cast(tuple[slice, slice, slice], tuple(slice(0, n) for n in source.shape))
    for r, n, axis in zip(roi, source.shape, "zyx", strict=True):
        if not 0 <= r.start < r.stop <= n:
            raise XrsrInputError(
                f"roi {axis} range {r.start}:{r.stop} lies outside {source.path} (0:{n})", parameter="roi"
            )
    full = tuple(int(round(n * scale)) for n in source.shape)
    offset = tuple(r.start * scale for r in roi)
    if any(abs(o - round(o)) > 1e-6 for o in offset):
        raise XrsrInputError(
            f"roi start {[r.start for r in roi]} × scale {scale:g} must fall on whole output voxels",
            parameter="roi",
        )
    offset = tuple(int(round(o)) for o in offset)
    out_shape = tuple(
        min(int(round((r.stop - r.start) * scale)), f - o) for r, f, o in zip(roi, full, offset, strict=True)
    )
    loaded = cached_model(str(model), device)
    chunks3 = tuple(min(c, n) for c, n in zip(_triple(chunks, "chunks", (64,) * 3), out_shape, strict=True))
    if min(chunks3) < 1:
        raise XrsrInputError(f"chunks must be >= 1, got {chunks!r}", parameter="chunks")
    if block is None:
        mult = (1, 4, 4) if loaded.kind == "volume_2p5d" else (1, 1, 1)
        block3 = tuple(c * m for c, m in zip(chunks3, mult, strict=True))
    else:
        block3 = _triple(block, "block", chunks3)
    block3 = tuple(min(b, -(-n // c) * c) for b, n, c in zip(block3, out_shape, chunks3, strict=True))
    if any(b % c for b, c in zip(block3, chunks3, strict=True)):
        raise XrsrInputError(
            f"block {block3} must be a whole multiple of the chunks {chunks3} (so that no "
            "two blocks write the same chunk)",
            parameter="block",
        )
    halo3 = _triple(halo, "halo", loaded.halo())
    if trust is not None:  # the score's own reach; in-plane a multiple of the U-Net's, to keep blocks aligned
        extra = int(trust.context())
        m = int(getattr(loaded.model, "size_multiple", 1)) if loaded.kind == "volume_2p5d" else 1
        halo3 = (halo3[0] + extra, halo3[1] + -(-extra // m) * m, halo3[2] + -(-extra // m) * m)
    t3 = tuple[int, int, int]
    job = PredictionJob(
        str(model),
        source,
        str(work),
        float(scale),
        cast(t3, offset),
        cast(t3, out_shape),
        cast(t3, full),
        cast(t3, block3),
        halo3,
        device,
        trust,
    )
    return job, chunks3
