"""Time every heavy stage of the ``paper`` profile on one machine (meant for a CUDA GPU) in ~7 minutes.

Usage::

    PYTHONPATH=. python3 benchmarks/gpu_paper_stages.py --out $OUT/gpu_stages.json
    OMP_NUM_THREADS=2 python3 benchmarks/gpu_paper_stages.py --quick --out /tmp/stages.json   # CPU test

Stages, each in its own try/except and under its own time budget (a SIGALRM timer; the whole run is
capped by ``--deadline``, default 420 s from start), in this order:

1. ``env``      torch / CUDA / GPU / CPU facts, ASTRA status ("unavailable: <reason>" if it is not).
2. ``phantom``  one paper foam realization: ``generate_foam`` (void list) + ``voxelize`` 512³
                (supersampling 4); numba compile time reported apart. A slab is voxelized first and
                the full volume only when the slab predicts it fits the budget (else extrapolated).
3. ``ct``       PyTorch cone-beam ``forward_project`` + ``fdk_reconstruct`` at 512³ / 512 views in
                the paper geometry (a sphere of value 1, centre value ~1 is the check), calibrated on
                a 1/16 subset of views first; the same on CPU at 128³ / 128 views for the ratio; the
                study's own scan simulation (``project_foam`` exact projector, ``degrade_projections``,
                ``reconstruct.fdk`` backend choice) timed on subsets of projections and extrapolated.
4. ``train``    DeepNet (2.5D) and SRCNN (3D) with the paper settings through
                ``volume_task(..., device)`` on synthetic 512³ pairs: 3 warm-up steps, then steps for
                ~20 s: s/step, projected hours for the paper iterations, peak GPU memory; bf16
                autocast steps as a separate number (CUDA only).
5. ``infer``    ``predict_2p5d`` / ``predict_3d`` with the just-trained models and the paper
                inference tile / overlap on a 512³ volume: voxels/s (a slab first, full if it fits).
6. ``rl``       Richardson-Lucy (``deconvolve_gaussian``, 30 iterations) at 512³, σ = 9 and 3 µm.
7. ``utsr``     study B's UTSR (paper model, batch 16, LR patch 48) training steps at ×4 and ×2.

The JSON (``--out``) is rewritten atomically after every measurement, so a killed run keeps what was
measured. ``--quick`` uses tiny sizes (seconds per stage) to test the script on a CPU. Nothing is
written outside ``--out`` (numba's cache goes to a temporary folder that is removed at exit).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

START = time.perf_counter()
sys.dont_write_bytecode = True  # no __pycache__ in the checkout
REPO = Path(__file__).resolve().parents[1]
_NUMBA_TMP = tempfile.mkdtemp(prefix="xrsr_numba_cache_")
os.environ["NUMBA_CACHE_DIR"] = _NUMBA_TMP  # before numba is imported (by xrsr_lib)
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

GIB = float(1 << 30)


# ----------------------------------------------------------------------------------------- plumbing
class StageTimeout(BaseException):
    """Raised by the stage timer; a BaseException so that ``except Exception`` does not swallow it."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`StageTimeout` in the ``with`` block after ``seconds`` (SIGALRM timer, at least 0.1 s)."""

    def _handler(signum: int, frame: Any) -> None:
        raise StageTimeout(f"stage exceeded its budget of {seconds:.0f} s")

    old = signal.signal(signal.SIGALRM, _handler)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.1))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


class Report:
    """The JSON document, rewritten atomically (temp file + rename) on every :meth:`save`."""

    def __init__(self, path: Path, meta: dict[str, Any]) -> None:
        self.path = path
        self.data: dict[str, Any] = {"meta": meta, "stages": {}}

    def save(self) -> None:
        """Record the elapsed seconds and rewrite the JSON file atomically (fsynced)."""
        from xrsr_lib.io.cache import atomic_path  # the library's atomic write (after NUMBA_CACHE_DIR)

        self.data["meta"]["elapsed_s"] = round(time.perf_counter() - START, 2)
        with atomic_path(self.path) as tmp, open(tmp, "w") as f:
            json.dump(self.data, f, indent=1, default=_json_default)
            f.flush()
            os.fsync(f.fileno())


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path | torch.device | torch.dtype):
        return str(obj)
    return repr(obj)


@dataclass
class Budget:
    """Seconds left to the running stage."""

    end: float

    def left(self) -> float:
        """Return the seconds left to the stage (negative once over budget)."""
        return self.end - time.perf_counter()


