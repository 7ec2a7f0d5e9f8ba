"""Print constraints.txt: the installed version of every package pyproject.toml names.

    python scripts/freeze_constraints.py > constraints.txt     # after upgrading .venv on purpose

pyproject.toml states the ranges xrsr works with; constraints.txt pins the one combination CI and the
published figures used (scripts/bootstrap.sh installs with ``-c constraints.txt``). torch is always
``torch==2.13.0`` (the CPU build; an unpinned torch pulls CUDA wheels). Packages of an extra that is
not installed (astra, bench) are left out.
"""

from __future__ import annotations

import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
HEADER = """\
# Exact versions of the packages pyproject.toml names, as installed in the project's tested
# environment (Python 3.11, Linux x86-64). Used as
#     pip install -c constraints.txt -e ".[dev,docs,napari]"
# (scripts/bootstrap.sh): pyproject.toml states the ranges xrsr works with, this file the one
# combination CI and the published figures used. torch is the CPU build 2.13.0 (`==2.13.0` also
# matches the local version 2.13.0+cpu). Extras not installed there (astra, bench) are not pinned.
# Regenerate after upgrading .venv on purpose: python scripts/freeze_constraints.py > constraints.txt
"""


def constraints(pyproject: Path = REPO / "pyproject.toml") -> str:
    """Return constraints.txt's text: ``name==version`` of every installed package ``pyproject`` names.

    Grouped by core dependencies and extras (each package once, under its first group); torch is
    pinned to ``2.13.0`` and packages that are not installed are left out.
    """
    project = tomllib.loads(pyproject.read_text())["project"]
    groups = [("core", project["dependencies"])]
    groups += [(f"extra {k}", v) for k, v in project.get("optional-dependencies", {}).items()]
    seen: set[str] = {canonicalize_name(project["name"])}
    lines = [HEADER]
    for title, requirements in groups:
        pins = []
        for text in requirements:
            name = canonicalize_name(Requirement(text).name)
            if name in seen:
                continue
            seen.add(name)
            if name == "torch":
                pins.append("torch==2.13.0")
                continue
            try:
                pins.append(f"{Requirement(text).name}=={metadata.version(name)}")
            except metadata.PackageNotFoundError:
                continue
        if pins:
            lines.append(f"# {title}\n" + "\n".join(pins) + "\n")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(constraints())
