"""Out-of-core prediction: a volume on disk to an OME-Zarr volume, block by block, resumable.

A scan of 2,000³ voxels recovered on a 3× finer grid is 216 × 10⁹ voxels; neither it nor its
input fits in memory. :func:`predict_to_zarr` therefore cuts the *output* grid into blocks that
are whole multiples of the Zarr chunks, and for each block

1. reads the input region under the block plus a halo (the network's reach, :meth:`LoadedModel.halo`,
   and for a finer output grid a cubic-spline margin of :data:`SPLINE_MARGIN` input voxels),
2. resamples it to the output grid when ``scale != 1`` (cubic spline, the same voxel-centre
   mapping as :func:`xrsr_lib.prepare.resample.resample`),
3. applies the model in one pass (no inner tiling) and crops the halo off,
4. writes the block, which covers whole chunks only: concurrent writers never share a chunk, so no
   locks are needed and no write is lost, then records the block as done.

Peak memory is that of one block and its halo, whatever the volume size. An interrupted run
(``Ctrl-C``, a killed job) leaves ``<out>.partial/`` with its finished blocks; the same call
resumes there. The output appears under its final name only when every block and the pyramid
(:func:`xrsr_lib.io.omezarr.build_pyramid`) are written. The job record (``.xrsr/job.json``) stays
in the store until it is published, so a run killed at any point resumes. The record holds the
input's identity (file size, modification time and a hash of sampled regions,
:func:`input_identity`): an unfinished store of an input that changed since is started over, never
mixed with blocks of the new data. A run that fails (an error, not an interruption) before it
finished a single block removes the store it made.

Blocks run in this process, or on a dask ``distributed`` cluster when a ``client`` is given (a
``LocalCluster`` on one machine, the same code on many nodes): each worker opens the input and the
model itself and writes its own chunks.

With a halo of at least the network's reach, blocks whose offsets are multiples of the U-Net's
size multiple (chunks of 64 are) give exactly what one whole-volume pass gives (up to float
rounding); networks with per-sample statistics (``InstanceNorm``) are not local and differ.

A *trust map* (``trust=``, a :class:`TrustPerBlock` such as :class:`xrsr_lib.evaluate.trust.BlockTrust`,
which :meth:`xrsr_lib.Recovery.predict_to_zarr` builds from a model's calibration) is written beside
the prediction as a second OME-Zarr image, ``<out>/trust``: each block's input is read with the
extra context the score needs (:meth:`TrustPerBlock.context`), the trust object returns the block's
prediction (its identity-transform output, not an extra network pass), the interval
half-widths and the block's out-of-domain count, and the counts of every block are recorded in the
trust image's attributes. This module calls the trust object and knows nothing of how it scores.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
from scipy.ndimage import map_coordinates, spline_filter
from tqdm.auto import tqdm

from xrsr_lib.infer.loaded import LoadedModel
from xrsr_lib.io.cache import write_json_atomic
from xrsr_lib.io.errors import XrsrInputError, XrsrInputExists
from xrsr_lib.io.lazy import LazyVolume, open_volume
from xrsr_lib.io.omezarr import block_slices, build_pyramid, create_ome_zarr, publish_directory

log = logging.getLogger(__name__)

__all__ = [
    "SPLINE_MARGIN",
    "TRUST_IMAGE",
    "PredictionJob",
    "TrustPerBlock",
    "input_identity",
    "plan_prediction",
    "predict_block",
    "predict_block_trust",
    "predict_to_zarr",
]

#: Input voxels of context for the cubic-spline prefilter of a block (its influence decays as
#: 0.268ⁿ: below 10⁻⁶ of the signal at 12 voxels).
SPLINE_MARGIN = 12
#: The image of a trust map inside the output store (``<out>/trust``).
TRUST_IMAGE = "trust"
_STATE = ".xrsr"
_MODELS: dict[str, LoadedModel] = {}
#: Test hook only (tests/test_cli_resume.py): ``block:N`` (after writing block N's output, before
#: recording it done, counted from 1 in this process), ``pyramid:K`` (after pyramid level K) or
#: ``publish`` (after removing the block records, before publishing) SIGKILLs this process there.
_KILL_ENV = "XRSR_TEST_KILL_AT"
_blocks_written = 0


def _test_kill(point: str) -> None:
    """SIGKILL this process at ``point`` when the test-only hook :data:`_KILL_ENV` names it."""
    if os.environ.get(_KILL_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)


def input_identity(source: LazyVolume, samples: int = 8, side: int = 16) -> dict[str, Any]:
    """What tells one input from another with the same path and shape, cheaply.

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
    """What :func:`predict_to_zarr` needs of a trust map (it pickles to dask workers); implemented by
    :class:`xrsr_lib.evaluate.trust.BlockTrust` (a layer above, so only its interface is named here).
    """

    def context(self) -> int:
        """Output voxels of context per side the score needs beyond the network's halo."""
        ...

    def key(self) -> dict[str, Any]:
        """JSON description: part of the job key (a resumed run must match)."""
        ...

    def attrs(self) -> dict[str, Any]:
        """Recorded with the trust image (``score``, ``coverage``, ...)."""
        ...

    def __call__(
        self, predict: Any, x: np.ndarray, inner: tuple[slice, ...]
    ) -> tuple[np.ndarray, np.ndarray, tuple[int, int] | dict[str, Any]]:
        """The block's prediction and half-widths (``x[inner]``'s shape), and its domain state:
        ``(out of domain, blocks seen)``, or a JSON-able dict holding them as ``"out_of_domain"``
        (kept with the block and handed, for all blocks, to ``summarize`` when the trust map has one).
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
        """What makes two runs the same (a resumed run must match)."""
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


def _model(folder: str, device: str | None = None) -> LoadedModel:
    """The folder's model on ``device``, loaded once per process (reloaded when its weights change)."""
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
    """The job of :func:`predict_to_zarr` and the Zarr chunk shape (see there for the parameters)."""
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
    loaded = _model(str(model), device)
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


