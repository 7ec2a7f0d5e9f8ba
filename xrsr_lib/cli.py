r"""The ``xrsr`` command: register, train, predict and evaluate on your own files.

Examples
--------
::

    xrsr simulate scans/ --profile smoke                  # files whose truth is known
    xrsr info scans/lres.tif                               # format, shape, voxel size: run it first
    xrsr register scans/lres.tif scans/mres.tif --lres-voxel 9 --hres-voxel 3 \
        --offset 21,6,-6 --out pose.json                   # recorded stage position, µm (z,y,x)
    xrsr train scans/lres.tif scans/mres.tif --pose pose.json --preset cpu --out model/
    xrsr settings --method deepnet --preset cpu --out settings.json    # edit, then reuse it:
    xrsr train scans/lres.tif scans/mres.tif --pose pose.json --settings settings.json --out model2/
    torchrun --nproc_per_node 2 $(which xrsr) train ...    # the same, data-parallel (DDP)
    xrsr predict model/ scans/lres.tif --out lfov_3um.zarr # whole volume, out of core, OME-Zarr
    xrsr predict model/ scans/lres.tif --out lfov_3um.zarr --workers 2   # on a dask LocalCluster
    xrsr predict model/ scans/lres.tif --out roi_3um.tif --roi 10:30,10:30,10:30
    xrsr train scans/lres.tif scans/mres.tif --pose pose.json --calibrate 0.2 --out model_cal/
    xrsr predict model_cal/ scans/lres.tif --out lfov_3um.zarr --trust   # + lfov_3um.zarr/trust
    xrsr evaluate roi_3um.tif reference_3um.tif --pores
    xrsr evaluate lfov_3um.zarr scans/mres.tif --pose pose.json   # on the registered fine scan's grid

Volumes are TIFF stacks, HDF5 (``file.h5:/dataset``), ``.npy``, Zarr / OME-Zarr, folders of slices,
MetaImage / NRRD / NIfTI, ZEISS ``.txm`` or raw files (docs/formats.md; ``xrsr info PATH`` shows
what a file holds); voxel sizes come from the file (ImageJ or OME metadata, HDF5
``voxel_size_um``, OME-Zarr scale, a Bruker log) or the ``--*-voxel`` options, never assumed.
``predict`` streams blocks from the input to the output (memory set by ``--block``, not
by the volume) and resumes an interrupted run. ``train --calibrate F`` keeps the last fraction F of
the fine scan's slices out of training and calibrates a trust map on them; ``predict --trust`` then
writes it (``<out>/trust``, or ``<stem>_trust<suffix>`` beside a file): per voxel, the half-width of
an interval around the prediction holding the fine-scan value with the stated coverage. Bad input
stops with exit code 2 and a one-line reason naming the file or option; any other error is a bug
and shows its traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np

from xrsr_lib.config import LOSS_MASKS, METHODS, PRESET_NAMES, PROFILE_NAMES
from xrsr_lib.io.cache import write_json_atomic
from xrsr_lib.io.errors import XrsrInputError
from xrsr_lib.io.scans import read_scan
from xrsr_lib.io.volumes import write_volume

log = logging.getLogger("xrsr")

__all__ = ["main"]

#: The command's own input errors are the library's (one type, one line, exit code 2).
CLIError = XrsrInputError

#: Keyword names of the library -> the options of the command that set them. A message of an
#: :class:`XrsrInputError` starting with (or asking to "give") its parameter names the option instead.
OPTIONS = {
    "voxel_size_um": "--voxel",
    "lres_voxel_um": "--lres-voxel",
    "hres_voxel_um": "--hres-voxel",
    "calibration_fraction": "--calibrate",
    "roi": "--roi",
    "chunks": "--chunks",
    "block": "--block",
    "scale": "--scale",
    "workers": "--workers",
    "scheduler": "--scheduler",
    "iterations": "--iterations",
    "batch_size": "--batch-size",
    "loss_mask": "--loss-mask",
    "settings": "--settings",
    "data_range": "--data-range",
    "raw_shape": "--raw-shape",
    "raw_dtype": "--raw-dtype",
}


def input_error_line(command: str, err: XrsrInputError) -> str:
    """Return the one line ``xrsr COMMAND: error: ...`` of an input error, in the command's option names."""
    message = str(err)
    option = OPTIONS.get(err.parameter or "")
    if option:
        name = re.escape(err.parameter or "")
        message = re.sub(rf"(^|\bgive ){name}\b", lambda m: m.group(1) + option, message)
    return f"xrsr {command}: error: {message}".splitlines()[0]


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
def _parser() -> argparse.ArgumentParser:
    from xrsr_lib.recovery import CALIBRATION_GAP, CALIBRATION_MIN_SLICES

    p = argparse.ArgumentParser(
        prog="xrsr",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("::", 1)[1].split("\n\nVolumes")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or log lines")
    sub = p.add_subparsers(dest="command", required=True)
    raw = argparse.ArgumentParser(add_help=False)  # the layout of headerless raw input files
    raw.add_argument("--raw-shape", metavar="Z,Y,X", help="voxels per axis of a raw input (.raw/.vol/.bin)")
    raw.add_argument("--raw-dtype", metavar="TYPE", help="voxel type of a raw input (uint8, uint16, ...)")
    raw.add_argument("--raw-offset", type=int, default=0, metavar="BYTES", help="header bytes of a raw input")

    i = sub.add_parser(
        "info",
        parents=[raw],
        help="what a volume file holds: format, shape, dtype, voxel "
        "size, chunking, the value range of a sample (the command to run first)",
    )
    i.add_argument("path", help="a volume file, .zarr, folder of slices or glob ('scan/*_rec*.tif')")

    s = sub.add_parser("simulate", help="write the multiscale simulation (lres/mres/hres TIFF, poses.json)")
    s.add_argument("out_dir")
    s.add_argument("--profile", default="smoke", choices=PROFILE_NAMES)

    r = sub.add_parser(
        "register", parents=[raw], help="find the HRES scan's pose in the LRES scan (JSON report)"
    )
    r.add_argument("lres")
    r.add_argument("hres")
    r.add_argument("--lres-voxel", type=float, help="LRES voxel size, µm (default: from the file)")
    r.add_argument("--hres-voxel", type=float, help="HRES voxel size, µm (default: from the file)")
    r.add_argument(
        "--offset",
        help="recorded centre of the HRES region in the LRES volume, z,y,x µm from "
        "its centre (default 0,0,0; write --offset=-4,30,14 when it starts with a minus)",
    )
    r.add_argument("--out", help="write the pose and report as JSON")

    t = sub.add_parser("train", parents=[raw], help="train a model on the registered overlap")
    t.add_argument("lres")
    t.add_argument("hres")
    t.add_argument("--pose", required=True, help="pose JSON from xrsr register")
    t.add_argument("--preset", default="cpu", choices=PRESET_NAMES)
    t.add_argument("--method", default="deepnet", choices=METHODS)
    t.add_argument(
        "--settings",
        metavar="FILE",
        help="method and settings (architecture, training, inference) from a file of xrsr settings "
        "(instead of --method and --preset; the options below still override it)",
    )
    t.add_argument("--iterations", type=int, help="override the preset's number of steps")
    t.add_argument("--batch-size", type=int, help="override the preset's (global) batch size")
    t.add_argument(
        "--loss-mask",
        choices=LOSS_MASKS,
        help="where in each HRES slice the loss counts, besides inside the LRES volume: "
        "fov_circle (the preset's; the cylinder of a scan reconstructed in a circle) or none "
        "(every voxel of the HRES volume is measured)",
    )
    t.add_argument("--lres-voxel", type=float)
    t.add_argument("--hres-voxel", type=float)
    t.add_argument(
        "--calibrate",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help=f"keep the last FRACTION of the HRES slices (at least {CALIBRATION_MIN_SLICES}, "
        f"after a gap of {CALIBRATION_GAP}) out of training and calibrate a trust map on them for "
        "predict --trust (default 0: none)",
    )
    t.add_argument("--out", required=True, help="model folder (must not exist)")

    g = sub.add_parser(
        "settings",
        help="write a preset's settings (architecture, training, inference) to a file, to edit and "
        "pass to xrsr train --settings (a run reproducible from one file)",
    )
    g.add_argument("--preset", default="cpu", choices=PRESET_NAMES)
    g.add_argument("--method", default="deepnet", choices=METHODS)
    g.add_argument("--out", required=True, help="settings file (.json; must not exist)")

    q = sub.add_parser(
        "predict", parents=[raw], help="recover a volume (or a region of it) with a trained model"
    )
    q.add_argument("model")
    q.add_argument("input")
    q.add_argument(
        "--out",
        required=True,
        help="output: .zarr (OME-Zarr with a pyramid, any size; an "
        "interrupted run resumes) or .tif/.h5/.npy (small results, held in memory)",
    )
    q.add_argument("--roi", help="z0:z1,y0:y1,x0:x1 in input voxels")
    q.add_argument("--scale", type=float, help="voxel-size ratio (default: the model's)")
    q.add_argument("--voxel", type=float, help="input voxel size, µm (default: from the file)")
    q.add_argument("--chunks", help="output chunk shape, voxels: n or z,y,x (default 64)")
    q.add_argument(
        "--block",
        help="output voxels computed at a time, a multiple of the chunks: n or z,y,x "
        "(sets the memory; default one chunk, 1x4x4 chunks for DeepNet)",
    )
    q.add_argument("--workers", type=int, help="run the blocks on a dask LocalCluster of this many processes")
    q.add_argument("--scheduler", help="run the blocks on a running dask cluster (scheduler address)")
    q.add_argument(
        "--trust",
        action="store_true",
        help="also write the trust map (a model trained with "
        "--calibrate): the image OUT/trust of a .zarr, else STEM_trust.SUFFIX beside OUT; per "
        "voxel the half-width of an interval holding the HRES value with the calibrated coverage",
    )

    e = sub.add_parser(
        "evaluate",
        parents=[raw],
        help="PSNR, SSIM, MS-SSIM, MSE and effective blur "
        "(Gaussian fit) of a result against a reference on the same grid; --pores adds pore "
        "statistics",
    )
    e.add_argument("result")
    e.add_argument("reference")
    e.add_argument("--voxel", type=float, help="voxel size, µm (default: from the files)")
    e.add_argument(
        "--data-range",
        type=float,
        help="grey-value range of PSNR/SSIM (default: the reference's "
        "max - min); also lets volumes of different types be compared as they are",
    )
    e.add_argument("--pores", action="store_true", help="segment the pores (dark) of both and compare them")
    e.add_argument(
        "--pose",
        help="pose JSON of xrsr register placing REFERENCE (a scan of a region) in the "
        "scan the RESULT (an OME-Zarr of xrsr predict) was predicted from: the result is "
        "resampled onto the reference's grid and scored where it covers it",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the ``xrsr`` command; returns the exit code (0, or 2 with a one-line reason).

    Only :class:`~xrsr_lib.io.errors.XrsrInputError` (bad user input) becomes that line; any other
    exception is a bug and propagates with its traceback.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    args.command_line = "xrsr " + shlex.join(argv)  # recorded with the outputs
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO, format="%(asctime)s %(name)s %(message)s"
    )
    commands = {
        "simulate": _simulate,
        "register": _register,
        "train": _train,
        "predict": _predict,
        "evaluate": _evaluate,
        "info": _info,
        "settings": _settings,
    }
    try:
        result = commands[args.command](args)
    except XrsrInputError as err:
        print(input_error_line(args.command, err), file=sys.stderr)
        return 2
    if os.environ.get("RANK", "0") == "0":  # under torchrun, one result (rank 0's)
        print(json.dumps(result, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
