#!/usr/bin/env bash
# Does the project install and run on Google Colab's own package set? (docs/colab.md)
#
#   tools/colab_check.sh [--venv DIR] [--python PY] [--work DIR] [--rev REV] [--skip-series] [--threads N]
#                        [--out FILE]
#
# 1. A virtual environment with Colab's versions of every package the project uses (built once into
#    WORK/venv, or DIR; a reused one is first restored to exactly the versions it was built with).
# 2. A notebook's set-up cell, run as Colab runs it: from a folder outside any checkout, with FOODLIB_REPO set
#    to this checkout (at REV, default HEAD). First pip's own report of that install (--dry-run --report) must
#    change none of Colab's versions (it may only add what Colab lacks); then the cell for real (it clones the
#    project and installs it), and `pip freeze` must still hold every one of Colab's versions.
# 3. The smoke series in the clone the cell made (./run_all.sh --profile smoke with that environment), and the
#    explorer's tests under Colab's ipywidgets 7.7.1.
# Exit status 0 only if every step passed. Logs and pip's reports go to WORK/logs. Downloads torch and its CUDA
# wheels the first time (about 5 GB). --threads N sets OMP_NUM_THREADS for the runs (a loaded 2-core machine
# runs torch faster on one thread). --out FILE writes the result as JSON: commit, Python, Colab's versions,
# what the cell added, the smoke series' timings, the tests' summary.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
ARGS="$*" REV=HEAD VENV= PY= WORK=${TMPDIR:-/tmp}/foodlib-colab-check SKIP_SERIES=0 THREADS= OUT=
while [ $# -gt 0 ]; do
    case "$1" in
        --venv) VENV=$2; shift 2 ;;
        --python) PY=$2; shift 2 ;;
        --work) WORK=$2; shift 2 ;;
        --rev) REV=$2; shift 2 ;;
        --skip-series) SKIP_SERIES=1; shift ;;
        --threads) THREADS=$2; shift 2 ;;
        --out) OUT=$(realpath -m "$2"); shift 2 ;;
        -h|--help) sed -n 2,19p "$0"; exit 0 ;;
        *) echo "colab_check.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
# Colab runs Python 3.13: use one where there is one (on PATH, or pyenv's), else say which is used instead.
if [ -z "$PY" ]; then
    PY=$(command -v python3.13 || ls -d "$(pyenv root 2>/dev/null || echo ~/.pyenv)"/versions/3.13*/bin/python3 \
         2>/dev/null | tail -1 || true)
    [ -n "$PY" ] || { PY=python3; echo "no Python 3.13 here: using $($PY --version) (Colab: 3.13)"; }
fi
VENV=${VENV:-$WORK/venv}
LOGS=$WORK/logs
mkdir -p "$LOGS"
T0=$SECONDS
step() { echo "==> [$((SECONDS - T0)) s] $*"; }
fail() { echo "FAILED: $*" >&2; exit 1; }
VPY=$VENV/bin/python

# Colab's GPU runtime (googlecolab/backend-info, pip-freeze.gpu.txt, August 2026: the versions docs/colab.md
# lists), then Colab's versions of what those pull in, from the same list.
PINS="torch==2.11.0 torchvision==0.26.0 transformers==5.15.0 datasets==4.0.0 accelerate==1.14.0
huggingface_hub==1.27.0 numpy==2.1.3 pandas==2.2.3 pyarrow==18.1.0 scipy==1.16.3 scikit-learn==1.6.1
matplotlib==3.10.0 pillow==11.3.0 safetensors==0.8.0 tqdm==4.67.3 ipywidgets==7.7.1 ipykernel==6.17.1
ipython==7.34.0 jupyter_client==7.4.9 notebook==6.5.7 widgetsnbextension==3.6.10
traitlets==5.7.1 tornado==6.5.1 pyzmq==26.2.1 jupyter_core==5.9.1 nbformat==5.10.4 nbclient==0.10.4
nbconvert==7.17.1 jupyterlab_widgets==3.0.16 jupyter_server==2.14.0 debugpy==1.8.15 psutil==5.9.5
setuptools==75.2.0 tensorboard==2.20.0 protobuf==5.29.6 pytest==8.4.2 fsspec==2025.3.0 dill==0.3.8
multiprocess==0.70.16 regex==2025.11.3 nest-asyncio==1.6.0 matplotlib-inline==0.2.2 prompt_toolkit==3.0.52
Pygments==2.20.0 packaging==26.2 requests==2.32.4 tokenizers==0.22.2"
BASELINE=$VENV/colab-baseline.txt  # the freeze right after the build: what "Colab's versions" means below
same_names() {  # names in $2 and not in $1 (pip freeze files), normalised
    "$VPY" -c 'import re, sys
names = lambda p: {re.sub(r"[-_.]+", "-", l.split("==")[0]).lower() for l in open(p) if "==" in l}
print(" ".join(sorted(names(sys.argv[2]) - names(sys.argv[1]))))' "$1" "$2"
}

if [ ! -f "$BASELINE" ]; then
    step "building $VENV with $("$PY" --version) and Colab's versions"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
    "$VPY" -m pip install --quiet pip==24.1.2  # Colab's pip
    # shellcheck disable=SC2086
    "$VPY" -m pip install --quiet $PINS > "$LOGS/build.txt" 2>&1 || fail "build: see $LOGS/build.txt"
    "$VPY" -m pip freeze --all > "$BASELINE"
