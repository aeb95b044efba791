"""Accuracy against |E|: the ANN, the scaled ANN and networks trained at each |E| (docs/paper.md §5.3, §7.1 claim 6).

1. Train CONFIG at |E| = --ann-e (the "ANN"; the paper: 100 for RC-Spike, 31.6 for TTFS).
2. `imcpnn.train.baseline`: the ANN unchanged at each |E| of --e, and scaled by the best (alpha+, alpha-) found on
   training samples.
3. Train CONFIG at each |E| of --e ("trained at |E|", bottom-up in the paper's sense: the model used in training has
   that |E|).
Every run uses --epochs and the seeds 0..--seeds-1 (trained-at-|E| accuracy is the mean over seeds; the ANN is seed 0).
Runs live in OUT/ann-E and OUT/e-E-sS; an interrupted benchmark continues them (resume) when started again. Prints a
Markdown table and writes OUT/table.csv (refused if it exists).

Usage: python benchmarks/ann_baseline.py --config digits-mlp --e 1,1.5,2,3,4,6,10,inf --epochs 5 --out DIR
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

from imcpnn.atomic import atomic_create_bytes
from imcpnn.train import resume, run
from imcpnn.train.baseline import baseline, parse_e_values


def _fmt_e(e: float) -> str:
    return "inf" if math.isinf(e) else f"{e:g}"


def _train(config: str, out: Path, e: float, epochs: int, seed: int) -> float:
    """Test accuracy of CONFIG trained at |E| = e (continues a run left in `out`)."""
    if (out / "config.yaml").is_file():
        return resume(out, progress=False)["test_accuracy"]
    sets = {"e_rev": e, "epochs": epochs, "seed": seed, "keep_checkpoints": 1}
    return run(config, out=out, sets=sets, progress=False)[1]["test_accuracy"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="digits-mlp")
    p.add_argument("--e", default="1,1.5,2,3,4,6,10,inf", help="|E| values of the table")
    p.add_argument("--ann-e", type=float, default=100.0, help="|E| the ANN is trained at")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--alpha-step", type=float, default=0.1)
    p.add_argument("--alpha-max", type=float, default=3.0)
    p.add_argument("--search-samples", type=int, default=360)
    p.add_argument("--out", required=True, help="directory for the runs and table.csv")
    a = p.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if (out / "table.csv").exists():
        raise SystemExit(f"error: {out / 'table.csv'} exists; pick another --out (earlier results are kept)")
    es = parse_e_values(a.e)
    t0 = time.perf_counter()
    ann_dir = out / f"ann-{_fmt_e(a.ann_e)}"
    ann_acc = _train(a.config, ann_dir, a.ann_e, a.epochs, 0)
    print(f"ANN: {a.config} trained at |E| = {_fmt_e(a.ann_e)}, {a.epochs} epochs: test accuracy {ann_acc:.4f}",
          flush=True)
    rows = baseline(ann_dir, es, alpha_step=a.alpha_step, alpha_max=a.alpha_max, search_samples=a.search_samples)
    trained = {e: [_train(a.config, out / f"e-{_fmt_e(e)}-s{s}", e, a.epochs, s) for s in range(a.seeds)] for e in es}
    hdr = "| |E| | ANN | scaled ANN | alpha+ / alpha- | trained at |E| |"
    lines = [hdr, "|---:|---:|---:|---:|---:|"]
    csv = ["e_rev,ann,scaled_ann,alpha_plus,alpha_minus,trained_mean,trained_seeds"]
    for r in rows:
        acc = trained[r.e_rev]
        mean = sum(acc) / len(acc)
        lines.append(f"| {_fmt_e(r.e_rev)} | {r.ann:.3f} | {r.scaled:.3f} | {r.alpha_plus:g} / {r.alpha_minus:g} | "
                     f"{mean:.3f} |")
        csv.append(f"{_fmt_e(r.e_rev)},{r.ann},{r.scaled},{r.alpha_plus},{r.alpha_minus},{mean},"
                   f"{' '.join(f'{x:.4f}' for x in acc)}")
    print("\n".join(lines))
    load = os.getloadavg()[0]
    print(f"{a.config}, {a.epochs} epochs, {a.seeds} seed(s) per |E|; alphas on {a.search_samples} training samples, "
          f"step {a.alpha_step} up to {a.alpha_max}; {time.perf_counter() - t0:.0f} s wall, 1-min load {load:.1f} "
          f"on {os.cpu_count()} CPUs")
    atomic_create_bytes(out / "table.csv", ("\n".join(csv) + "\n").encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
