"""Running the ``xrsr`` command in-process, as the CLI tests do."""

from __future__ import annotations

import json

from xrsr_lib.cli import main


def run_xrsr(capsys, *argv: str) -> tuple[int, dict | None, str]:
    """Exit code, the printed JSON (on success) and stderr of ``xrsr --quiet ARGV``."""
    code = main(["--quiet", *argv])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else None), err
