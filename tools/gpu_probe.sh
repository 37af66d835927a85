#!/usr/bin/env bash
# The GPU probe (issue 25): every CUDA path and the full-scale cost, measured inside one short device lease.
#
#   FOODLIB_COMMIT=<sha> tools/gpu_probe.sh        # on the lent GPU machine, after tools/gpu_wheels.sh here
#   tools/gpu_probe.sh --cpu-dry-run               # here, on a CPU: the same steps at tiny sizes
#
# Steps, each under `timeout` with its own budget and all within PROBE_BUDGET_S (default 540 s = 9 min on the
# GPU, 2400 s for the dry run):
#   setup      the carried wheels (.whl/) installed into /tmp/probe-site over the device's python3
#   check      tools/gpu_check.py: smoke data, tiny models, device cuda, compile on, bf16 (a failure is loud)
#   eager      python -m foodlib.bench models: ViT-B/16, Swin V2-T (SDPA attention) train + eval, CLIP ViT-B/32 eval
#   pipeline   python -m foodlib.bench pipeline with 16 workers (the rows that say whether training is input-bound)
#   rehearsal  profile rehearsal at two sizes (REHEARSAL_SIZES, train/test per class), two epochs of each fine-tune
#              and probe (the second tells an epoch's cost from the first one's one-off costs), every other
#              setting as full, notebook by notebook (01 small, 01 large, 02 small, ...), one inductor cache
#   compiled   python -m foodlib.bench models --compile, with whatever time is left
# Records, rewritten after every step (a run cut short still leaves them), under $OUT (8 files at most):
#   $OUT/benchmarks/<device>.json            measured rows: the check, the bench steps, each step's time
#   $OUT/benchmarks/rehearsal_<device>.json  the rehearsal runs (measured), the fit, Food-101's size projected
#   $OUT/probe.log                           everything printed
# The exit status is 1 when any step failed or timed out, and the last lines name them.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SELF=$ROOT/tools/gpu_probe.sh

# Each step runs as `gpu_probe.sh --step NAME` under timeout, which signals the step's whole process group
# (papermill, its kernel, the DataLoader workers) when the budget runs out.
export PROBE_DRY=${PROBE_DRY:-0}
[ "${1:-}" = "--cpu-dry-run" ] && PROBE_DRY=1
DRY=$PROBE_DRY
export OUT=${OUT:-$ROOT/results/probe} PROBE_WORK=${PROBE_WORK:-/tmp/probe-work}
WORK=$PROBE_WORK
LOG=$OUT/probe.log
RESERVE=25  # seconds kept for the last records
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
export TORCHINDUCTOR_CACHE_DIR=$WORK/inductor TRITON_CACHE_DIR=$WORK/triton  # cold at the start, shared after
FAILED=()

if [ "$DRY" = 1 ]; then  # here: the project's own environment, tiny sizes, CPU
    PY=${PROBE_PYTHON:-${FOODLIB_PYTHON:-python3}}
    export PYTHONPATH=$ROOT
    DEVICE=cpu
    CHECK=(-p device cpu -p mixed_precision no -p compile off -p num_workers 0 -p num_epochs 1)
    BENCH=(--device cpu --batch-size 2 --eval-batch-size 2 --iters 1 --warmup 0)
    PIPE=(--device cpu --workers 2 --num-images 24 --repeats 1 --loader-images 48)
    PROFILE=smoke SIZES=${REHEARSAL_SIZES:-"4/2 8/4"} TARGET=(--target smoke)
    BUDGETS=(setup=30 check=240 eager=240 pipeline=180 rehearsal=900 compiled=0)
else  # the lent GPU machine: its python3 (torch 2.11 + CUDA), the carried wheels on top
    PY=${PROBE_PYTHON:-python3}
    export PYTHONPATH=$ROOT:/tmp/probe-site
    DEVICE=cuda
    CHECK=(-p device cuda -p mixed_precision bf16 -p compile on -p num_epochs 2)
    BENCH=(--device cuda)
    PIPE=(--device cuda --workers 16 --num-images 512 --repeats 1 --loader-images 2048)
    PROFILE=rehearsal SIZES=${REHEARSAL_SIZES:-"20/8 40/16"} TARGET=(--target rehearsal)
    BUDGETS=(setup=60 check=100 eager=60 pipeline=75 rehearsal=300 compiled=150)
fi
export FOODLIB_PYTHON=$PY
budget() { local kv; for kv in "${BUDGETS[@]}"; do [ "${kv%%=*}" = "$1" ] && echo "${kv#*=}"; done; }
say() { echo "$*" | tee -a "$LOG"; }

records() {  # rewrite both records from what WORK holds now (quietly; never fails the probe)
    local slug runs=()
    slug=$(timeout 60 "$PY" -m foodlib.bench.probe slug 2>>"$LOG" | tail -1)
    [ -n "$slug" ] || slug=unknown_device
    [ "$DRY" = 1 ] && slug=${slug}_dryrun
    timeout 60 "$PY" -m foodlib.bench.probe device "$WORK" --out "$OUT/benchmarks/$slug.json" >>"$LOG" 2>&1
    for size in $SIZES; do
        [ -f "$WORK/rehearsal_${size%/*}/$PROFILE/timings.json" ] && runs+=("$WORK/rehearsal_${size%/*}/$PROFILE")
    done
    if [ "${#runs[@]}" -ge 2 ]; then
        timeout 60 "$PY" -m foodlib.bench.probe rehearsal "${runs[@]}" "${TARGET[@]}" -p device "$DEVICE" \
            --out "$OUT/benchmarks/rehearsal_$slug.json" 2>&1 | tee -a "$LOG" | grep -E '^(projected|wrote)'
    fi
}