def _input_coords(j0: int, j1: int, scale: float) -> np.ndarray:
    """Input voxel coordinates of output voxels ``j0 .. j1 - 1`` (voxel centres aligned)."""
    return (np.arange(j0, j1) + 0.5) / scale - 0.5


def _block_input(job: PredictionJob, region: tuple[slice, ...]) -> tuple[np.ndarray, tuple[slice, ...]]:
    """The input of one output region with its halo, on the output grid, and the region within it."""
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
    """The model's output on one output region (slices of the job's output grid), computed with its halo."""
    x, inner = _block_input(job, region)
    model = _model(job.model, job.device)
    return model.predict(x, tile=max(x.shape))[inner]


def predict_block_trust(
    job: PredictionJob, region: tuple[slice, ...]
) -> tuple[np.ndarray, np.ndarray, tuple[int, int] | dict[str, Any]]:
    """Prediction, trust half-widths and domain state (:meth:`BlockTrust.__call__`) of one output region."""
    if job.trust is None:
        raise ValueError("this prediction job computes no trust map")
    x, inner = _block_input(job, region)
    model = _model(job.model, job.device)
    return job.trust(lambda v: model.predict(v, tile=max(v.shape)), x, inner)


def _marker(work: Path, region: tuple[slice, ...]) -> Path:
    return work / _STATE / "done" / "_".join(str(r.start) for r in region)


def _run_block(job: PredictionJob, region: tuple[slice, ...]) -> int:
    """Predict one block, write it into the store, mark it done; returns its voxel count."""
    import zarr

    work = Path(job.work)
    global _blocks_written

    out = zarr.open_array(str(work / "0"), mode="r+")
    if job.trust is None:
        out[region] = predict_block(job, region)
        _blocks_written += 1
        _test_kill(f"block:{_blocks_written}")
        _marker(work, region).touch()
    else:
        out[region], halfwidth, ood = predict_block_trust(job, region)
        zarr.open_array(str(work / TRUST_IMAGE / "0"), mode="r+")[region] = halfwidth
        state = dict(ood) if isinstance(ood, dict) else {"out_of_domain": ood}
        _marker(work, region).write_text(json.dumps({**state, "out_of_domain": list(state["out_of_domain"])}))
    return int(np.prod([r.stop - r.start for r in region]))


