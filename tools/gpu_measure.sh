#!/usr/bin/env bash
# Measure this machine's GPU for the notebook series, and project the real run's time from two short rehearsals.
#
#   tools/gpu_measure.sh [DEST]         # on a machine with a CUDA GPU (DEST: default results/gpu_measure)
#   tools/gpu_measure.sh --cpu [DEST]   # the same steps, tiny, on a CPU (the smoke profile): tries the tool
#
# One step after the other (docs/speed.md says how to read them):
#   1. python -m foodlib.bench: the input pipeline's and the models' rows          -> DEST/bench.json
#   2. ./run_all.sh --profile rehearsal at 20/8 and at 40/16 train/test images per class, 2 epochs
#      (the second epoch tells an epoch's cost from the first one's start-up)      -> DEST/rehearsal_20, _40
#   3. python -m foodlib.run.estimate on both: each notebook at the rehearsal profile's own size (Food-101's,
#      7 epochs), labelled projected                                                -> DEST/estimate.json
# A failed step stops the script. Rerun step 3 with --profile full, or on other runs, at will.
set -euo pipefail
cd "$(dirname "$0")/.."
CPU=0
if [ "${1:-}" = "--cpu" ]; then
    CPU=1
    shift
fi
DEST=${1:-results/gpu_measure}
PY=${FOODLIB_PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
export FOODLIB_PYTHON=$PY HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 MPLBACKEND=Agg
if [ "$CPU" = 1 ]; then
    BENCH=(--device cpu --models vit --num-images 16 --loader-images 32 --repeats 1 --batch-size 1
           --eval-batch-size 2 --iters 1 --warmup 0)
    PROFILE=smoke SIZES="4/2 8/3"
else
    BENCH=(--device cuda --num-images 512)
    PROFILE=rehearsal SIZES="20/8 40/16"
fi
mkdir -p "$DEST"
echo "==> python -m foodlib.bench --sections pipeline,models ${BENCH[*]}"
"$PY" -m foodlib.bench --sections pipeline,models "${BENCH[@]}" --out "$DEST/bench.json"
runs=()
for size in $SIZES; do
    echo "==> ./run_all.sh --profile $PROFILE, $size train/test images per class, 2 epochs"
    ./run_all.sh --profile "$PROFILE" -p synthetic_train_per_class "${size%/*}" -p synthetic_test_per_class \
        "${size#*/}" -p num_epochs 2 -p results_dir "$DEST/rehearsal_${size%/*}"
    runs+=("$DEST/rehearsal_${size%/*}/$PROFILE")
done
echo "==> python -m foodlib.run.estimate ${runs[*]}"
"$PY" -m foodlib.run.estimate "${runs[@]}" --out "$DEST/estimate.json"
