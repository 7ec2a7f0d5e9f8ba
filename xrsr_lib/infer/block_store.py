"""The resumable Zarr store of a block-wise prediction: its job record and its finished blocks.

A prediction writes into ``<out>.partial/``: an OME-Zarr image (and, with a trust map, a second one,
``<out>.partial/trust``) and a state folder, :data:`STATE_DIR`, holding the job record
(``job.json``: :meth:`PredictionJob.key`) and one marker per finished block (``done/``).
:func:`open_store` creates the store or checks that the unfinished one found is the same job (an
input that changed since starts it over); :func:`run_block` computes one block, writes it (blocks
cover whole chunks only: concurrent writers never share a chunk, so no locks are needed and no write
is lost) and then marks it done; :func:`finish_trust` records the blocks' out-of-domain counts with
the trust image. The store is published by :func:`xrsr_lib.infer.chunked.predict_to_zarr`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
from pathlib import Path
from typing import Any

import numpy as np

from xrsr_lib.infer.block_job import PredictionJob, TrustPerBlock
from xrsr_lib.infer.block_predict import predict_block, predict_block_trust
from xrsr_lib.io.cache import write_json_atomic
from xrsr_lib.io.errors import XrsrInputError
from xrsr_lib.io.omezarr import build_pyramid, create_ome_zarr

log = logging.getLogger(__name__)

__all__ = [
    "KILL_ENV",
    "STATE_DIR",
    "TRUST_IMAGE",
    "block_marker",
    "finish_trust",
    "kill_point",
    "open_store",
    "run_block",
]

#: The image of a trust map inside the output store (``<out>/trust``).
TRUST_IMAGE = "trust"
#: The store's state folder: the job record ``job.json``, the block markers ``done/`` and, once
#: every block and the pyramid are written, ``complete``.
STATE_DIR = ".xrsr"
#: Test hook only (tests/test_cli_resume.py): ``block:N`` (after writing block N's output, before
#: recording it done, counted from 1 in this process), ``pyramid:K`` (after pyramid level K) or
#: ``publish`` (after removing the block records, before publishing) SIGKILLs this process there.
KILL_ENV = "XRSR_TEST_KILL_AT"
_blocks_written = 0


def kill_point(point: str) -> None:
    """SIGKILL this process at ``point`` when the test-only hook :data:`KILL_ENV` names it.

    Parameters
    ----------
    point : str
        The point reached: ``block:N``, ``pyramid:K`` or ``publish``.
    """
    if os.environ.get(KILL_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)


def block_marker(work: str | os.PathLike[str], region: tuple[slice, ...]) -> Path:
    """Return the file that marks a block of the store ``work`` as done.

    Parameters
    ----------
    work : path
        The store being written (``<out>.partial``).
    region : tuple of slice
        The block's output region; the marker is named by its first voxel.

    Returns
    -------
    Path
        ``<work>/.xrsr/done/<z>_<y>_<x>``; with a trust map it holds the block's domain state (JSON).
    """
    return Path(work) / STATE_DIR / "done" / "_".join(str(r.start) for r in region)


def open_store(
    job: PredictionJob,
    voxel_size_um: float,
    chunks: tuple[int, int, int],
    attrs: dict[str, Any] | None = None,
) -> Path:
    """Create the store of ``job``, or check that the unfinished one at ``job.work`` is the same job.

    An unfinished store of the same job is resumed; one whose input changed since (same path and
    shape, another :func:`~xrsr_lib.infer.block_job.input_identity`) is removed and started over.

    Parameters
    ----------
    job : PredictionJob
        The planned job; its store is ``job.work``.
    voxel_size_um : float
        Input voxel size, µm; the output's is ``voxel_size_um / job.scale``.
    chunks : (int, int, int)
        Zarr chunk shape of the output, voxels.
    attrs : dict, optional
        Provenance recorded with the image (group attribute ``xrsr``).

    Returns
    -------
    Path
        The store's state folder (``<work>/.xrsr``).

    Raises
    ------
    ValueError
        If ``job.work`` holds no job record or an unfinished prediction with other settings.
    """
    work, src, trust, voxel = Path(job.work), job.source, job.trust, float(voxel_size_um)
    state = work / STATE_DIR
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
            "voxel_size_um": voxel / job.scale,
            "input": str(src.path),
            "input_voxel_size_um": voxel,
            "input_shape": list(src.shape),
            "model": job.model,
            "scale": job.scale,
            "roi_offset": list(job.offset),
            **(attrs or {}),
        }
        # output voxel j of the whole grid sits at input index (j + 0.5) / scale - 0.5 (voxel centres
        # aligned); in µm of the input's frame (input voxel i at i · voxel): the region's origin
        v_out = voxel / job.scale
        oz, oy, ox = (o * v_out + 0.5 * (v_out - voxel) for o in job.offset)
        origin = (oz, oy, ox)
        create_ome_zarr(work, job.out_shape, v_out, chunks, np.float32, info, origin_um=origin)
        if trust is not None:
            create_ome_zarr(
                work / TRUST_IMAGE,
                job.out_shape,
                v_out,
                chunks,
                np.float32,
                {**info, **trust.attrs()},
                origin_um=origin,
            )
        (state / "done").mkdir(parents=True)
        write_json_atomic(state / "job.json", key)
    return state


def run_block(job: PredictionJob, region: tuple[slice, ...]) -> int:
    """Predict one block, write it into the store, mark it done; returns its voxel count."""
    import zarr

    work = Path(job.work)
    global _blocks_written

    out = zarr.open_array(str(work / "0"), mode="r+")
    if job.trust is None:
        out[region] = predict_block(job, region)
        _blocks_written += 1
        kill_point(f"block:{_blocks_written}")
        block_marker(work, region).touch()
    else:
        out[region], halfwidth, ood = predict_block_trust(job, region)
        zarr.open_array(str(work / TRUST_IMAGE / "0"), mode="r+")[region] = halfwidth
        state = dict(ood) if isinstance(ood, dict) else {"out_of_domain": ood}
        block_marker(work, region).write_text(
            json.dumps({**state, "out_of_domain": list(state["out_of_domain"])})
        )
    return int(np.prod([r.stop - r.start for r in region]))


def finish_trust(
    work: Path,
    regions: list[tuple[slice, ...]],
    min_side: int,
    pyramid: bool,
    progress: bool,
    trust: TrustPerBlock,
) -> dict[str, Any]:
    """Record the blocks' out-of-domain counts and the trust map's summary with the trust image.

    The counts come from the blocks' markers; the summary is the trust map's own
    (``trust.summarize``, e.g. a per-volume verdict). The trust image's pyramid is built too.
    """
    import zarr

    rows, flagged, seen = [], 0, 0
    states = [json.loads(block_marker(work, r).read_text()) for r in regions]
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
