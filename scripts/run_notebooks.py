"""Execute the study's notebooks in order with papermill, in one Python process (run_all.sh's engine).

    python scripts/run_notebooks.py --profile smoke --out figures/smoke [--only 04_] [--seeds 3]

run_all.sh checks the options, sets up the environment and calls this. One process runs every
notebook through papermill's Python API: starting ``python -m papermill`` per notebook cost 2-5 s
each (papermill's imports, and jsonschema compiling its format grammars on every start), a minute
or two over the 25 notebook runs of the ``smoke`` profile. Each notebook still runs in its own
fresh kernel. Notebook 02 runs once per (method, σ) of the profile, 17 once with ``n_seeds``.

Writes ``<out>/executed/<notebook>[_<params>].ipynb`` and ``<out>/run_all_timings.csv``; on a
failing cell prints the notebook, the cell (numbered as in the executed notebook, whose first code
cell is papermill's injected parameters) and the error, and exits 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import papermill
from papermill.exceptions import PapermillExecutionError

REPO = Path(__file__).resolve().parents[1]


def notebook_runs(name: str, profile: str, seeds: int) -> list[dict[str, Any]]:
    """Return the parameter sets a notebook runs with (beyond ``profile`` and ``figure_dir``)."""
    if name.startswith("02_"):
        from xrsr_lib.config import load_profile

        sigmas = load_profile(profile).degrade.lres_sigmas_um
        return [{"method": m, "sigma": float(s)} for m in ("deepnet", "srcnn") for s in sigmas]
    if name.startswith("17_"):
        return [{"n_seeds": seeds}]
    return [{}]


def failing_cell(executed: Path) -> str:
    """``code cell N (starts: '...'): Error: message`` of the first cell with an error output."""
    try:
        nb = nbformat.read(executed, as_version=4)
    except (OSError, ValueError):
        return "an unknown cell"
    code = [c for c in nb.cells if c.cell_type == "code"]
    for i, c in enumerate(code, 1):
        err = [o for o in c.get("outputs", []) if o.get("output_type") == "error"]
        if err:
            first = next((ln for ln in c.source.splitlines() if ln.strip()), "")
            return (
                f"code cell {i} (starts: {first[:70]!r}): {err[0].get('ename')}: "
                f"{err[0].get('evalue', '')[:200]}"
            )
    return "an unknown cell"


def run(profile: str, out: Path, only: str = "", seeds: int = 1, notebooks: Path | None = None) -> int:
    """Execute the notebooks whose name contains ``only``; 0 when all ran, 1 at the first failure."""
    notebooks = notebooks or REPO / "notebooks"
    (out / "executed").mkdir(parents=True, exist_ok=True)
    timings = out / "run_all_timings.csv"
    rows = ["notebook,seconds"]
    timings.write_text(rows[0] + "\n")
    start = time.time()
    for nb in sorted(notebooks.glob("[0-9][0-9]_*.ipynb")):
        if only not in nb.name:
            continue
        for extra in notebook_runs(nb.name, profile, seeds):
            label = " ".join(f"{k}={v}" for k, v in extra.items())
            name = f"{nb.name} ({label})" if label else nb.name
            tag = "".join(f"_{v}" for v in extra.values())
            executed = out / "executed" / f"{nb.stem}{tag}.ipynb"
            print(f"==> {name} (profile {profile})", flush=True)
            t0 = time.time()
            try:
                papermill.execute_notebook(
                    str(nb),
                    str(executed),
                    parameters={"profile": profile, "figure_dir": str(out), **extra},
                    cwd=str(notebooks),
                    log_output=True,
                    progress_bar=False,
                )
            except Exception as err:  # noqa: BLE001 - any failure stops the run with its notebook named
                # an error in a cell is marked in the executed notebook; a kernel that died (e.g. out
                # of memory) or did not start is not: name its error too
                in_cell = isinstance(err, PapermillExecutionError)
                where = failing_cell(executed) if executed.exists() else "an unknown cell"
                if not in_cell:
                    where += f" ({type(err).__name__}: {str(err)[:200]})"
                print(f"run_all.sh: FAILED in {name} at {where}", file=sys.stderr)
                marked = "the failing cell marked" if in_cell else "the outputs up to the failure"
                print(f"run_all.sh: the executed notebook, with {marked}, is {executed}", file=sys.stderr)
                print(f"run_all.sh: stopped after {time.time() - start:.0f} s", file=sys.stderr)
                return 1
            seconds = round(time.time() - t0)
            print(f"    {name} done in {seconds} s", flush=True)
            rows.append(f"{name},{seconds}")
            timings.write_text("\n".join(rows) + "\n")
    total = round(time.time() - start)
    timings.write_text("\n".join([*rows, f"total,{total}"]) + "\n")
    print(f"run_all.sh: profile {profile} finished in {total} s; figures in {out} (timings: {timings})")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the options and :func:`run` the notebooks; return its exit status (0 when all ran)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", required=True)
    parser.add_argument("--out", required=True, type=Path, help="figures/<profile> folder")
    parser.add_argument("--only", default="", help="run only notebooks whose name contains this")
    parser.add_argument("--seeds", default=1, type=int)
    parser.add_argument("--notebooks", default=REPO / "notebooks", type=Path, help="folder of NN_*.ipynb")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # the notebooks' log lines, as they run
    return run(args.profile, args.out.resolve(), args.only, args.seeds, args.notebooks.resolve())


if __name__ == "__main__":
    sys.exit(main())
