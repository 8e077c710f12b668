#!/usr/bin/env bash
# Issue 17's GPU measurement in one call (one CUDA GPU, the project installed; about 12-15 min in all):
#
#   scripts/gpu/bench_speed.sh [OUT_DIR]        # default: $OUT if set, else results/bench
#
# 1. builds the full-size SAO 1.0 architecture with random fp16 weights from tests/fixtures (a hub-layout
#    snapshot under $TMPDIR, loaded back through difftone.models.load_sao: the paper run's code path);
# 2. runs python -m difftone.bench on it at the issue's settings (fp16, 10 s, 100 steps, CFG 7, 2 sources x
#    9 targets x 3 strategies): window full (+ the full-size DiT / trace-read ratio), window duration, and
#    window full with model.compile (CUDA graphs; its own time limit: the compile itself takes minutes).
# Writes OUT_DIR/bench_{full,duration,full_compile}.json and OUT_DIR/bench.log. Not run yet: docs/speed.md
# says what is measured until its figures are added there.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT_DIR=${1:-${OUT:-results/bench}}
mkdir -p "$OUT_DIR"
PY=${PYTHON:-python}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
SNAP=$(mktemp -d)/sao-random
log() { echo "[$(date +%T)] $*" | tee -a "$OUT_DIR/bench.log"; }

log "building the random-weight snapshot in $SNAP"
$PY scripts/gpu/build_random_snapshot.py "$SNAP" >>"$OUT_DIR/bench.log" 2>&1 || { log "snapshot build failed"; exit 1; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >>"$OUT_DIR/bench.log" 2>&1
COMMON=(--device cuda --dtype float16 --model "$SNAP" --steps 100 --duration 10 --guidance-scale 7
        --sources 2 --scratch-edits 3 --batch-size 16)
status=0
run() {  # run NAME LIMIT_S ARGS...
  local name=$1 limit=$2; shift 2
  log "bench $name (limit ${limit} s)"
  timeout "$limit" $PY -m difftone.bench "${COMMON[@]}" "$@" --json "$OUT_DIR/bench_$name.json" \
    >>"$OUT_DIR/bench.log" 2>&1 || { log "bench $name failed or ran past ${limit} s (rc $?)"; status=1; }
}
run full 300 --window full --denoiser-steps 3
run duration 200 --window duration --skip-full-size
run full_compile 330 --window full --compile --skip-full-size
log "done: $(ls "$OUT_DIR"/bench_*.json 2>/dev/null | tr '\n' ' ')"
exit $status
