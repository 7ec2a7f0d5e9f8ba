"""The subcommands of ``xrsr``: each parses its options' values and calls the facade or :mod:`xrsr_lib.io`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from xrsr_lib.io.cache import write_json_atomic
from xrsr_lib.io.errors import XrsrInputError
from xrsr_lib.io.scans import read_scan
from xrsr_lib.io.volumes import write_volume

__all__ = ["COMMANDS"]

log = logging.getLogger("xrsr")


def _triple(text: str | None, name: str) -> tuple[float, float, float] | None:
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise XrsrInputError(f"{name} must be three numbers z,y,x (µm), got {text!r}", name) from None
    if len(values) != 3:
        raise XrsrInputError(f"{name} must be three numbers z,y,x (µm), got {text!r}", name)
    return values


def _roi(text: str | None, shape: tuple[int, ...]) -> tuple[slice, ...]:
    if text is None:
        return tuple(slice(0, n) for n in shape)
    parts = text.split(",")
    if len(parts) != 3:
        raise XrsrInputError(f"--roi must be z0:z1,y0:y1,x0:x1 (voxels), got {text!r}", "roi")
    out = []
    for part, n, axis in zip(parts, shape, "zyx", strict=True):
        try:
            a, b = (int(v) for v in part.split(":"))
        except ValueError:
            raise XrsrInputError(f"--roi must be z0:z1,y0:y1,x0:x1 (voxels), got {text!r}", "roi") from None
        if not 0 <= a < b <= n:
            raise XrsrInputError(f"--roi {axis} range {a}:{b} lies outside the volume (0:{n})", "roi")
        out.append(slice(a, b))
    return tuple(out)


def _raw(args: argparse.Namespace) -> Any:
    """Return the raw layout of ``--raw-shape`` / ``--raw-dtype`` (None without them)."""
    if getattr(args, "raw_shape", None) is None and getattr(args, "raw_dtype", None) is None:
        return None
    if args.raw_shape is None or args.raw_dtype is None:
        raise XrsrInputError("a raw volume needs both --raw-shape Z,Y,X and --raw-dtype")
    from xrsr_lib.io.raw import RawSpec

    return RawSpec.parse(args.raw_shape, args.raw_dtype, args.raw_offset)


# ---------------------------------------------------------------------------------- commands
def _simulate(args: argparse.Namespace) -> dict[str, Any]:
    from xrsr_lib.config import load_profile
    from xrsr_lib.simulate.multiscale import bimodal_pores, simulate_scan

    cfg = load_profile(args.profile).multiscale
    if cfg is None:
        raise XrsrInputError(f"profile {args.profile!r} has no multiscale settings", "profile")
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pores = bimodal_pores(cfg.sample)
    poses: dict[str, Any] = {}
    lres = None
    for scan in cfg.scans:
        prior = None if lres is None else (np.clip(lres.volume, 0, None), lres.voxel_size_um)
        sim = simulate_scan(cfg, scan, pores, progress=not args.quiet, prior=prior)
        lres = lres or sim
        write_volume(out / f"{scan.name}.tif", sim.volume, voxel_size_um=sim.voxel_size_um)
        poses[scan.name] = {
            "voxel_size_um": sim.voxel_size_um,
            "true": sim.true_pose,
            "recorded": sim.recorded_pose,
        }
        log.info("wrote %s", out / f"{scan.name}.tif")
    write_json_atomic(out / "poses.json", poses)
    return {"files": sorted(str(p) for p in out.iterdir()), "profile": args.profile}


def _register(args: argparse.Namespace) -> dict[str, Any]:
    from xrsr_lib.prepare.registration import RegistrationError
    from xrsr_lib.recovery import register_scans

    coarse, vc = read_scan(args.lres, "lres", args.lres_voxel, raw=_raw(args))
    fine, vf = read_scan(args.hres, "hres", args.hres_voxel, raw=_raw(args))
    offset = _triple(args.offset, "--offset") or (0.0, 0.0, 0.0)
    try:
        reg = register_scans(coarse, fine, vc, vf, offset)
    except RegistrationError as err:  # an input error of the two scans (or of --offset)
        raise XrsrInputError(f"{args.hres} against {args.lres}: {err}", err.parameter) from None
    result = {**reg.pose.as_dict(), "lres_voxel_um": vc, "hres_voxel_um": vf, "report": reg.report()}
    if args.out:
        write_json_atomic(Path(args.out), result)
    return result


def _pose_file(path: str) -> dict[str, Any]:
    """Read the JSON of a pose file of ``xrsr register``."""
    if not Path(path).is_file():
        raise XrsrInputError(f"no such pose file: {path} (write one with xrsr register)", "pose")
    try:
        pose_file = json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise XrsrInputError(f"{path} is not a pose file of xrsr register ({err})", "pose") from None
    if not isinstance(pose_file, dict):
        raise XrsrInputError(f"{path} is not a pose file of xrsr register", "pose")
    return pose_file


def _train(args: argparse.Namespace) -> dict[str, Any]:
    from xrsr_lib.recovery import Recovery
    from xrsr_lib.train import distributed

    pose_file = _pose_file(args.pose)
    raw = _raw(args)
    # a voxel size the file lacks: the one xrsr register recorded in the pose file
    coarse, vc = read_scan(
        args.lres, "lres", args.lres_voxel, fallback_um=pose_file.get("lres_voxel_um"), raw=raw
    )
    fine, vf = read_scan(
        args.hres, "hres", args.hres_voxel, fallback_um=pose_file.get("hres_voxel_um"), raw=raw
    )
    out = Path(args.out)
    if out.exists():
        raise XrsrInputError(f"{out} exists; choose a new folder for the model", "out")
    overrides: dict[str, Any] = {}
    if args.loss_mask:
        overrides["loss_mask"] = args.loss_mask
    if args.iterations:
        overrides["iterations"] = args.iterations
    if args.batch_size:
        overrides["batch_size"] = args.batch_size
    if args.settings:
        rec = Recovery.from_settings(args.settings, **overrides)
    else:
        rec = Recovery.from_preset(args.method, args.preset, **overrides)
    parallel = distributed.init_from_env()  # under torchrun: one rank of a data-parallel run
    work = out.with_name(f".{out.name}.training")  # the same folder on every rank; resumable
    try:
        rec.fit_scans(
            coarse,
            fine,
            pose_file,
            vc,
            vf,
            folder=work,
            progress=not args.quiet,
            calibration_fraction=args.calibrate,
        )
    except XrsrInputError as err:
        if err.parameter == "pose":
            raise XrsrInputError(
                f"{args.hres}: its field of view lies mostly outside {args.lres} under the pose {args.pose}",
                "pose",
            ) from None
        raise
    rec.save(out, move=True)  # on every rank: rank 0 moves the work folder to the model folder
    result = {"model": str(out), **rec.acquisition, "processes": distributed.world()[1] if parallel else 1}
    if args.calibrate:
        trust = rec.trust
        result["trust"] = {"coverage": trust["coverage"], "score": trust["score"], **trust["calibration"]}
    return result


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    from xrsr_lib.recovery import Recovery

    path = Recovery.from_preset(args.method, args.preset).save_settings(args.out)
    return {"settings": str(path), "method": args.method, "preset": args.preset}


def _chunks(text: str | None, option: str) -> tuple[int, int, int] | None:
    if text is None:
        return None
    try:
        vals = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise XrsrInputError(
            f"{option} must be one or three whole numbers z,y,x, got {text!r}", option
        ) from None
    if len(vals) == 1:
        vals = vals * 3
    if len(vals) != 3 or min(vals) < 1:
        raise XrsrInputError(
            f"{option} must be one or three whole numbers >= 1 (z,y,x), got {text!r}", option
        )
    return vals


def _client(args: argparse.Namespace) -> Any:
    """Return a dask client for ``--scheduler`` or ``--workers`` (None without either option).

    ``--scheduler ADDRESS`` connects to a running cluster; ``--workers N`` starts a LocalCluster.
    """
    if not args.scheduler and args.workers is None:
        return None
    from distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.WARNING)  # its per-worker INFO lines drown the log
    if args.scheduler:
        try:
            return Client(args.scheduler)  # waits distributed.comm.timeouts.connect (dask's config)
        except (OSError, ValueError) as err:  # nothing listens there, or not an address
            raise XrsrInputError(
                f"--scheduler {args.scheduler}: no dask scheduler answered ({err})", "scheduler"
            ) from None
    if args.workers < 1:
        raise XrsrInputError(f"--workers must be >= 1, got {args.workers}", "workers")
    cluster = LocalCluster(
        n_workers=args.workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.WARNING,
    )
    return Client(cluster)


def _predict(args: argparse.Namespace) -> dict[str, Any]:
    from xrsr_lib.io.lazy import open_volume
    from xrsr_lib.recovery import Recovery

    rec = Recovery.load(Path(args.model))
    Recovery.prediction_files(args.out, args.trust)  # an existing output or unknown suffix: before any work
    src = open_volume(args.input, raw=_raw(args))  # a missing or unreadable file: XrsrInputError naming it
    roi = _roi(args.roi, src.shape)
    chunks = _chunks(args.chunks, "--chunks") or (64, 64, 64)
    block = _chunks(args.block, "--block")
    environment = dict(os.environ)
    client = _client(args)
    try:  # an XrsrInputError names the facade's keyword; main() prints the option instead
        info = rec.predict_to_file(
            src,
            args.out,
            scale=args.scale,
            voxel_size_um=args.voxel,
            roi=roi,
            chunks=chunks,
            block=block,
            client=client,
            progress=not args.quiet,
            attrs={"command": args.command_line},
            trust=args.trust,
        )
    finally:
        if client is not None:
            cluster = client.cluster
            client.close()
            if cluster is not None:
                cluster.close()
            # dask's Nanny sets OMP_NUM_THREADS=1 (and MKL/OPENBLAS threads, MALLOC_TRIM_THRESHOLD_) in
            # this process's environment for its workers: processes started later (a notebook calling
            # main(), its kernels) would inherit one thread each
            os.environ.clear()
            os.environ.update(environment)
    verdict = (info.get("trust") or {}).get("verdict")
    if verdict is not None:  # the one line a user must not miss: are the intervals valid for this scan?
        print(f"xrsr predict: trust: the input is {verdict['verdict']}", file=sys.stderr)
    return info


def _evaluate(args: argparse.Namespace) -> dict[str, Any]:
    from xrsr_lib.recovery import Recovery

    if args.pose:
        return _evaluate_on_scan(args)
    result, vr = read_scan(args.result, "result", args.voxel, voxel_parameter="voxel_size_um", raw=_raw(args))
    reference, vt = read_scan(
        args.reference, "reference", args.voxel, voxel_parameter="voxel_size_um", raw=_raw(args)
    )
    if result.shape != reference.shape:
        raise XrsrInputError(
            f"{args.result} {result.shape} and {args.reference} {reference.shape} differ in shape",
            "reference",
        )
    _same_scale(args, result, reference)
    if abs(vr - vt) > 1e-3 * vt:
        raise XrsrInputError(
            f"{args.result} has {vr:g} µm voxels and {args.reference} {vt:g} µm; resample one first",
            "reference",
        )
    scores: dict[str, Any] = {
        **Recovery.evaluate(
            result, reference, data_range=args.data_range, voxel_size_um=vt, pores=args.pores
        ),
        "voxel_size_um": vt,
    }
    scores["data_range"] = args.data_range or float(reference.max() - reference.min())
    return scores


def _evaluate_on_scan(args: argparse.Namespace) -> dict[str, Any]:
    """``evaluate RESULT SCAN --pose``: a prediction scored on a registered scan's grid."""
    from xrsr_lib.recovery import Recovery

    if args.pores:
        raise XrsrInputError("--pores is not available with --pose yet; resample first", "pose")
    pose_file = _pose_file(args.pose)
    if "angle_deg" not in pose_file or "center_um" not in pose_file:
        raise XrsrInputError(
            f"{args.pose} is not a pose file of xrsr register (no angle_deg/center_um)", "pose"
        )
    voxel = args.voxel if args.voxel is not None else pose_file.get("hres_voxel_um")
    reference, v_ref = read_scan(
        args.reference, "reference", voxel, voxel_parameter="voxel_size_um", raw=_raw(args)
    )
    scores = Recovery.evaluate_on_scan(args.result, reference, pose_file, v_ref, data_range=args.data_range)
    scores["data_range"] = args.data_range or float(reference.max() - reference.min())
    return scores