@dataclass
class Ctx:
    """What the stages share: mode, device, the paper profile, sizes, and results reused later."""

    quick: bool
    device: torch.device
    profile: Any
    report: Report
    sizes: dict[str, int]
    spheres: np.ndarray | None = None
    models: dict[str, tuple[torch.nn.Module, Any]] = field(default_factory=dict)
    _pair: tuple[int, np.ndarray, np.ndarray] | None = None

    @property
    def cuda(self) -> bool:
        """Whether the stages run on a CUDA device."""
        return self.device.type == "cuda"

    def sync(self) -> None:
        """Wait for the queued CUDA kernels (nothing on a CPU)."""
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def timed(self, fn: Callable[[], Any]) -> tuple[float, Any]:
        """Wall time (s) of one call of ``fn`` (the device synchronized around it) and its result."""
        from _timing import best_time  # the benchmarks' shared timer; benchmarks/ is on sys.path

        return best_time(fn, 1, cuda=self.cuda)

    def reset_peak(self) -> None:
        """Reset CUDA's peak memory statistics (nothing on a CPU)."""
        if self.cuda and torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats(self.device)

    def peak_gib(self) -> float | None:
        """Return the peak GPU memory allocated since :meth:`reset_peak`, GiB (None on a CPU)."""
        if not (self.cuda and torch.cuda.is_available()):
            return None
        return round(torch.cuda.max_memory_allocated(self.device) / GIB, 3)

    def pair(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Return a synthetic paired (input, target) float32 n³ volume (structure does not matter for timing).

        The last pair is kept and reused while ``n`` stays the same.
        """
        if self._pair is None or self._pair[0] != n:
            self._pair = None
            gc.collect()
            rng = np.random.default_rng(0)
            target = rng.random((n, n, n), dtype=np.float32)
            inputs = target * np.float32(0.8) + rng.random((n, n, n), dtype=np.float32) * np.float32(0.2)
            self._pair = (n, inputs, target)
        return self._pair[1], self._pair[2]


def _r(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(float(x), nd)


def _cleanup(ctx: Ctx | None) -> None:
    gc.collect()
    if ctx is not None and ctx.cuda:
        torch.cuda.synchronize(ctx.device)
        torch.cuda.empty_cache()


def _steps_for(
    ctx: Ctx,
    step: Callable[[int], Any],
    target_s: float,
    first: int,
    max_steps: int = 100_000,
    min_steps: int = 2,
) -> tuple[int, float]:
    """Run ``step`` until ``target_s`` seconds passed (at least ``min_steps``); return (steps, seconds)."""
    ctx.sync()
    t0 = time.perf_counter()
    n = 0
    while n < max_steps and (n < min_steps or time.perf_counter() - t0 < target_s):
        step(first + n)
        n += 1
    ctx.sync()
    return n, time.perf_counter() - t0


# ----------------------------------------------------------------------------------------- stages
def stage_env(ctx: Ctx, rec: dict, budget: Budget) -> str:
    """Record torch / CUDA / GPU / CPU facts and the ASTRA status in ``rec``; return a summary line."""
    import numba
    import scipy

    rec.update(
        python=platform.python_version(),
        platform=platform.platform(),
        torch=torch.__version__,
        torch_cuda=torch.version.cuda,
        numpy=np.__version__,
        scipy=scipy.__version__,
        numba=numba.__version__,
        numba_threads=numba.get_num_threads(),
        cpu_count=os.cpu_count(),
        cpu_affinity=len(os.sched_getaffinity(0)),
        torch_threads=torch.get_num_threads(),
        omp_num_threads=os.environ.get("OMP_NUM_THREADS"),
        cuda_available=torch.cuda.is_available(),
        device=str(ctx.device),
        quick=ctx.quick,
    )
    try:
        import pydantic

        rec["pydantic"] = pydantic.__version__
    except Exception as exc:
        rec["pydantic"] = f"unavailable: {exc}"
    if torch.cuda.is_available():
        t, _ = ctx.timed(lambda: torch.zeros(1, device=ctx.device))
        props = torch.cuda.get_device_properties(ctx.device)
        free, total = torch.cuda.mem_get_info(ctx.device)
        rec.update(
            cuda_init_s=_r(t),
            gpu_name=props.name,
            gpu_count=torch.cuda.device_count(),
            gpu_memory_gib=_r(total / GIB, 2),
            gpu_free_gib=_r(free / GIB, 2),
            compute_capability=f"{props.major}.{props.minor}",
            multiprocessors=props.multi_processor_count,
            cudnn=torch.backends.cudnn.version(),
            bf16_supported=torch.cuda.is_bf16_supported(),
        )
    rec["cudnn_benchmark_at_start"] = torch.backends.cudnn.benchmark
    rec["cudnn_allow_tf32"] = torch.backends.cudnn.allow_tf32
    rec["matmul_precision"] = torch.get_float32_matmul_precision()
    from xrsr_lib.simulate.ct.astra_projector import astra_status

    ok, reason = astra_status()
    rec["astra"] = reason if ok else f"unavailable: {reason}"
    gpu = f"{rec.get('gpu_name')} {rec.get('gpu_memory_gib')} GiB" if torch.cuda.is_available() else "no CUDA"
    return f"torch {torch.__version__}, {gpu}, {rec['cpu_count']} CPUs, ASTRA {rec['astra'][:60]}"


def stage_phantom(ctx: Ctx, rec: dict, budget: Budget) -> str:
    """Time one paper foam realization (``generate_foam`` + ``voxelize``) into ``rec``; return a summary."""
    from xrsr_lib.simulate.phantom import generate_foam, voxelize

    prof = ctx.profile
    pp = prof.phantom.pelt_parameters()
    seed = prof.realizations[prof.training_realization]
    n = prof.volume.n_voxels
    radius = prof.phantom.cylinder_radius_um
    vs = prof.volume.voxel_size_um / radius  # generator units (cylinder radius 1)
    ss = prof.phantom.supersampling
    rec.update(pelt_parameters=pp, shape=[n, n, n], supersampling=ss, seed=seed)

    t0 = time.perf_counter()
    tiny = generate_foam(0, 100, 20_000, progress=False)
    voxelize(tiny, (4, 4, 4), 0.3, supersampling=2)
    rec["numba_compile_s"] = _r(time.perf_counter() - t0)
    ctx.report.save()

    t_gen, spheres = ctx.timed(lambda: generate_foam(seed, progress=False, **pp))
    ctx.spheres = spheres
    rec.update(generate_s=_r(t_gen), n_voids=len(spheres))
    ctx.report.save()

    slab = min(ctx.sizes["phantom_slab"], n)
    t_slab, vol = ctx.timed(lambda: voxelize(spheres, (slab, n, n), vs, supersampling=ss))
    est = t_slab * n / slab
    rec.update(
        voxelize_slab_slices=slab,
        voxelize_slab_s=_r(t_slab),
        voxelize_full_estimate_s=_r(est),
        slab_material_fraction=_r(float(vol.mean()), 4),
    )
    ctx.report.save()
    if not ctx.quick and est < 0.5 * budget.left():
        t_full, vol = ctx.timed(lambda: voxelize(spheres, (n, n, n), vs, supersampling=ss))
        rec.update(
            voxelize_s=_r(t_full), voxelize_extrapolated=False, material_fraction=_r(float(vol.mean()), 4)
        )
    else:
        rec.update(
            voxelize_s=_r(est),
            voxelize_extrapolated=True,
            note=f"voxelize timed on {slab} of {n} slices (central slab) and scaled by {n / slab:g}",
        )
    del vol
    rec["realization_s"] = _r(t_gen + rec["voxelize_s"])
    ex = " (extrapolated)" if rec["voxelize_extrapolated"] else ""
    return (
        f"{len(spheres)} voids generate {t_gen:.2f} s, voxelize {n}³ ss{ss} {rec['voxelize_s']:.2f} s{ex}, "
        f"numba compile {rec['numba_compile_s']:.1f} s"
    )


def _sphere(n: int, radius: float) -> np.ndarray:
    c = np.arange(n) - (n - 1) / 2.0
    z, y, x = np.meshgrid(c, c, c, indexing="ij", sparse=True)
    return ((x**2 + y**2 + z**2) <= radius**2).astype(np.float32)


def _centre(rec_vol: np.ndarray) -> float:
    n = rec_vol.shape[0]
    c, k = n // 2, max(1, n // 8)
    return float(np.mean(rec_vol[c - k : c + k, c - k : c + k, c - k : c + k]))


def _cone(n: int, views: int) -> Any:
    """Return the paper geometry's shape at size ``n`` (source and detector 10 half-widths from the axis)."""
    from xrsr_lib.simulate.ct.geometry import ConeGeometry

    half = n / 2.0
    return ConeGeometry.for_volume(n, 1.0, views, 10.0 * half, 10.0 * half)


def _subset(g: Any, step: int) -> Any:
    from xrsr_lib.simulate.ct.geometry import ConeGeometry

    return ConeGeometry(
        g.source_origin, g.origin_detector, g.det_rows, g.det_cols, g.det_pixel, g.angles[::step]
    )


def _fp_fdk(ctx: Ctx, dev: torch.device, n: int, g: Any, keep: bool = False) -> dict[str, Any]:
    """Time forward_project + fdk_reconstruct of an n³ sphere (value 1) on ``dev``."""
    from xrsr_lib.simulate.ct.torch_projector import fdk_reconstruct, forward_project

    vol = _sphere(n, 0.35 * n)
    sub = Ctx(ctx.quick, dev, ctx.profile, ctx.report, ctx.sizes)
    t_fp, proj = sub.timed(lambda: forward_project(vol, g, 1.0, device=dev))
    t_fdk, rec_vol = sub.timed(lambda: fdk_reconstruct(proj, g, (n, n, n), 1.0, device=dev))
    work = float(n) ** 3 * g.n_angles
    out = {
        "n": n,
        "views": g.n_angles,
        "detector": [g.det_rows, g.det_cols],
        "fp_s": _r(t_fp),
        "fdk_s": _r(t_fdk),
        "fp_voxel_views_per_s": work / t_fp,
        "fdk_voxel_views_per_s": work / t_fdk,
        "centre_value": _r(_centre(rec_vol), 4),
    }
    if keep:
        out["_proj"] = proj
    return out


def _warm_ct(dev: torch.device) -> None:
    from xrsr_lib.simulate.ct.torch_projector import fdk_reconstruct, forward_project

    tiny = _cone(8, 8)
    fdk_reconstruct(
        forward_project(np.ones((8, 8, 8), np.float32), tiny, 1.0, device=dev),
        tiny,
        (8, 8, 8),
        1.0,
        device=dev,
    )


def stage_ct(ctx: Ctx, rec: dict, budget: Budget) -> str:
    """Time the cone-beam projector, FDK and the study's scan simulation into ``rec``; return a summary."""
    import numba

    from xrsr_lib.simulate.ct.analytic import project_foam
    from xrsr_lib.simulate.ct.degrade import degrade_projections
    from xrsr_lib.simulate.ct.reconstruct import select_backend
    from xrsr_lib.studies.study_a.datasets import geometry_for, noise_seed, spheres_to_um

    prof = ctx.profile
    n, views = ctx.sizes["ct_n"], ctx.sizes["ct_views"]
    g = geometry_for(prof) if not ctx.quick else _cone(n, views)
    rec["geometry"] = {k: v for k, v in g.to_dict().items() if k != "angles"} | {"n_angles": g.n_angles}
    parts: list[str] = []

    # --- torch projector + FDK on the main device: calibrate on a subset of views, full if it fits
    t0 = time.perf_counter()
    _warm_ct(ctx.device)
    rec["warmup_s"] = _r(time.perf_counter() - t0)
    step = max(1, views // ctx.sizes["ct_calib_views"])
    cal = _fp_fdk(ctx, ctx.device, n, _subset(g, step))
    rec["torch_calibration"] = cal
    ctx.report.save()
    est = (cal["fp_s"] + cal["fdk_s"]) * step
    main: dict[str, Any]
    if step == 1:
        main = {**cal, "extrapolated": False}
    elif est < 0.4 * budget.left():
        main = {**_fp_fdk(ctx, ctx.device, n, g), "extrapolated": False}
    else:
        main = {
            "n": n,
            "views": views,
            "fp_s": _r(cal["fp_s"] * step),
            "fdk_s": _r(cal["fdk_s"] * step),
            "fp_voxel_views_per_s": cal["fp_voxel_views_per_s"],
            "fdk_voxel_views_per_s": cal["fdk_voxel_views_per_s"],
            "centre_value": cal["centre_value"],
            "extrapolated": True,
            "note": f"scaled from {cal['views']} views (x{step})",
        }
    main["device"] = str(ctx.device)
    rec["torch"] = main
    ctx.report.save()
    parts.append(
        f"{ctx.device.type} {n}³x{views}: FP {main['fp_s']:.2f} s, FDK {main['fdk_s']:.2f} s "
        f"({main['fdk_voxel_views_per_s'] / 1e9:.2f} Gvv/s), centre {main['centre_value']:.3f}"
        + (" (extrapolated)" if main["extrapolated"] else "")
    )

    # --- CPU at a smaller size, for the ratio
    cpu = torch.device("cpu")
    nc, vc = ctx.sizes["cpu_n"], ctx.sizes["cpu_views"]
    _warm_ct(cpu)
    c = _fp_fdk(ctx, cpu, nc, _cone(nc, vc))
    c["torch_threads"] = torch.get_num_threads()
    c["fp_speedup_main_vs_cpu"] = _r(main["fp_voxel_views_per_s"] / c["fp_voxel_views_per_s"], 2)
    c["fdk_speedup_main_vs_cpu"] = _r(main["fdk_voxel_views_per_s"] / c["fdk_voxel_views_per_s"], 2)
    c["note"] = f"speed-ups compare voxel·views/s of {ctx.device.type} at {n}³ with CPU at {nc}³ ({vc} views)"
    rec["torch_cpu"] = c
    ctx.report.save()
    parts.append(
        f"CPU {nc}³x{vc}: {ctx.device.type} FP x{c['fp_speedup_main_vs_cpu']}, "
        f"FDK x{c['fdk_speedup_main_vs_cpu']}"
    )

    # --- the study's own scan simulation (DatasetBuilder: project_foam -> degrade -> reconstruct.fdk)
    sim: dict[str, Any] = {}
    rec["study_scan_simulation"] = sim
    radius = prof.phantom.cylinder_radius_um
    spheres = ctx.spheres
    if spheres is None:
        from xrsr_lib.simulate.phantom import generate_foam

        spheres = generate_foam(prof.realizations["train"], progress=False, **prof.phantom.pelt_parameters())
    pg = geometry_for(prof)  # always the paper geometry: exact projections of the paper phantom
    t0 = time.perf_counter()
    project_foam(np.asarray(spheres[:2], np.float64) * 10.0, _cone(8, 2), 10.0, 2)
    sim["project_foam_compile_s"] = _r(time.perf_counter() - t0)
    k = ctx.sizes["pf_calib_views"]
    pstep = max(1, pg.n_angles // k)
    sub = _subset(pg, pstep)
    ss = prof.ct.detector_supersampling
    voids_um = spheres_to_um(spheres, radius)
    t_pf, projs = ctx.timed(lambda: project_foam(voids_um, sub, radius, ss))
    sim.update(
        project_foam_views_timed=sub.n_angles,
        project_foam_timed_s=_r(t_pf),
        project_foam_s=_r(t_pf * pg.n_angles / sub.n_angles),
        project_foam_extrapolated=pstep > 1,
        detector_supersampling=ss,
        numba_threads=numba.get_num_threads(),
    )
    ctx.report.save()
    if pstep > 1 and not ctx.quick and t_pf * pstep < 0.25 * budget.left():  # all views if it fits
        t_all, _ = ctx.timed(lambda: project_foam(voids_um, pg, radius, ss))
        sim.update(
            project_foam_views_timed=pg.n_angles, project_foam_s=_r(t_all), project_foam_extrapolated=False
        )
        ctx.report.save()
    kd = min(ctx.sizes["degrade_calib_views"], projs.shape[0])
    deg: dict[str, float] = {}
    for s_um in (min(prof.degrade.sigmas_um), max(prof.degrade.sigmas_um)):
        sigma_px = float(s_um) / pg.pixel_at_isocenter
        t_d, _ = ctx.timed(
            lambda sp=sigma_px, su=s_um: degrade_projections(
                projs[:kd],
                sp,
                prof.ct.attenuation_per_um,
                prof.ct.photons_per_pixel,
                noise_seed(prof, "train", su),
            )
        )
        deg[f"{s_um:g}"] = _r(t_d * pg.n_angles / kd)
    sim.update(
        degrade_projections_timed=kd, degrade_s_per_sigma_um=deg, degrade_extrapolated=kd < pg.n_angles
    )
    backend = select_backend("auto", prof.ct.fdk_filter, ctx.device)
    sim["fdk_backend"] = backend
    if backend == "torch":
        sim["fdk_s"] = main["fdk_s"]
        sim["fdk_note"] = (
            "reconstruct.fdk dispatches to torch fdk_reconstruct (ASTRA unavailable): timing above"
        )
    else:  # ASTRA with CUDA: time its FDK on the sphere projections of the calibration geometry
        from xrsr_lib.simulate.ct.reconstruct import fdk

        gc_ = _subset(g, step)
        proj = _fp_fdk(ctx, ctx.device, n, gc_, keep=True)["_proj"]
        t_a, _ = ctx.timed(lambda: fdk(proj, gc_, (n, n, n), 1.0, backend="astra"))
        sim["fdk_s"] = _r(t_a * step)
    n_rec = len(prof.degrade.sigmas_um)
    per_real = sim["project_foam_s"] + n_rec * (float(np.mean(list(deg.values()))) + sim["fdk_s"])
    sim["per_realization_estimate_s"] = _r(per_real, 1)
    sim["note"] = (
        f"per realization: project_foam once + {n_rec} x (degrade + FDK), degrade at the mean of "
        "the smallest and largest sigma; the profile has "
        f"{len(prof.realizations)} realizations"
    )
    parts.append(
        f"scan sim: project_foam {sim['project_foam_s']:.1f} s, degrade {deg} s, "
        f"~{per_real:.0f} s/realization"
    )
    return "; ".join(parts)


def _volume_settings(ctx: Ctx, method: str) -> Any:
    """Return the paper settings of ``method``.

    With ``--quick``: the smoke preset's small networks, tiles and patches.
    """
    from xrsr_lib.config import preset

    return preset(method, "smoke" if ctx.quick else "paper")


def stage_train(ctx: Ctx, rec: dict, budget: Budget) -> str:
    """Time DeepNet and SRCNN training steps into ``rec``; return a summary line.

    Recorded: seconds per step, projected hours for the paper iterations, peak GPU memory.
    """
    from xrsr_lib.models import count_parameters
    from xrsr_lib.train.volumes import volume_task

    n = ctx.sizes["train_n"]
    t_data, (x, t) = ctx.timed(lambda: ctx.pair(n))
    rec.update(volume_shape=[n, n, n], synthetic_data_s=_r(t_data))
    methods = ("deepnet", "srcnn")
    parts = []
    for i, method in enumerate(methods):
        r: dict[str, Any] = {}
        rec[method] = r
        try:
            settings = _volume_settings(ctx, method)
            r["settings"] = settings.model_dump(mode="json")
            ctx.reset_peak()
            t_setup, task = ctx.timed(lambda s=settings, m=method: volume_task(m, x, t, s, device=ctx.device))
            r.update(setup_s=_r(t_setup), parameters=count_parameters(task.model))
            t_warm, _ = ctx.timed(lambda tk=task: [tk.step(j) for j in range(3)])
            r["warmup_3_steps_s"] = _r(t_warm)
            ctx.report.save()
            share = budget.left() / (len(methods) - i)
            target = min(ctx.sizes["train_target_s"], 0.45 * share)
            steps, secs = _steps_for(ctx, task.step, target, 3)
            sps = secs / steps
            r.update(
                timed_steps=steps,
                timed_s=_r(secs),
                s_per_step=_r(sps, 4),
                iterations=settings.training.iterations,
                projected_hours=_r(sps * settings.training.iterations / 3600.0, 3),
                peak_gpu_mem_gib=ctx.peak_gib(),
            )
            ctx.report.save()
            if task.validate is not None and budget.left() > 0.4 * share:
                t_val, _ = ctx.timed(task.validate)
                n_val = math.ceil(settings.training.iterations / task.validate_every)
                r.update(
                    validation_s=_r(t_val),
                    validations=n_val,
                    projected_hours_with_validation=_r(
                        (sps * settings.training.iterations + n_val * t_val) / 3600, 3
                    ),
                )
                task.model.train()
            if ctx.cuda and budget.left() > 0.3 * share:

                def bf16_step(j: int, tk: Any = task) -> None:
                    with torch.autocast("cuda", dtype=torch.bfloat16):
                        tk.step(j)

                for j in range(2):
                    bf16_step(j)
                bsteps, bsecs = _steps_for(ctx, bf16_step, min(6.0, target / 3), 100)
                r.update(
                    bf16_s_per_step=_r(bsecs / bsteps, 4),
                    bf16_timed_steps=bsteps,
                    bf16_note="torch.autocast('cuda', bfloat16) around the library's step (loss+backward)",
                )
            elif not ctx.cuda:
                r["bf16_s_per_step"] = "skipped: CUDA only"
            r["peak_gpu_mem_gib"] = ctx.peak_gib()
            task.model.eval()
            ctx.models[method] = (task.model, settings)
            del task
            parts.append(
                f"{method} {sps:.3f} s/step -> {r['projected_hours']:.2f} h/{settings.training.iterations} it"
                + (f" (bf16 {r['bf16_s_per_step']:.3f})" if "bf16_s_per_step" in r and ctx.cuda else "")
            )
        except Exception as exc:
            r.update(
                status="error",
                error=f"{type(exc).__name__}: {exc}",
                traceback=traceback.format_exc(limit=6)[-2000:],
            )
            parts.append(f"{method} ERROR {type(exc).__name__}: {str(exc)[:80]}")
        finally:
            ctx.report.save()
            _cleanup(ctx)
    return "; ".join(parts)


def stage_infer(ctx: Ctx, rec: dict, budget: Budget) -> str:
    """Time tiled inference of the trained networks (voxels/s) into ``rec``; return a summary line."""
    from xrsr_lib.infer.tiling import predict_2p5d, predict_3d, tile_margin, tile_starts
    from xrsr_lib.models import build_model

    n = ctx.sizes["infer_n"]
    vol = ctx.pair(n)[0]
    rec["volume_shape"] = [n, n, n]
    parts = []
    methods = ("deepnet", "srcnn")
    for i, method in enumerate(methods):
        r: dict[str, Any] = {}
        rec[method] = r
        try:
            if method in ctx.models:
                model, settings = ctx.models[method]
                r["model"] = "trained in stage train"
            else:
                settings = _volume_settings(ctx, method)
                torch.manual_seed(0)
                model = build_model(method, settings.architecture).to(ctx.device).eval()
                r["model"] = "freshly initialized (train stage did not leave one)"
            tile, overlap = settings.inference.tile, settings.inference.overlap
            radius = model.receptive_field() // 2 if method == "srcnn" else None
            margin = tile_margin(overlap, radius)  # the rule of LoadedModel.predict
            r.update(tile=tile, overlap=overlap, margin=margin, batch_size=1)
            ctx.reset_peak()
            if method == "deepnet":
                ns = model.config.n_slices

                def run(
                    v: np.ndarray,
                    m: Any = model,
                    ns: int = ns,
                    tl: int = tile,
                    ov: int = overlap,
                    mg: int = margin,
                ) -> np.ndarray:
                    return predict_2p5d(m, v, n_slices=ns, tile=tl, overlap=ov, device=ctx.device, margin=mg)

                run(vol[:ns, : min(n, 64), : min(n, 64)])  # warm-up
                slab = min(n, ns - 1 + ctx.sizes["infer_slab_stacks"])
                units, units_slab = n - ns + 1, slab - ns + 1  # stacks
            else:

                def run(
                    v: np.ndarray, m: Any = model, tl: int = tile, ov: int = overlap, mg: int = margin
                ) -> np.ndarray:
                    return predict_3d(m, v, tile=tl, overlap=ov, device=ctx.device, margin=mg)

                w = min(n, tile)
                run(vol[:w, :w, :w])  # warm-up (one block)
                slab = w
                units, units_slab = len(tile_starts(n, tile, overlap)), 1  # block layers along z
            t_slab, _ = ctx.timed(lambda s=slab: run(vol[:s]))
            est = t_slab * units / units_slab
            r.update(slab_slices=slab, slab_s=_r(t_slab), full_estimate_s=_r(est))
            ctx.report.save()
            share = budget.left() / (len(methods) - i)
            if slab < n and est < 0.8 * share:
                t_full, out = ctx.timed(lambda: run(vol))
                r.update(seconds=_r(t_full), extrapolated=False, output_finite=bool(np.isfinite(out).all()))
                del out
            else:
                t_full = est
                r.update(seconds=_r(est), extrapolated=slab < n)
            r.update(voxels_per_s=n**3 / t_full, peak_gpu_mem_gib=ctx.peak_gib())
            parts.append(
                f"{method} {n}³ {t_full:.1f} s ({n**3 / t_full / 1e6:.1f} Mvox/s)"
                + (" (extrapolated)" if r["extrapolated"] else "")
            )
        except Exception as exc:
            r.update(
                status="error",
                error=f"{type(exc).__name__}: {exc}",
                traceback=traceback.format_exc(limit=6)[-2000:],
            )
            parts.append(f"{method} ERROR {type(exc).__name__}: {str(exc)[:80]}")
        finally:
            ctx.report.save()
            _cleanup(ctx)
    return "; ".join(parts)


def stage_rl(ctx: Ctx, rec: dict, budget: Budget) -> str:
    """Time Richardson-Lucy deconvolution at the paper size into ``rec``; return a summary line."""
    from xrsr_lib.restore.deconv import deconvolve_gaussian

    prof = ctx.profile
    n = ctx.sizes["rl_n"]
    iters = prof.methods.rl.iterations
    vol = ctx.pair(n)[0] - np.float32(0.05)  # a few negative values, like a reconstruction
    rec.update(
        volume_shape=[n, n, n],
        iterations=iters,
        device=str(ctx.device),
        note="richardson_lucy runs in torch (FFT) on the given device; CPU only for the checks",
    )
    deconvolve_gaussian(vol[:16, :16, :16], 3.0, 1, device=ctx.device)  # warm-up
    parts = []
    sigmas = (max(prof.degrade.lres_sigmas_um), min(prof.degrade.lres_sigmas_um))
    for k, s_um in enumerate(sigmas):
        sv = float(s_um) / prof.volume.voxel_size_um
        t2, _ = ctx.timed(lambda sv=sv: deconvolve_gaussian(vol, sv, 2, device=ctx.device))
        est = t2 / 2 * iters
        share = budget.left() / (len(sigmas) - k)
        if est < 0.6 * share:
            t, out = ctx.timed(lambda sv=sv: deconvolve_gaussian(vol, sv, iters, device=ctx.device))
            extrap = False
            del out
        else:
            t, extrap = est, True
        rec[f"sigma_{s_um:g}um"] = {
            "sigma_voxels": sv,
            "two_iterations_s": _r(t2),
            "seconds": _r(t),
            "extrapolated": extrap,
        }
        ctx.report.save()
        parts.append(f"σ={s_um:g} µm {t:.2f} s" + (" (extrapolated)" if extrap else ""))
    return f"{n}³ x{iters} it on {ctx.device.type}: " + ", ".join(parts)


def stage_utsr(ctx: Ctx, rec: dict, budget: Budget) -> str:
    """Time study B's UTSR training steps at ×4 and ×2 into ``rec``; return a summary line."""
    from xrsr_lib.config import load_profile
    from xrsr_lib.models import build_model, count_parameters, model_config_class
    from xrsr_lib.train.losses import SREdgeLoss
    from xrsr_lib.train.slices import learning_rate, sample_patch_pairs

    b = ctx.profile.study_b
    pre, fine = b.pretrain, b.finetune
    arch = b.models["utsr"]
    if ctx.quick:  # the smoke profile's tiny UTSR, small batches
        pre = pre.model_copy(update={"batch_size": 2, "patch": 16})
        arch = load_profile("smoke").study_b.models["utsr"]
    scales = (4,) if ctx.quick else tuple(sorted(b.scales, reverse=True))
    total_it = b.pretrain.iterations + b.finetune.iterations
    rec.update(
        model=dict(arch),
        batch_size=pre.batch_size,
        lr_patch=pre.patch,
        iterations_pretrain=b.pretrain.iterations,
        iterations_finetune=fine.iterations,
        same_batch_and_patch_in_both_stages=(b.pretrain.batch_size, b.pretrain.patch)
        == (fine.batch_size, fine.patch),
    )
    parts = []
    for i, scale in enumerate(scales):
        r: dict[str, Any] = {}
        rec[f"x{scale}"] = r
        try:
            cfg = model_config_class("utsr")(**{**arch, "scale": scale})
            torch.manual_seed(pre.seed)
            ctx.reset_peak()
            model = build_model("utsr", cfg).to(ctx.device)
            r["parameters"] = count_parameters(model)
            opt = torch.optim.Adam(model.parameters(), lr=pre.learning_rate, betas=pre.adam_betas)
            crit = SREdgeLoss(pre.edge_weight)
            rng = np.random.default_rng(0)
            h = max(pre.patch, b.slice.size // scale)
            lr_img = rng.random((8, h, h), dtype=np.float32)
            hr_img = rng.random((8, h * scale, h * scale), dtype=np.float32)

            def step(
                it: int,
                m: Any = model,
                o: Any = opt,
                c: Any = crit,
                lr_i: Any = lr_img,
                hr_i: Any = hr_img,
                s: int = scale,
                rg: Any = rng,
            ) -> None:  # as xrsr_lib.train.slices.train_sr's step
                for group in o.param_groups:
                    group["lr"] = learning_rate(pre, it)
                xb, yb = sample_patch_pairs(
                    lr_i,
                    hr_i,
                    s,
                    pre.patch,
                    pre.batch_size,
                    rg,
                    flips=pre.augment_flips,
                    rot90=pre.augment_rot90,
                )
                total, l1, edge = c.terms(m(xb.to(ctx.device)), yb.to(ctx.device))
                o.zero_grad(set_to_none=True)
                total.backward()
                o.step()
                total.item()

            t_warm, _ = ctx.timed(lambda st=step: [st(j) for j in range(3)])
            r["warmup_3_steps_s"] = _r(t_warm)
            ctx.report.save()
            share = budget.left() / (len(scales) - i)
            steps, secs = _steps_for(ctx, step, min(ctx.sizes["utsr_target_s"], 0.6 * share), 3)
            sps = secs / steps
            r.update(
                timed_steps=steps,
                s_per_step=_r(sps, 4),
                hr_patch=pre.patch * scale,
                projected_hours_pretrain_plus_finetune=_r(sps * total_it / 3600.0, 3),
                peak_gpu_mem_gib=ctx.peak_gib(),
            )
            parts.append(f"x{scale} {sps:.3f} s/step -> {sps * total_it / 3600:.2f} h/{total_it} it")
            del model, opt
        except Exception as exc:
            r.update(
                status="error",
                error=f"{type(exc).__name__}: {exc}",
                traceback=traceback.format_exc(limit=6)[-2000:],
            )
            parts.append(f"x{scale} ERROR {type(exc).__name__}: {str(exc)[:80]}")
        finally:
            ctx.report.save()
            _cleanup(ctx)
    return "; ".join(parts)


# ----------------------------------------------------------------------------------------- driver
STAGES: tuple[tuple[str, Callable[[Ctx, dict, Budget], str], float, float], ...] = (
    # name, function, budget (s) full, budget (s) quick
    ("env", stage_env, 30, 20),
    ("phantom", stage_phantom, 60, 60),
    ("ct", stage_ct, 110, 40),
    ("train", stage_train, 100, 30),
    ("infer", stage_infer, 60, 20),
    ("rl", stage_rl, 30, 15),
    ("utsr", stage_utsr, 45, 20),
)

SIZES = {
    "full": dict(
        phantom_slab=32,
        ct_n=512,
        ct_views=512,
        ct_calib_views=32,
        cpu_n=128,
        cpu_views=16,
        pf_calib_views=64,
        degrade_calib_views=16,
        train_n=512,
        train_target_s=20,
        infer_n=512,
        infer_slab_stacks=16,
        rl_n=512,
        utsr_target_s=15,
    ),
    "quick": dict(
        phantom_slab=8,
        ct_n=32,
        ct_views=32,
        ct_calib_views=8,
        cpu_n=16,
        cpu_views=8,
        pf_calib_views=4,
        degrade_calib_views=4,
        train_n=48,
        train_target_s=2,
        infer_n=48,
        infer_slab_stacks=4,
        rl_n=48,
        utsr_target_s=2,
    ),
}


def run_stage(
    ctx: Ctx, idx: int, name: str, fn: Callable[[Ctx, dict, Budget], str], nominal: float, deadline: float
) -> None:
    """Run one stage under its time budget and record its status, seconds and summary in the report.

    The budget is ``nominal`` seconds, cut to what is left before ``deadline`` (a
    ``time.perf_counter`` value); the stage is skipped when less than 5 s are left. A timeout or an
    error is recorded, not raised, and the report is saved before and after the stage.
    """
    rec: dict[str, Any] = {}
    ctx.report.data["stages"][name] = rec
    left = deadline - time.perf_counter()
    head = f"[{idx}/{len(STAGES)}] {name:<8}"
    if left < 5:
        rec.update(status="skipped", reason=f"global deadline reached ({left:.0f} s left)")
        ctx.report.save()
        print(f"{head} skipped: global deadline", flush=True)
        return
    b = min(nominal, left)
    rec["budget_s"] = _r(b, 1)
    ctx.report.save()
    t0 = time.perf_counter()
    summary = ""
    try:
        ctx.reset_peak()
        with time_limit(b):
            summary = fn(ctx, rec, Budget(t0 + b))
        rec["status"] = (
            "ok"
            if not any(isinstance(v, dict) and v.get("status") == "error" for v in rec.values())
            else "partial"
        )
    except StageTimeout as exc:
        rec.update(status="timeout", error=str(exc))
        summary = str(exc)
    except Exception as exc:
        rec.update(
            status="error",
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(limit=8)[-3000:],
        )
        summary = f"{type(exc).__name__}: {exc}"
    finally:
        rec["seconds"] = _r(time.perf_counter() - t0, 2)
        try:
            rec["stage_peak_gpu_mem_gib"] = ctx.peak_gib()
            rec["cudnn_benchmark_after"] = torch.backends.cudnn.benchmark
            _cleanup(ctx)
        except Exception as exc:
            rec["cleanup_error"] = f"{type(exc).__name__}: {exc}"
        rec["summary"] = summary
        ctx.report.save()
    print(f"{head} {rec['status']:<8} {rec['seconds']:6.1f} s (budget {b:.0f}) {summary}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the stages in order, writing the JSON report to ``--out``; return the exit status 0."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", required=True, type=Path, help="JSON file to write (atomically, often)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a CPU test of the script)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument(
        "--deadline",
        type=float,
        default=None,
        help="seconds from start after which no stage starts and budgets are cut (default 420, quick 240)",
    )
    parser.add_argument("--only", nargs="*", default=None, help="run only these stages (env always runs)")
    args = parser.parse_args(argv)
    deadline = START + (args.deadline if args.deadline is not None else (240.0 if args.quick else 420.0))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    mode = "quick" if args.quick else "full"
    report = Report(
        args.out.resolve(),
        {
            "script": "benchmarks/gpu_paper_stages.py",
            "mode": mode,
            "device": str(device),
            "argv": sys.argv[1:],
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "cudnn_benchmark": "left at torch's default; xrsr_lib never sets it "
            "(see stages.*.cudnn_benchmark_after)",
            "sizes": SIZES[mode],
        },
    )
    report.save()
    print(f"gpu_paper_stages: mode={mode} device={device} out={args.out}", flush=True)
    ctx: Ctx | None = None
    try:
        from xrsr_lib.config import load_profile

        ctx = Ctx(args.quick, device, load_profile("paper"), report, SIZES[mode])
        for i, (name, fn, full_b, quick_b) in enumerate(STAGES, 1):
            if args.only is not None and name != "env" and name not in args.only:
                continue
            run_stage(ctx, i, name, fn, quick_b if args.quick else full_b, deadline)
    except Exception as exc:  # e.g. the profile does not load
        report.data["fatal"] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}"
        print(f"FATAL {type(exc).__name__}: {exc}", flush=True)
    finally:
        report.data["meta"]["finished"] = True
        report.save()
        shutil.rmtree(_NUMBA_TMP, ignore_errors=True)
    print(f"done in {time.perf_counter() - START:.1f} s -> {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
