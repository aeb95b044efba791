"""Training floors (issue 6), measured on CPU with 2 torch threads, one run at a time:

    iris-bottomup  test accuracy >= 93 % (mean over 5 seeds), each run < 30 s   (E from tests/fixtures/cell_paper.json)
    digits-mlp     test accuracy >= 95 %, < 3 min

Run it pinned to 2 cores: `taskset -c 0,1 .venv/bin/python benchmarks/train.py`. Each run is a real `imc-train run` subprocess, so the wall time includes start-up (imports, data) and all checkpoint
writes. Usage:
    .venv/bin/python benchmarks/train.py [--out runs/bench] [--only iris|digits] [--seeds 5] [--cell PATH]
Prints a table and writes OUT/bench.json. Exit status 1 when a floor is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMC_TRAIN = [sys.executable, "-m", "imcpnn.cli.train"]


def one(config: str, out: Path, seed: int, cell: str | None, threads: int) -> dict:
    if out.exists():
        shutil.rmtree(out)
    cmd = IMC_TRAIN + ["run", config, "--out", str(out), "--no-progress", "--set", f"seed={seed}",
                       "--set", "device=cpu"]
    if threads:
        cmd += ["--set", f"threads={threads}"]
    if cell:
        cmd += ["--cell", cell]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads or 1), MKL_NUM_THREADS=str(threads or 1))
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{config} seed {seed} failed: {proc.stderr.strip().splitlines()[-1:]}")
    s = json.loads((out / "summary.json").read_text())
    return {"config": config, "seed": seed, "test_accuracy": s["test_accuracy"], "train_seconds": s["train_seconds"],
            "wall_seconds": round(wall, 2)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="runs/bench")
    ap.add_argument("--only", choices=["iris", "digits"], default=None)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: the config's, 1 here)")
    ap.add_argument("--cell", default=str(ROOT / "tests" / "fixtures" / "cell_paper.json"))
    a = ap.parse_args()
    out = Path(a.out)
    rows, verdict = [], {}
    if a.only in (None, "iris"):
        iris = [one("iris-bottomup", out / f"iris-seed{s}", s, a.cell, a.threads) for s in range(a.seeds)]
        rows += iris
        mean = statistics.mean(r["test_accuracy"] for r in iris)
        worst = max(r["wall_seconds"] for r in iris)
        verdict["iris-bottomup"] = {"mean_test_accuracy": mean, "max_wall_seconds": worst,
                                    "ok": mean >= 0.93 and worst < 30}
    if a.only in (None, "digits"):
        d = one("digits-mlp", out / "digits-seed0", 0, None, a.threads)
        rows.append(d)
        verdict["digits-mlp"] = {"test_accuracy": d["test_accuracy"], "wall_seconds": d["wall_seconds"],
                                 "ok": d["test_accuracy"] >= 0.95 and d["wall_seconds"] < 180}
    print(f"{'config':<15}{'seed':>5}{'test_acc':>10}{'train_s':>9}{'wall_s':>8}")
    for r in rows:
        print(f"{r['config']:<15}{r['seed']:>5}{r['test_accuracy']:>10.4f}{r['train_seconds']:>9.1f}"
              f"{r['wall_seconds']:>8.1f}")
    for k, v in verdict.items():
        print(k, json.dumps(v))
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps({"runs": rows, "floors": verdict, "threads": a.threads}, indent=2))
    return 0 if all(v["ok"] for v in verdict.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
