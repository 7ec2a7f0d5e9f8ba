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

The work is split by responsibility: :mod:`xrsr_lib.infer.block_job` plans the job (and tells
two jobs apart), :mod:`xrsr_lib.infer.block_predict` computes one block, and
:mod:`xrsr_lib.infer.block_store` keeps the resumable store; this module drives them and publishes
the result. Every name they export that a caller needs is importable from here too.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from xrsr_lib.infer.block_job import PredictionJob, TrustPerBlock, input_identity, plan_prediction
from xrsr_lib.infer.block_predict import SPLINE_MARGIN, predict_block, predict_block_trust
from xrsr_lib.infer.block_store import (
    STATE_DIR,
    TRUST_IMAGE,
    block_marker,
    finish_trust,
    kill_point,
    open_store,
    run_block,
)
from xrsr_lib.io.errors import XrsrInputError, XrsrInputExists
from xrsr_lib.io.lazy import LazyVolume, open_volume
from xrsr_lib.io.omezarr import block_slices, build_pyramid, publish_directory

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
    state = open_store(job, float(voxel), chunks3, attrs)
    regions = list(block_slices(job.out_shape, job.block))
    complete = state / "complete"  # every block and the pyramid written; only the publishing is left
    todo = [] if complete.exists() else [r for r in regions if not block_marker(work, r).exists()]
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
                    done += run_block(job, r)
                    bar.update()
                    if on_block is not None:  # (a disabled tqdm bar does not count)
                        on_block(len(regions) - len(todo) + (finished := finished + 1), len(regions))
            else:
                from distributed import as_completed

                futures = client.map(run_block, [job] * len(todo), todo, pure=False)
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
                after_level=lambda k: kill_point(f"pyramid:{k}"),
            )
        if trust is not None:
            finish_trust(work, regions, max(chunks3), pyramid, progress, trust)
        complete.touch()
        shutil.rmtree(state / "done")
    # the job record stays until the store is published: killed before, the next run publishes it
    kill_point("publish")
    levels = len(group.attrs["multiscales"][0]["datasets"])
    trust_info = None
    if trust is not None:
        info = zarr.open_group(str(work / TRUST_IMAGE), mode="r").attrs["xrsr"]
        trust_info = {
            k: info[k] for k in ("coverage", "score", "out_of_domain_fraction", *info.get("summary_keys", ()))
        }
    publish_directory(work, out)
    shutil.rmtree(out / STATE_DIR, ignore_errors=True)
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
