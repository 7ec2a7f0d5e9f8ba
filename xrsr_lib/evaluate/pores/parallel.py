"""Pore analysis of many images in worker processes (the analysis itself is single-threaded).

:func:`analyse_pores` runs scipy and scikit-image steps that use one core each (distance transform,
watershed, marching cubes), so a study that segments dozens of volumes runs them side by side in a
:class:`concurrent.futures.ProcessPoolExecutor` (forked workers where the platform allows: a plain
script without an ``if __name__ == "__main__"`` guard works too). At most ``workers`` images are
loaded at once: the next is loaded while the workers analyse the others. Results equal one-by-one
calls (the analysis is deterministic).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

import numpy as np

from xrsr_lib.config.pores import PoreAnalysisConfig
from xrsr_lib.evaluate.pores.analysis import PoreAnalysis, analyse_pores

__all__ = ["analyse_pores_parallel"]

_FOAM_MASK: np.ndarray | None = None  # set once per worker process by _init


def _init(foam_mask: np.ndarray) -> None:
    global _FOAM_MASK
    _FOAM_MASK = foam_mask


def _analyse(image: np.ndarray, voxel_size_um: float, config: PoreAnalysisConfig) -> PoreAnalysis:
    assert _FOAM_MASK is not None
    return analyse_pores(image, _FOAM_MASK, voxel_size_um=voxel_size_um, config=config)


def analyse_pores_parallel(
    jobs: Iterable[tuple[object, Callable[[], np.ndarray]]],
    foam_mask: np.ndarray,
    voxel_size_um: float = 1.0,
    config: PoreAnalysisConfig | None = None,
    workers: int = 2,
    progress: bool = False,
) -> Iterator[tuple[object, PoreAnalysis]]:
    """:func:`analyse_pores` of many images with one foam mask, ``workers`` processes at a time.

    Parameters
    ----------
    jobs : iterable of (key, loader)
        ``loader()`` returns the image (material fraction, the mask's shape); it is called in this
        process, just before the image is sent to a worker.
    foam_mask : (Z, Y, X) array of bool
        The foam's bulk, shared by every image (sent to each worker once).
    voxel_size_um : float
        Edge of the (isotropic) voxel, µm.
    config : PoreAnalysisConfig, optional
        Defaults to ``PoreAnalysisConfig()``.
    workers : int
        Processes (>= 1). Each peaks at about 55 bytes per voxel (0.9 GB at 256³, measured).
    progress : bool
        Show a tqdm bar over the images.

    Yields
    ------
    (key, PoreAnalysis)
        In the order the analyses finish.

    Raises
    ------
    ValueError
        ``workers < 1``; any error of :func:`analyse_pores` (bad image or mask) is raised here, naming
        the job's key.
    """
    if int(workers) != workers or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    cfg = PoreAnalysisConfig() if config is None else config
    mask = np.asarray(foam_mask, dtype=bool)
    pending = iter(jobs)
    from tqdm.auto import tqdm

    bar = tqdm(desc="pore analysis", unit="image", disable=not progress)
    # fork where the platform has it: forkserver and spawn re-run an unguarded script's __main__ in
    # every worker (a RuntimeError in a plain script calling this); the workers only run numpy,
    # scipy and scikit-image, never torch's thread pool
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ProcessPoolExecutor(int(workers), mp_context=ctx, initializer=_init, initargs=(mask,)) as pool:
        running: dict[Future, object] = {}

        def submit_next() -> bool:
            job = next(pending, None)
            if job is None:
                return False
            key, load = job
            running[pool.submit(_analyse, load(), float(voxel_size_um), cfg)] = key
            return True

        while len(running) < workers and submit_next():
            pass
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                key = running.pop(fut)
                try:
                    result = fut.result()
                except ValueError as err:
                    raise ValueError(f"pore analysis of {key!r}: {err}") from err
                bar.update(1)
                yield key, result
                submit_next()
    bar.close()
