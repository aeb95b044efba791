#!/usr/bin/env bash
# The digits demo at real size: extract the sky130 cell in ngspice (or reuse the one in $DEMO_OUT) -> train the
# 64-128-10 bottom-up network on sklearn digits (the cell's model, per-layer fan-in law) -> verify $DIGITS_SAMPLES
# test samples in ngspice, partitioned into transients of at most 16 neurons, flat device netlists, uncalibrated
# (--scale 1: the bottom-up model with the fan-in law needs no fitted scale, and fitting one simulates the whole
# network once per candidate, hours at this size; docs/verification.md). Re-running resumes from the cache and the
# finished steps. Cost: about 1 CPU-hour of ngspice per test sample (docs/verification.md), so the default is 1.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
OUT=${DEMO_OUT:-demo-digits-out}
SAMPLES=${DIGITS_SAMPLES:-1}
mkdir -p "$OUT"
t0=$(date +%s)
echo "== 1/3 imc-extract: characterising the cell (tt, 27 C)"
bash scripts/extract_cell.sh "$OUT"
echo "== 2/3 imc-train: digits-bottomup (64-128-10, the cell's model)"
if [ -f "$OUT/digits-bottomup/config.yaml" ]; then
  $BIN/imc-train resume "$OUT/digits-bottomup" --no-progress
else
  $BIN/imc-train run digits-bottomup --cell "$OUT/cell.json" --out "$OUT/digits-bottomup"
fi
echo "== 3/3 imc-verify: $SAMPLES digits test samples through ngspice"
if [ -f "$OUT/digits-bottomup/verify/summary.json" ]; then
  echo "   already verified"
else
  $BIN/imc-verify run "$OUT/digits-bottomup" --cell "$OUT/cell.json" --samples "$SAMPLES" --clip --scale 1 \
    --partition neurons:16 --device-form flat
fi
echo "done in $(( $(date +%s) - t0 )) s; report: $OUT/digits-bottomup/verify/report.md"
