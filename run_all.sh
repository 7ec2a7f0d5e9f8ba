#!/usr/bin/env bash
# Regenerate every figure of the study: ./run_all.sh [--profile smoke|cpu|paper] [--seeds N]  (default: cpu, 1)
# Executes notebooks/NN_*.ipynb in order with papermill; executed notebooks, figures (PNG, PDF)
# and tables (CSV) land in figures/<profile>/. Heavy intermediate results are cached in cache/
# (or $XRSR_CACHE), so a second run only redoes what changed.
set -euo pipefail
cd "$(dirname "$0")"

profile=cpu
only=""
seeds=1
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) profile="${2:-}"; shift 2 ;;
        --profile=*) profile="${1#*=}"; shift ;;
        --only) only="${2:-}"; shift 2 ;;
        --seeds) seeds="${2:-}"; shift 2 ;;
        --seeds=*) seeds="${1#*=}"; shift ;;
        -h|--help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; echo "  --only PATTERN  run only notebooks whose name contains PATTERN"; echo "  --seeds N       train DeepNet and SRCNN with N seeds for the seed spread (notebook 17; default 1)"; exit 0 ;;
        *) echo "run_all.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    esac
done
case "$seeds" in
    ''|*[!0-9]*|0) echo "run_all.sh: --seeds must be a whole number >= 1, got '$seeds'" >&2; exit 2 ;;
esac
case "$profile" in
    smoke|cpu|paper) ;;
    *) echo "run_all.sh: unknown profile '$profile'; choose smoke, cpu or paper" >&2; exit 2 ;;
esac

# XRSR_SKIP_BOOTSTRAP=1 uses the python already on PATH (e.g. a conda environment) instead of .venv
if [ "${XRSR_SKIP_BOOTSTRAP:-0}" != 1 ]; then source scripts/bootstrap.sh; fi
export MPLBACKEND=Agg

out="${XRSR_FIGURES:-figures}/$profile"
# one Python process executes every notebook (each in a fresh kernel) and writes the timings
exec python scripts/run_notebooks.py --profile "$profile" --out "$out" --only "$only" --seeds "$seeds" \
    --notebooks notebooks