else
    step "reusing $VENV: what earlier checks added removed, its built versions restored"
    "$VPY" -m pip freeze --all --exclude-editable > "$LOGS/before_restore.txt"
    "$VPY" -m pip uninstall --quiet -y foodlib 2>/dev/null || true
    extra=$(same_names "$BASELINE" "$LOGS/before_restore.txt")
    # shellcheck disable=SC2086
    [ -z "$extra" ] || "$VPY" -m pip uninstall --quiet -y $extra
    "$VPY" -m pip install --quiet --no-deps -r "$BASELINE" > "$LOGS/restore.txt" 2>&1 || fail "see $LOGS/restore.txt"
fi
"$VPY" -m pip freeze --all --exclude-editable | diff -q "$BASELINE" - > /dev/null || fail "$VENV lost its versions"

step "the set-up cell's install, as a dry run: pip's own report"
rm -rf "$WORK/source" "$WORK/runtime" "$WORK/results"  # a fresh clone, and a series that reuses nothing
git clone --quiet "$REPO" "$WORK/source" && git -C "$WORK/source" checkout --quiet "$REV"
echo "    $(git -C "$WORK/source" log --oneline -1)"
"$VPY" -m pip install --dry-run --quiet --report "$LOGS/setup_report.json" -e "$WORK/source" \
    > "$LOGS/setup_dry.txt" 2>&1 || fail "dry run: see $LOGS/setup_dry.txt"
"$VPY" - "$LOGS/setup_report.json" "$BASELINE" <<'EOF' || fail "the set-up install would change Colab's versions"
import json, re, sys
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
base = {norm(l.split("==")[0]): l.strip().split("==")[1] for l in open(sys.argv[2]) if "==" in l}
install = [(i["metadata"]["name"], i["metadata"]["version"]) for i in json.load(open(sys.argv[1]))["install"]]
changed = [f"{n} {base[norm(n)]} -> {v}" for n, v in install if norm(n) in base]
print("    would add:", " ".join(f"{n}=={v}" for n, v in install if norm(n) not in base and norm(n) != "foodlib"))
print("    would change:", ", ".join(changed) or "none of Colab's versions")
sys.exit(1 if changed else 0)
EOF

step "the set-up cell, run from outside any checkout with FOODLIB_REPO=$WORK/source"
mkdir -p "$WORK/runtime"
"$VPY" -c 'import nbformat, sys; print(nbformat.read(sys.argv[1], 4).cells[1].source)' \
    "$WORK/source/notebooks/01_data_prep.ipynb" > "$WORK/setup_cell.py"
(cd "$WORK/runtime" && FOODLIB_REPO="$WORK/source" "$VPY" -c 'exec(open("../setup_cell.py").read())
import foodlib.paths; print("    foodlib from", foodlib.paths.project_root())') > "$LOGS/setup.txt" 2>&1 \
    || { cat "$LOGS/setup.txt"; fail "the set-up cell: see $LOGS/setup.txt"; }
cat "$LOGS/setup.txt"
"$VPY" -m pip freeze --all --exclude-editable > "$LOGS/freeze_after.txt"
lost=$(comm -23 <(sort "$BASELINE") <(sort "$LOGS/freeze_after.txt"))
[ -z "$lost" ] || fail "after the set-up cell these versions of Colab's are gone: $lost"
echo "    pip freeze: every one of Colab's versions in place; added: $(same_names "$BASELINE" "$LOGS/freeze_after.txt")"

export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 MPLBACKEND=Agg FOODLIB_PYTHON=$VPY
[ -z "$THREADS" ] || export OMP_NUM_THREADS=$THREADS
cd "$WORK/runtime/food101"
if [ "$SKIP_SERIES" = 0 ]; then
    step "the smoke series in that clone (./run_all.sh --profile smoke)"
    ./run_all.sh --profile smoke -p results_dir "$WORK/results" > "$LOGS/smoke.txt" 2>&1 \
        || { tail -30 "$LOGS/smoke.txt"; fail "smoke series: see $LOGS/smoke.txt"; }
    sed -n '/^notebook /,/^total/p' "$LOGS/smoke.txt"
fi
step "the explorer's tests under ipywidgets $("$VPY" -c 'import ipywidgets; print(ipywidgets.__version__)')"
"$VPY" -m pytest tests/test_explorer.py -q -p no:cacheprovider > "$LOGS/pytest.txt" 2>&1 \
    || { tail -40 "$LOGS/pytest.txt"; fail "tests: see $LOGS/pytest.txt"; }
tail -1 "$LOGS/pytest.txt"
step "all passed"
[ -z "$OUT" ] || "$VPY" - "$OUT" "$BASELINE" "$LOGS" "$([ "$SKIP_SERIES" = 1 ] || echo "$WORK/results/smoke/timings.json")" "$((SECONDS - T0))" \
    "$(git -C "$WORK/source" rev-parse --short HEAD)" "$ARGS" <<'EOF'
import json, platform, sys, time
from pathlib import Path
out, base, logs, timings, elapsed_s, commit, args = sys.argv[1:]
pins = dict(l.strip().split("==") for l in open(base) if "==" in l)
after = dict(l.strip().split("==") for l in open(f"{logs}/freeze_after.txt") if "==" in l)
series = json.load(open(timings))["notebooks"] if timings else None
Path(out).write_text(json.dumps({
    "command": f"tools/colab_check.sh {args}".strip(), "date": time.strftime("%Y-%m-%d"), "commit": commit,
    "python": platform.python_version(), "colab_versions": pins,
    "added_by_setup_cell": {n: v for n, v in after.items() if n not in pins},
    "smoke_series": series and [{k: r[k] for k in ("notebook", "status", "seconds")} for r in series],
    "explorer_tests": open(f"{logs}/pytest.txt").read().strip().splitlines()[-1],
    "seconds": int(elapsed_s)}, indent=1) + "\n")
EOF
