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
mkdir -p "$out/executed"
out="$(cd "$out" && pwd)"
start=$(date +%s)
timings="$out/run_all_timings.csv"
echo "notebook,seconds" > "$timings"
for nb in notebooks/[0-9][0-9]_*.ipynb; do
    name="$(basename "$nb")"
    case "$name" in *"$only"*) ;; *) continue ;; esac
    # A notebook may run once per parameter set: 02 trains one model per (method, σ).
    runs=("")
    case "$name" in
        02_*)
            sigmas="$(python -c "from xrsr_lib.config import load_profile as p; print(*p('$profile').degrade.lres_sigmas_um)")"
            runs=()
            for method in deepnet srcnn; do
                for s in $sigmas; do runs+=("method=$method sigma=$s"); done
            done ;;
        17_*) runs=("n_seeds=$seeds") ;;
    esac
    for run in "${runs[@]}"; do
        extra=(); tag=""
        for kv in $run; do extra+=(-p "${kv%%=*}" "${kv#*=}"); tag="${tag}_${kv#*=}"; done
        executed="$out/executed/${name%.ipynb}${tag}.ipynb"
        echo "==> $name ${run:+($run) }(profile $profile)"
        t0=$(date +%s)
        if ! python -m papermill "$nb" "$executed" --cwd notebooks -p profile "$profile" -p figure_dir "$out" \
                "${extra[@]}" --log-output --log-level INFO --no-progress-bar; then
            cell="$(python - "$executed" <<'PY' 2>/dev/null || true
import sys, nbformat
nb = nbformat.read(sys.argv[1], as_version=4)
code = [c for c in nb.cells if c.cell_type == "code"]
for i, c in enumerate(code, 1):
    err = [o for o in c.get("outputs", []) if o.get("output_type") == "error"]
    if err:
        first = next((ln for ln in c.source.splitlines() if ln.strip()), "")
        print(f"code cell {i} (starts: {first[:70]!r}): {err[0].get('ename')}: {err[0].get('evalue', '')[:200]}")
        break
PY
)"
            echo "run_all.sh: FAILED in $name ${run:+($run) }at ${cell:-an unknown cell}" >&2
            echo "run_all.sh: the executed notebook, with the failing cell marked, is $executed" >&2
            echo "run_all.sh: stopped after $(( $(date +%s) - start )) s" >&2
            exit 1
        fi
        echo "    $name ${run:+($run) }done in $(( $(date +%s) - t0 )) s"
        echo "$name${run:+ ($run)},$(( $(date +%s) - t0 ))" >> "$timings"
    done
done
echo "total,$(( $(date +%s) - start ))" >> "$timings"
echo "run_all.sh: profile $profile finished in $(( $(date +%s) - start )) s; figures in $out (timings: $timings)"