def _finish_trust(
    work: Path,
    regions: list[tuple[slice, ...]],
    min_side: int,
    pyramid: bool,
    progress: bool,
    trust: TrustPerBlock,
) -> dict[str, Any]:
    """Record the blocks' out-of-domain counts (from their markers) and the trust map's own summary of
    them (``trust.summarize``, e.g. a per-volume verdict) with the trust image; its pyramid.
    """
    import zarr

    rows, flagged, seen = [], 0, 0
    states = [json.loads(_marker(work, r).read_text()) for r in regions]
    for r, state in zip(regions, states, strict=True):
        n_out, n = state["out_of_domain"]
        if n:
            rows.append([r[0].start, r[1].start, r[2].start, n_out / n])
        flagged, seen = flagged + n_out, seen + n
    group = zarr.open_group(str(work / TRUST_IMAGE), mode="r+")
    fraction = flagged / seen if seen else None
    summary = trust.summarize(states) if hasattr(trust, "summarize") else {}
    group.attrs["xrsr"] = {
        **group.attrs["xrsr"],
        "out_of_domain_fraction": fraction,
        "out_of_domain_blocks": rows,
        **summary,
        "summary_keys": sorted(summary),
    }
    if pyramid:
        build_pyramid(group, min_side=min_side, progress=progress)
    info = group.attrs["xrsr"]
    return {
        "coverage": info["coverage"],
        "score": info["score"],
        "out_of_domain_fraction": fraction,
        **summary,
    }


