"""Copy a run's result CSV files into the docs and rewrite the docs' result tables from them.

    python scripts/publish_results.py figures/cpu          # after ./run_all.sh (profile cpu)
    python scripts/publish_results.py --check              # the docs' tables equal docs/data/cpu?

Copies :data:`xrsr_lib.studies.report.RESULT_FILES` that exist in the run folder to
``docs/data/<profile>/`` (the profile is the folder's name), then replaces the body of every
``<!-- table:NAME -->`` block of README.md and ``docs/**/*.md`` with the table rendered from those
files (:func:`xrsr_lib.studies.report.render_tables`). ``--check`` changes nothing and exits 1 when
a block differs from its rendering (``tests/test_report.py`` does the same).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from xrsr_lib.studies.report import RESULT_FILES, render_tables, replace_blocks  # noqa: E402


def pages(repo: Path = REPO) -> list[Path]:
    """List the markdown pages that may hold table blocks."""
    return [repo / "README.md", *sorted((repo / "docs").rglob("*.md"))]


def rendered_pages(data: Path, repo: Path = REPO) -> list[tuple[Path, str, str, list[str]]]:
    """``(page, text, new text, table names)`` of every page, its blocks rendered from ``data``."""
    tables = render_tables(data)
    out = []
    for page in pages(repo):
        text = page.read_text()
        new, names = replace_blocks(text, tables, source=str(page.relative_to(repo)))
        out.append((page, text, new, names))
    return out


def stale_pages(data: Path, repo: Path = REPO) -> list[str]:
    """Pages whose blocks differ from the tables rendered from ``data`` (``page: names``)."""
    return [
        f"{page.relative_to(repo)}: {', '.join(names)}"
        for page, text, new, names in rendered_pages(data, repo)
        if new != text
    ]


def main(argv: list[str] | None = None) -> int:
    """Publish a run's results into the docs, or with ``--check`` compare them; return the exit status.

    The status is 1 when ``--check`` finds a stale page, else 0.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", type=Path, help="a run's figure folder, e.g. figures/cpu")
    parser.add_argument("--check", action="store_true", help="only check that the docs are up to date")
    parser.add_argument("--profile", default="cpu", help="docs/data/<profile> to check (default cpu)")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_pages(REPO / "docs" / "data" / args.profile)
        for line in stale:
            print(f"stale: {line} (run scripts/publish_results.py figures/{args.profile})", file=sys.stderr)
        return 1 if stale else 0
    if args.run is None or not args.run.is_dir():
        parser.error(f"run folder {args.run} does not exist")
    data = REPO / "docs" / "data" / args.run.name
    data.mkdir(parents=True, exist_ok=True)
    copied = [name for name in RESULT_FILES if (args.run / name).exists()]
    for name in copied:
        shutil.copyfile(args.run / name, data / name)
    print(f"copied {len(copied)} files to {data.relative_to(REPO)}: {', '.join(copied)}")
    for page, text, new, names in rendered_pages(data):
        if new != text:
            page.write_text(new)
        if names:
            print(f"{page.relative_to(REPO)}: {', '.join(names)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
