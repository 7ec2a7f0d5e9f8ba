"""Benchmark out-of-core prediction (``predict_to_zarr``) against a whole-volume pass in memory.

Example::

    python benchmarks/bench_chunked.py MODEL_DIR lres.tif --scale 3 --workers 0 1 2

For each setting the model recovers the whole input into a fresh OME-Zarr store: in this process
(``0``) or on a dask ``LocalCluster`` of ``n`` single-threaded worker processes. The peer is the
in-memory path: resample the whole input to the output grid and run
:meth:`~xrsr_lib.infer.loaded.LoadedModel.predict` once over it (skipped with ``--no-peer``).
Printed per run: wall time, output voxels per second, the peak resident memory of the whole
process tree (this process and its workers, sampled every 0.1 s with psutil), and the ratios to
the peer, and how far the outputs of the runs lie apart.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import torch

from xrsr_lib.infer.chunked import predict_to_zarr
from xrsr_lib.infer.loaded import LoadedModel
from xrsr_lib.io.lazy import open_volume
from xrsr_lib.io.omezarr import open_zarr
from xrsr_lib.prepare.pose import Pose
from xrsr_lib.prepare.resample import resample


def _tree_rss() -> int:
    me = psutil.Process()
    total = 0
    for p in [me, *me.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def _peak_rss(fn: Callable[[], Any]) -> tuple[Any, float, int]:
    """Run ``fn``; return its result, wall seconds and the peak RSS of the process tree (bytes)."""
    peak, stop = [_tree_rss()], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _tree_rss())
            time.sleep(0.1)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    t0 = time.perf_counter()
    try:
        out = fn()
    finally:
        seconds = time.perf_counter() - t0
        stop.set()
        t.join()
    return out, seconds, peak[0]


def main() -> None:
    """Run the out-of-core prediction per ``--workers`` setting (and the in-memory peer); print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("input")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--voxel", type=float, default=None, help="input voxel size, µm (default: the file's)")
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2], help="0 = in this process")
    ap.add_argument("--chunks", type=int, default=64)
    ap.add_argument("--block", type=int, nargs=3, default=None)
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--threads", type=int, default=None, help="torch threads in this process")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    src = open_volume(args.input)
    voxel = args.voxel or src.metadata.get("voxel_size_um") or 1.0
    out_shape = tuple(int(round(n * args.scale)) for n in src.shape)
    n_out = int(np.prod(out_shape))
    print(
        f"input {src.path} {src.shape} ({src.nbytes / 2**20:.0f} MiB), output {out_shape} "
        f"({4 * n_out / 2**20:.0f} MiB float32), model {args.model}"
    )
    rows: list[dict[str, Any]] = []
    ref = None
    if not args.no_peer:

        def whole() -> np.ndarray:
            x = src.read()
            if args.scale != 1.0:
                x, _ = resample(x, voxel, out_shape, voxel / args.scale, Pose(), order=3)
            return LoadedModel.load(args.model).predict(x)

        ref, sec, rss = _peak_rss(whole)
        rows.append({"run": "whole volume in memory (peer)", "seconds": sec, "rss": rss})
    with tempfile.TemporaryDirectory() as tmp:
        outputs = []
        for n in args.workers:
            out = Path(tmp) / f"w{n}.zarr"
            if n == 0:

                def run(out: Path = out) -> dict[str, Any]:
                    return predict_to_zarr(
                        args.model,
                        src,
                        out,
                        scale=args.scale,
                        voxel_size_um=voxel,
                        chunks=args.chunks,
                        block=args.block,
                        progress=False,
                    )
            else:
                from distributed import Client, LocalCluster

                def run(out: Path = out, n: int = n) -> dict[str, Any]:
                    with (
                        LocalCluster(
                            n_workers=n,
                            threads_per_worker=1,
                            processes=True,
                            dashboard_address=None,
                            silence_logs=40,
                        ) as cluster,
                        Client(cluster) as client,
                    ):
                        return predict_to_zarr(
                            args.model,
                            src,
                            out,
                            scale=args.scale,
                            voxel_size_um=voxel,
                            chunks=args.chunks,
                            block=args.block,
                            client=client,
                            progress=False,
                        )

            info, sec, rss = _peak_rss(run)
            rows.append(
                {
                    "run": f"predict_to_zarr, {'this process' if n == 0 else f'{n} dask workers'}",
                    "seconds": sec,
                    "rss": rss,
                    "blocks": info["blocks"],
                }
            )
            outputs.append(np.asarray(open_zarr(out)[0][...]))
        for n, o in zip(args.workers[1:], outputs[1:], strict=True):  # float rounding of other thread counts
            print(f"max |run {n} - run {args.workers[0]}| = {np.abs(o - outputs[0]).max():.3g}")
        if ref is not None:
            print(
                f"max |block-wise - whole-volume| = {np.abs(outputs[0] - ref).max():.3g} "
                f"(whole-volume pass tiles with its own overlaps)"
            )
    base = rows[0]
    print(f"{'run':44s} {'s':>8s} {'Mvox/s':>8s} {'peak RSS MiB':>13s} {'time ratio':>10s} {'RSS ratio':>9s}")
    for r in rows:
        mvox = n_out / r["seconds"] / 1e6
        print(
            f"{r['run']:44s} {r['seconds']:8.1f} {mvox:8.3f} {r['rss'] / 2**20:13.0f} "
            f"{r['seconds'] / base['seconds']:10.2f} {r['rss'] / base['rss']:9.2f}"
        )


if __name__ == "__main__":
    main()