step() {  # step NAME: run do_NAME under timeout within its budget; log status and seconds in WORK/steps.tsv
    local name=$1 want left t0 rc status
    want=$(budget "$name")
    left=$((DEADLINE - RESERVE - $(date +%s)))
    if [ "$left" -lt 20 ] || [ "$want" -le 0 ]; then
        say "==> $name: skipped ($([ "$want" -le 0 ] && echo 'not in this mode' || echo "${left} s left"))"
        printf '%s\tskipped\t0\t%s\n' "$name" "$want" >>"$WORK/steps.tsv"
        return 0
    fi
    [ "$want" -gt "$left" ] && want=$left
    say "==> $name (budget ${want} s, $((DEADLINE - $(date +%s))) s left in all)"
    t0=$(date +%s)
    timeout -k 10 "$want" bash "$SELF" --step "$name" >"$WORK/$name.log" 2>&1
    rc=$?
    cat "$WORK/$name.log" >>"$LOG"
    case $rc in 0) status=ok ;; 124 | 137) status=timed_out ;; *) status="failed_rc_$rc" ;; esac
    if [ "$status" != ok ]; then
        FAILED+=("$name: $status")
        say "    $name: $status; its last lines:" && tail -n 25 "$WORK/$name.log" | sed 's/^/    | /'
    fi
    say "    $name: $status in $(($(date +%s) - t0)) s"
    printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$(($(date +%s) - t0))" "$want" >>"$WORK/steps.tsv"
    return $rc
}

do_setup() {
    if [ "$DRY" = 0 ]; then
        ls .whl/*.whl >/dev/null 2>&1 || { echo "no wheels in .whl/: run tools/gpu_wheels.sh here and carry .whl"; return 1; }
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/probe-site \
            .whl/*.whl || return 1
        nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    fi
    "$PY" -c 'import foodlib, papermill, clip, ipykernel, torch, torchvision, transformers, pandas
print("foodlib from", foodlib.__file__, "| torch", torch.__version__, "| torchvision", torchvision.__version__,
      "| transformers", transformers.__version__, "| pandas", pandas.__version__, "| cuda", torch.cuda.is_available())'
}

do_rehearsal() {  # the series at each size, notebook by notebook, so a cut-short run still fits what it measured
    local nb size
    for nb in 01 02 03 04 05 06 07; do
        for size in $SIZES; do
            local dir=$WORK/rehearsal_${size%/*}
            ./run_all.sh --profile "$PROFILE" --only "$nb" -p device "$DEVICE" \
                -p synthetic_train_per_class "${size%/*}" -p synthetic_test_per_class "${size#*/}" \
                -p num_epochs 2 -p linear_probe_epochs 2 -p results_dir "$dir" || return 1
            cp "$dir/$PROFILE/timings.json" "$dir/$PROFILE/timings_$nb.json"  # --only rewrites timings.json
        done
        records
    done
}

do_check() {
    echo "+ tools/gpu_check.py ${CHECK[*]}"
    "$PY" tools/gpu_check.py "$WORK/gpu_check" "${CHECK[@]}" --out "$WORK/gpu_check.json"
}
do_eager() { bench --sections models --models vit,swin,clip "${BENCH[@]}" --out "$WORK/bench_eager.json"; }
do_pipeline() { bench --sections pipeline "${PIPE[@]}" --out "$WORK/bench_pipeline.json"; }
do_compiled() { bench --sections models --models vit,swin,clip --compile "${BENCH[@]}" --out "$WORK/bench_compiled.json"; }
bench() { echo "+ python -m foodlib.bench $*"; "$PY" -m foodlib.bench "$@"; }

if [ "${1:-}" = "--step" ]; then  # inside one step (see step())
    "do_$2"
    exit
fi

rm -rf "$WORK" && mkdir -p "$WORK" "$OUT/benchmarks"
: >"$LOG"
START=$(date +%s)
DEADLINE=$((START + ${PROBE_BUDGET_S:-$([ "$DRY" = 1 ] && echo 2400 || echo 540)}))
say "gpu_probe: $([ "$DRY" = 1 ] && echo 'CPU dry run' || echo 'GPU'), python $PY, budget $((DEADLINE - START)) s, commit ${FOODLIB_COMMIT:-from git}"
step setup || { records; say "FAILED: setup (see $LOG)"; exit 1; }
for name in check eager pipeline rehearsal compiled; do
    step "$name"
    records
done
say "gpu_probe: $(($(date +%s) - START)) s; records: $(cd "$OUT" && ls benchmarks/*.json | tr '\n' ' ')"
if [ "${#FAILED[@]}" -gt 0 ]; then
    say "FAILED: ${FAILED[*]} (see $LOG)"
    exit 1
fi
say "gpu_probe: every step ok"
