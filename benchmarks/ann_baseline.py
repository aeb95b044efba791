"""Accuracy against |E|: the ANN, the scaled ANN and networks trained at each |E| (docs/paper.md §5.3, §7.1 claim 6).

1. Train CONFIG at |E| = --ann-e (the "ANN"; the paper: 100 for RC-Spike, 31.6 for TTFS).
2. `imcpnn.train.baseline`: the ANN unchanged at each |E| of --e, and scaled by the best (alpha+, alpha-) found on
   training samples.
3. Train CONFIG at each |E| of --e ("trained at |E|", bottom-up in the paper's sense: the model used in training has
   that |E|).
Every run uses --epochs and the seeds 0..--seeds-1 (trained-at-|E| accuracy is the mean over seeds; the ANN is seed 0).
Runs live in OUT/ann-E and OUT/e-E-sS; an interrupted benchmark continues them (resume) when started again. Prints a
Markdown table and writes OUT/table.csv (refused if it exists).

--result DIR writes claim 6's result file (imcpnn/results.py, scripts/paper_claims.py): id "6" for an RC-Spike
config, "6-ttfs" for a TTFS one, each judged against the |E| below which the paper's ANN collapses (4 for RC-Spike,
Fig. 4; 10 for TTFS, Fig. 10).

Usage: python benchmarks/ann_baseline.py --config digits-mlp --e 1,1.5,2,3,4,6,10,inf --epochs 5 --out DIR
                                        [--result docs/results]
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

from imcpnn.atomic import atomic_create_bytes
from imcpnn.results import write_result
from imcpnn.train import load_run, resume, run
from imcpnn.train.baseline import baseline, parse_e_values

#: per model kind: (claim id, the |E| below which the paper's ANN collapses, where the paper shows it)
PAPER_COLLAPSE = {"rcspike": ("6", 4.0, "Fig. 4"), "ttfs": ("6-ttfs", 10.0, "Fig. 10")}
#: an accuracy drop (fraction) from the ANN's own test accuracy that counts as a collapse, and the most that
#: networks trained at the same small |E| may lose against the best of them for the claim to hold
COLLAPSE_DROP, TRAINED_SLACK = 0.20, 0.05


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
    p.add_argument("--result", metavar="DIR", help="write claim 6's result file into DIR (e.g. docs/results)")
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
    table = [{"e_rev": r.e_rev, "ann": r.ann, "scaled_ann": r.scaled, "alpha_plus": r.alpha_plus,
              "alpha_minus": r.alpha_minus, "trained_mean": sum(trained[r.e_rev]) / len(trained[r.e_rev]),
              "trained_seeds": trained[r.e_rev]} for r in rows]
    _print_table(table)
    load = os.getloadavg()[0]
    print(f"{a.config}, {a.epochs} epochs, {a.seeds} seed(s) per |E|; alphas on {a.search_samples} training samples, "
          f"step {a.alpha_step} up to {a.alpha_max}; {time.perf_counter() - t0:.0f} s wall, 1-min load {load:.1f} "
          f"on {os.cpu_count()} CPUs")
    csv = ["e_rev,ann,scaled_ann,alpha_plus,alpha_minus,trained_mean,trained_seeds"]
    csv += [f"{_fmt_e(t['e_rev'])},{t['ann']},{t['scaled_ann']},{t['alpha_plus']},{t['alpha_minus']},"
            f"{t['trained_mean']},{' '.join(f'{x:.4f}' for x in t['trained_seeds'])}" for t in table]
    atomic_create_bytes(out / "table.csv", ("\n".join(csv) + "\n").encode("utf-8"))
    if a.result:
        write_claim(a, load_run(ann_dir).config.model.kind, ann_acc, table, load)
    return 0


def _print_table(table: list[dict]) -> None:
    lines = ["| |E| | ANN | scaled ANN | alpha+ / alpha- | trained at |E| |", "|---:|---:|---:|---:|---:|"]
    lines += [f"| {_fmt_e(t['e_rev'])} | {t['ann']:.3f} | {t['scaled_ann']:.3f} | {t['alpha_plus']:g} / "
              f"{t['alpha_minus']:g} | {t['trained_mean']:.3f} |" for t in table]
    print("\n".join(lines))


def write_claim(a: argparse.Namespace, kind: str, ann_acc: float, table: list[dict], load: float) -> Path:
    """Claim 6 (docs/paper.md §7.1): does the ANN collapse below the paper's |E| while training at that |E| holds?"""
    claim, limit, where = PAPER_COLLAPSE[kind]
    small = [t for t in table if t["e_rev"] < limit]
    pct = 100.0
    if not small:
        status, why, fig = "partial", f"no |E| below the paper's {limit:g} was measured", "no |E| below the limit"
    else:
        low = min(small, key=lambda t: t["ann"])
        best = max(t["trained_mean"] for t in table)
        collapsed = low["ann"] <= ann_acc - COLLAPSE_DROP
        held = min(t["trained_mean"] for t in small) >= best - TRAINED_SLACK
        status = "differs" if not collapsed else "reproduced" if held else "partial"
        fig = (f"ANN {pct * ann_acc:.1f} % at |E| {_fmt_e(a.ann_e)} -> {pct * low['ann']:.1f} % at |E| "
               f"{_fmt_e(low['e_rev'])} (scaled ANN {pct * low['scaled_ann']:.1f} %); trained at |E| "
               f"{_fmt_e(low['e_rev'])}: {pct * low['trained_mean']:.1f} % ({a.config}, {a.epochs} epochs)")
        if not collapsed:
            why = f"the ANN stays within {pct * COLLAPSE_DROP:.0f} points of its own accuracy below |E| {limit:g}"
        else:
            why = f"the ANN loses more than {pct * COLLAPSE_DROP:.0f} points below |E| {limit:g} ({where}) " + (
                "while networks trained there stay" if held else "but networks trained there do not stay") + \
                f" within {pct * TRAINED_SLACK:.0f} points of the best"
        why += f"; {a.config}, not the paper's data set"
    cmd = (f"python benchmarks/ann_baseline.py --config {a.config} --ann-e {_fmt_e(a.ann_e)} --e {a.e} "
           f"--epochs {a.epochs} --seeds {a.seeds} --search-samples {a.search_samples} --out {a.out} "
           f"--result {a.result}")
    return write_result(a.result, claim, figure=fig, status=status, why=why, command=cmd,
                        conditions={"config": a.config, "ann_e": a.ann_e, "epochs": a.epochs, "seeds": a.seeds,
                                    "alpha_step": a.alpha_step, "alpha_max": a.alpha_max,
                                    "search_samples": a.search_samples, "load_avg": load, "cpus": os.cpu_count()},
                        data={"ann_accuracy": ann_acc, "paper_collapse_e": limit,
                              "table": [{**t, "e_rev": _fmt_e(t["e_rev"])} for t in table]})


if __name__ == "__main__":
    sys.exit(main())