def predict_to_zarr(
    model: str | Path,
    source: str | Path | LazyVolume,
    out: str | Path,
    *,
    scale: float = 1.0,
    roi: tuple[slice, slice, slice] | None = None,
    voxel_size_um: float | None = None,
    chunks: int | tuple[int, int, int] = 64,
    block: int | tuple[int, int, int] | None = None,
    halo: int | tuple[int, int, int] | None = None,
    client: Any = None,
    pyramid: bool = True,
    attrs: dict[str, Any] | None = None,
    progress: bool = True,
    device: str | None = None,
    trust: TrustPerBlock | None = None,
    on_block: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Recover a volume on disk into an OME-Zarr image, block by block (see the module docstring).

    Parameters
    ----------
    model : path
        A trained volume-model folder (DeepNet or SRCNN).
    source : path or LazyVolume
        The input volume (TIFF, HDF5, ``.npy``, Zarr); read region by region.
    out : path
        The OME-Zarr store to write (``*.zarr``); it must not exist.
    scale : float
        Output voxels per input voxel (3 for a 9 µm scan recovered at 3 µm); the output grid has
        ``round(n × scale)`` voxels per axis with voxel centres aligned to the input's.
    roi : (slice, slice, slice), optional
        Input region to recover (default all); context from outside it is used.
    voxel_size_um : float, optional
        Input voxel size, µm (default from the file); the output's is ``voxel_size_um / scale``.
    chunks : int or (cz, cy, cx)
        Zarr chunk shape of the output, voxels.
    block : int or (bz, by, bx), optional
        Output voxels computed at a time, a whole multiple of ``chunks`` (default: the chunks for
        3D networks, 1 × 4 × 4 chunks for 2.5D ones). Sets the peak memory.
    halo : int or (hz, hy, hx), optional
        Output voxels of context per side (default :meth:`LoadedModel.halo`).
    client : dask.distributed.Client, optional
        Run the blocks on this cluster instead of in this process.
    pyramid : bool
        Add 2× mean-downsampled levels for viewers.
    attrs : dict, optional
        Provenance recorded with the image (group attribute ``xrsr``).
    progress : bool
        Show progress bars.
    device : str, optional
        Torch device of the model (default CUDA when available, else CPU), in this process and
        on every dask worker.
    trust : TrustPerBlock, optional
        Also write a trust map, the OME-Zarr image ``<out>/trust`` (same grid and chunks, float32,
        grey units of the prediction; attributes ``xrsr``: ``score``, ``coverage``,
        ``out_of_domain_fraction``, ``out_of_domain_blocks`` = ``[z, y, x, fraction]`` per block,
        its first output voxel and the fraction of its sub-blocks out of domain; and what the trust
        map's ``summarize`` adds, e.g. ``verdict``: is the input like the calibration). The prediction
        is that of a run without it (up to float rounding where the wider halo changes the
        convolution sizes). Typically :class:`xrsr_lib.evaluate.trust.BlockTrust`.
    on_block : callable, optional
        Called as ``on_block(blocks_done, blocks)`` after each block (a GUI's progress bar); an
        exception it raises stops the run, leaving ``<out>.partial`` to resume (a GUI's cancel).

    Returns
    -------
    dict
        ``out``, ``shape``, ``voxel_size_um``, ``blocks``, ``blocks_resumed``, ``seconds``,
        ``voxels_per_second`` (output voxels computed in this call per wall-clock second); with
        ``trust``, ``trust``: ``coverage``, ``score``, ``out_of_domain_fraction`` (over all blocks;
        None without an input domain), ``image`` (``<out>/trust``) and the ``summarize`` entries
        (``verdict``).

    Raises
    ------
    FileExistsError
        If ``out`` exists.
    ValueError
        Bad scale, roi, chunks or block; no voxel size; NaN in a region read; an unfinished
        ``<out>.partial`` from a different prediction.
    """
    t0 = time.perf_counter()
    out = Path(out)
    if out.exists():
        raise XrsrInputExists(f"{out} exists; choose a new output name or delete it", parameter="out")
    src = source if isinstance(source, LazyVolume) else open_volume(source)
    voxel = voxel_size_um if voxel_size_um is not None else src.metadata.get("voxel_size_um")
    if voxel is None:
        raise XrsrInputError(
            f"{src.path}: no voxel size in the file; give voxel_size_um", parameter="voxel_size_um"
        )
    if not float(voxel) > 0:
        raise XrsrInputError(f"voxel_size_um must be > 0 µm, got {voxel}", parameter="voxel_size_um")
    work = out.with_name(out.name + ".partial")
    job, chunks3 = plan_prediction(
        model,
        src,
        work,
        scale=scale,
        roi=roi,
        chunks=chunks,
        block=block,
        halo=halo,
        device=device,
        trust=trust,
    )
    state = work / _STATE
    key = job.key()
    if work.exists():
        if not (state / "job.json").exists():
            raise XrsrInputError(
                f"{work} holds no job record (.xrsr/job.json), so it cannot be resumed; "
                "delete it to start over",
                parameter="out",
            )
        old = json.loads((state / "job.json").read_text())
        same_input = {k: v for k, v in old["source"].items() if k != "identity"} == {
            k: v for k, v in key["source"].items() if k != "identity"
        }
        if {**old, "source": None} != {**key, "source": None} or not same_input:
            raise XrsrInputError(
                f"{work} holds an unfinished prediction with other settings; delete it to start over",
                parameter="out",
            )
        if old["source"] != key["source"]:
            log.warning(
                "%s changed since the unfinished prediction %s was started (%s -> %s): starting over",
                src.path,
                work,
                old["source"].get("identity"),
                key["source"]["identity"],
            )
            shutil.rmtree(work)
        else:
            log.info("resuming %s", work)
    if not work.exists():
        info = {
            "voxel_size_um": float(voxel) / job.scale,
            "input": str(src.path),
            "input_voxel_size_um": float(voxel),
            "input_shape": list(src.shape),
            "model": str(model),
            "scale": job.scale,
            "roi_offset": list(job.offset),
            **(attrs or {}),
        }
        # output voxel j of the whole grid sits at input index (j + 0.5) / scale - 0.5 (voxel centres
        # aligned); in µm of the input's frame (input voxel i at i · voxel): the region's origin
        v_out = float(voxel) / job.scale
        oz, oy, ox = (o * v_out + 0.5 * (v_out - float(voxel)) for o in job.offset)
        origin = (oz, oy, ox)
        create_ome_zarr(work, job.out_shape, v_out, chunks3, np.float32, info, origin_um=origin)
        if trust is not None:
            create_ome_zarr(
                work / TRUST_IMAGE,
                job.out_shape,
                v_out,
                chunks3,
                np.float32,
                {**info, **trust.attrs()},
                origin_um=origin,
            )
        (state / "done").mkdir(parents=True)
        write_json_atomic(state / "job.json", key)
    regions = list(block_slices(job.out_shape, job.block))
    complete = state / "complete"  # every block and the pyramid written; only the publishing is left
    todo = [] if complete.exists() else [r for r in regions if not _marker(work, r).exists()]
    log.info(
        "predicting %d of %d blocks of %s into %s%s",
        len(todo),
        len(regions),
        job.block,
        work,
        f" on {len(client.scheduler_info()['workers'])} dask workers" if client is not None else "",
    )
    done = finished = 0
    try:
        with tqdm(
            total=len(regions),
            initial=len(regions) - len(todo),
            desc="predict",
            unit="block",
            disable=not progress,
        ) as bar:
            if client is None:
                for r in todo:
                    done += _run_block(job, r)
                    bar.update()
                    if on_block is not None:  # (a disabled tqdm bar does not count)
                        on_block(len(regions) - len(todo) + (finished := finished + 1), len(regions))
            else:
                from distributed import as_completed

                futures = client.map(_run_block, [job] * len(todo), todo, pure=False)
                for fut in as_completed(futures):
                    done += fut.result()
                    bar.update()
                    if on_block is not None:  # (a disabled tqdm bar does not count)
                        on_block(len(regions) - len(todo) + (finished := finished + 1), len(regions))
    except Exception:  # an error, not an interruption: a store without one finished block is removed
        if not any((state / "done").iterdir()):
            shutil.rmtree(work, ignore_errors=True)
        raise
    seconds = time.perf_counter() - t0
    import zarr

    group = zarr.open_group(str(work), mode="r+")
    if not complete.exists():
        if pyramid:
            build_pyramid(
                group,
                min_side=max(chunks3),
                progress=progress,
                after_level=lambda k: _test_kill(f"pyramid:{k}"),
            )
        if trust is not None:
            _finish_trust(work, regions, max(chunks3), pyramid, progress, trust)
        complete.touch()
        shutil.rmtree(state / "done")
    # the job record stays until the store is published: killed before, the next run publishes it
    _test_kill("publish")
    levels = len(group.attrs["multiscales"][0]["datasets"])
    trust_info = None
    if trust is not None:
        info = zarr.open_group(str(work / TRUST_IMAGE), mode="r").attrs["xrsr"]
        trust_info = {
            k: info[k] for k in ("coverage", "score", "out_of_domain_fraction", *info.get("summary_keys", ()))
        }
    publish_directory(work, out)
    shutil.rmtree(out / _STATE, ignore_errors=True)
    log.info("wrote %s (%d levels)", out, levels)
    result = {
        "out": str(out),
        "shape": list(job.out_shape),
        "voxel_size_um": float(voxel) / job.scale,
        "blocks": len(regions),
        "blocks_resumed": len(regions) - len(todo),
        "levels": levels,
        "seconds": round(seconds, 3),
        "voxels_per_second": done / seconds if seconds > 0 else 0.0,
    }
    if trust_info is not None:
        result["trust"] = {**trust_info, "image": str(out / TRUST_IMAGE)}
    return result
