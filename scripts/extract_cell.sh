#!/usr/bin/env bash
# Step 1 of both demos: the tt / 27 C cell in $1 (a directory), extracted unless a valid cell.json is already there.
# Usage: bash scripts/extract_cell.sh OUT_DIR   (from the repository root, .venv built)
set -euo pipefail
OUT=$1
if .venv/bin/python -c 'import sys; from imcpnn.cell import load_cell; load_cell(sys.argv[1])' \
     "$OUT/cell.json" 2>/dev/null; then
  echo "   $OUT/cell.json already extracted"
else  # none yet, or a damaged one: replacing it is deliberate here
  .venv/bin/imc-extract run --corner tt --out "$OUT/cell.json" --report "$OUT/extract-report" --force
fi
