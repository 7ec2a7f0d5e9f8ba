"""The ``xrsr`` command: register, train, predict and evaluate on your own files.

:mod:`~xrsr_lib.cli.parser` holds the options (``xrsr --help``; the documentation's command-line
reference is generated from it), :mod:`~xrsr_lib.cli.commands` what each subcommand does (it parses
the values and calls the facade, :class:`~xrsr_lib.recovery.Recovery`, and :mod:`xrsr_lib.io`), and
:func:`main` runs one: a bad input stops with exit code 2 and one line naming the option.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import sys

from xrsr_lib.cli.commands import COMMANDS
from xrsr_lib.cli.parser import build_parser
from xrsr_lib.io.errors import XrsrInputError

__all__ = ["OPTIONS", "build_parser", "input_error_line", "main"]


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


def main(argv: list[str] | None = None) -> int:
    """Run the ``xrsr`` command; returns the exit code (0, or 2 with a one-line reason).

    Only :class:`~xrsr_lib.io.errors.XrsrInputError` (bad user input) becomes that line; any other
    exception is a bug and propagates with its traceback.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.command_line = "xrsr " + shlex.join(argv)  # recorded with the outputs
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO, format="%(asctime)s %(name)s %(message)s"
    )
    try:
        result = COMMANDS[args.command](args)
    except XrsrInputError as err:
        print(input_error_line(args.command, err), file=sys.stderr)
        return 2
    if os.environ.get("RANK", "0") == "0":  # under torchrun, one result (rank 0's)
        print(json.dumps(result, indent=1, default=float))
    return 0
