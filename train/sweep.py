"""Grid sweeps (e.g. accuracy versus |E|) with seed spread: table CSVs and a plot."""

from __future__ import annotations

import io
import math
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from imcpnn.atomic import atomic_write_bytes, atomic_write_text
from imcpnn.errors import ConfigError
from imcpnn.train.config import parse_value, resolve_key


def parse_param(spec: str) -> tuple[str, list]:
    """'e_rev=1,2,4,8,inf' -> ('e_rev', [1, 2, 4, 8, inf])."""
    if "=" not in spec:
        raise ConfigError(f"--param expects key=v1,v2,..., got {spec!r}")
    key, vals = spec.split("=", 1)
    key = key.strip()
    resolve_key(key)  # unknown keys fail here
    values = [parse_value(v) for v in vals.split(",") if v.strip()]
    if not values:
        raise ConfigError(f"--param {key}: no values given")
    return key, values


def _fmt(v) -> str:
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return str(v)


def _job(args: dict) -> dict:
    import torch

    from imcpnn.train.loop import resume, run

    torch.set_num_threads(args["threads"])
    sets = dict(args["sets"])
    sets[args["key"]] = args["value"]
    sets["seed"] = args["seed"]
    sets["threads"] = args["threads"]
    if (Path(args["out"]) / "config.yaml").is_file():  # a re-run of an interrupted sweep continues its runs
        run_dir, summary = Path(args["out"]), resume(args["out"], progress=False)
    else:
        run_dir, summary = run(args["config"], out=args["out"], sets=sets, cell=args["cell"], progress=False)
    return {"value": _fmt(args["value"]), "seed": args["seed"], "test_accuracy": summary["test_accuracy"],
            "train_seconds": summary["train_seconds"], "run_dir": str(run_dir)}


def run_sweep(config, param: str, seeds: int = 1, jobs: int = 1, out: str | Path = "runs/sweep", cell=None,
              sets: list[str] | None = None, base_seed: int = 0) -> Path:
    """Train config for every value of `param` ('key=v1,v2,...') and seeds base_seed..base_seed+seeds-1.
    Runs already in OUT (an interrupted sweep) are resumed, not restarted.
    Writes OUT/sweep_runs.csv (one row per run), OUT/sweep.csv (mean, std, min, max per value) and OUT/sweep.png."""
    import pandas as pd

    from imcpnn.train.loop import log

    key, values = parse_param(param)
    base = dict(x.split("=", 1) for x in (sets or []) if "=" in x)
    base = {k.strip(): parse_value(v) for k, v in base.items()}
    # validate the whole grid before starting anything
    from imcpnn.train.loop import make_config

    for v in values:
        make_config(config, sets={**base, key: v}, cell=cell)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = max(1, int(jobs))
    threads = max(1, (os.cpu_count() or 1) // jobs)
    tasks = [{"config": config, "key": key, "value": v, "seed": base_seed + s, "sets": base, "cell": cell,
              "threads": threads, "out": str(out / f"{key}={_fmt(v)}" / f"seed{base_seed + s}")}
             for v in values for s in range(seeds)]
    rows = []
    if jobs == 1:
        for i, t in enumerate(tasks, 1):
            rows.append(_job(t))
            log(f"sweep {i}/{len(tasks)}: {key}={_fmt(t['value'])} seed {t['seed']} -> "
                f"test_accuracy {rows[-1]['test_accuracy']:.4f}")
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as ex:
            futs = {ex.submit(_job, t): t for t in tasks}
            for i, fut in enumerate(as_completed(futs), 1):
                t = futs[fut]
                rows.append(fut.result())
                log(f"sweep {i}/{len(tasks)}: {key}={_fmt(t['value'])} seed {t['seed']} -> "
                    f"test_accuracy {rows[-1]['test_accuracy']:.4f}")
    df = pd.DataFrame(rows)
    order = {_fmt(v): i for i, v in enumerate(values)}
    df = df.sort_values(by=["value", "seed"], key=lambda c: c.map(order) if c.name == "value" else c)
    atomic_write_text(out / "sweep_runs.csv", df.to_csv(index=False))
    agg = (df.groupby("value", sort=False)["test_accuracy"].agg(["mean", "std", "min", "max", "count"])
           .reset_index().rename(columns={"value": key}))
    agg["std"] = agg["std"].fillna(0.0)
    atomic_write_text(out / "sweep.csv", agg.to_csv(index=False))
    _plot(agg, key, out / "sweep.png", df)
    return out


def _plot(agg, key: str, path: Path, df) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    vals = [float(v) for v in agg[key]]
    finite = [v for v in vals if math.isfinite(v) and v > 0]
    numeric = bool(finite) and len(finite) >= len(vals) - 1
    if numeric:
        top = max(finite) if finite else 1.0
        xs = [v if math.isfinite(v) else top * 4 for v in vals]
    else:
        xs = list(range(len(vals)))
    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=120)
    ax.errorbar(xs, agg["mean"] * 100, yerr=agg["std"] * 100, marker="o", capsize=4, label="mean ± std")
    pos = dict(zip(agg[key], xs))
    ax.scatter([pos[v] for v in df["value"]], df["test_accuracy"] * 100, s=10, alpha=0.5, color="k", label="seeds")
    if numeric:
        ax.set_xscale("log")
    ax.set_xticks(xs)
    ax.set_xticklabels([_fmt(v) for v in agg[key]])
    ax.minorticks_off()
    ax.set_xlabel(key)
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
