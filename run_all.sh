#!/usr/bin/env bash
# Rebuild the Food-101 report, or run the tests. All set-up happens here.
#
#   ./run_all.sh --profile smoke          offline, CPU, minutes: every notebook on synthetic data
#   ./run_all.sh --test                   the test suite (same set-up)
#   ./run_all.sh                          the full, real rebuild (GPU + internet)
#   ./run_all.sh --profile smoke --only 04 05 | --from 03 | -p key value ...
#   ./run_all.sh --record smoke           copy results/smoke/ (ignored by git) to record/smoke/ (tracked)
#
# On first use, if the project is not importable by python3, a virtual
# environment .venv is created and the pinned dependencies (constraints.txt)
# are installed into it.
set -euo pipefail
cd "$(dirname "$0")"

export MPLBACKEND=Agg
export PYTHONUNBUFFERED=1
PY=${FOODLIB_PYTHON:-}

importable() { "$1" -c 'import foodlib, papermill, torch, torchvision, transformers, clip, pytest' >/dev/null 2>&1; }

if [ -z "$PY" ]; then
    if [ -x .venv/bin/python ] && importable .venv/bin/python; then
        PY=.venv/bin/python
    elif command -v python3 >/dev/null && importable python3 && [ ! -d .venv ]; then
        PY=python3
    else
        echo "==> setting up .venv (first use: a few minutes; pinned versions from constraints.txt)"
        [ -x .venv/bin/python ] || python3 -m venv .venv
        .venv/bin/python -m pip install --quiet --upgrade "pip>=24"
        .venv/bin/python -m pip install --quiet -c constraints.txt -e ".[dev,lab]"
        PY=.venv/bin/python
        importable "$PY" || { echo "set-up failed: .venv cannot import the project's packages" >&2; exit 1; }
    fi
fi

if [ "${1:-}" = "--test" ]; then
    shift
    export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
    echo "==> test suite ($("$PY" -c 'import sys; print(sys.executable)'))"
    set +e
    "$PY" -m pytest "$@"
    rc=$?
    set -e
    if [ "$rc" -eq 5 ]; then
        echo "ERROR: pytest collected no tests: the test suite is missing or broken" >&2
        exit 1
    fi
    exit "$rc"
fi

if [ "${1:-}" = "--record" ]; then
    shift
    exec "$PY" -m foodlib.run.record "$@"
fi

exec "$PY" -m foodlib.run.runner "$@"
