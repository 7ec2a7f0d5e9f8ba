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

from xrsr_lib.config import LOSS_MASKS, METHODS, PRESET_NAMES, PROFILE_NAMES

__all__ = ["build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the ``xrsr`` command: its subcommands and options (this module's text as help)."""
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