def _same_scale(args: argparse.Namespace, result: np.ndarray, reference: np.ndarray) -> None:
    """Refuse grey values on different scales (a uint16 result against a float reference)."""
    from xrsr_lib.io.lazy import open_volume

    types = [open_volume(p, raw=_raw(args)).dtype for p in (args.result, args.reference)]
    spans = [float(np.abs(v).max()) for v in (result, reference)]
    if (
        types[0].kind != types[1].kind
        and args.data_range is None
        and (max(spans) > 10 * min(spans) or min(spans) == 0)
    ):
        raise XrsrInputError(
            f"{args.result} holds {types[0]} values up to {spans[0]:.4g} and {args.reference} "
            f"{types[1]} values up to {spans[1]:.4g}: different grey scales; rescale one to the "
            "other (e.g. the integer volume to the reference's grey values), or give --data-range "
            "to compare them as they are",
            "data_range",
        )


def _info(args: argparse.Namespace) -> dict[str, Any]:
    from xrsr_lib.io.info import volume_info

    try:
        return volume_info(args.path, raw=_raw(args))
    except (FileNotFoundError, KeyError) as err:
        raise XrsrInputError(str(err).strip("'\"")) from None


# ---------------------------------------------------------------------------------- parser


#: The subcommands: name -> the function that runs it and returns its JSON result.
COMMANDS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "simulate": _simulate,
    "register": _register,
    "train": _train,
    "predict": _predict,
    "evaluate": _evaluate,
    "info": _info,
    "settings": _settings,
}
