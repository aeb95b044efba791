#!/usr/bin/env bash
# The main job, end to end on the built-in Iris set: extract the sky130 cell in ngspice -> train the bottom-up PNN
# (extracted E) and the top-down baseline (|E| = 100) -> export both to netlists, simulate the 50 test samples in
# ngspice, compare model and circuit. Re-running resumes from the cache and the finished runs.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
OUT=${DEMO_OUT:-demo-out}
mkdir -p "$OUT"
t0=$(date +%s)
echo "== 1/4 imc-extract: characterising the cell (tt, 27 C)"
bash scripts/extract_cell.sh "$OUT"
echo "== 2/4 imc-train: bottom-up (E from cell.json) and top-down (|E| = 100)"
for cfg in iris-bottomup iris-topdown; do
  if [ -f "$OUT/$cfg/config.yaml" ]; then  # an interrupted run continues, a finished one returns at once
    $BIN/imc-train resume "$OUT/$cfg" --no-progress
  else
    $BIN/imc-train run "$cfg" --cell "$OUT/cell.json" --out "$OUT/$cfg"
  fi
done
echo "== 3/4 imc-verify: 50 Iris test samples through ngspice, per flow"
for cfg in iris-bottomup iris-topdown; do
  if [ -f "$OUT/$cfg/verify/summary.json" ]; then echo "   $cfg already verified"; continue; fi
  $BIN/imc-verify run "$OUT/$cfg" --cell "$OUT/cell.json" --samples 50 --clip
done
echo "== 4/4 comparison"
$BIN/imc-verify compare "$OUT/iris-bottomup" "$OUT/iris-topdown" --out "$OUT/comparison"
echo "done in $(( $(date +%s) - t0 )) s; report: $OUT/comparison/comparison.md"
