"""Grid sweeps (e.g. accuracy versus |E|) with seed spread: table CSVs and a plot."""

from __future__ import annotations

import io
import itertools
import math
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from imcpnn.atomic import atomic_write_bytes, atomic_write_text
from imcpnn.errors import ConfigError
from imcpnn.train.config import parse_value, resolve_key
from imcpnn.train.loop import log, make_config, resume, run


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


def parse_grid(params: str | list[str] | tuple[str, ...]) -> dict[str, list]:
    """One or more --param specs -> {key: values}; their grid is every combination."""
    specs = [params] if isinstance(params, str) else list(params)
    if not specs:
        raise ConfigError("give at least one --param key=v1,v2,...")
    grid: dict[str, list] = {}
    for spec in specs:
        key, values = parse_param(spec)
        if key in grid:
            raise ConfigError(f"--param {key} is given twice; list all its values in one --param")
        grid[key] = values
    return grid


def _point_name(point: dict) -> str:
    return ",".join(f"{k}={_fmt(v)}" for k, v in point.items())


def _job(args: dict) -> dict:
    import torch

    torch.set_num_threads(args["threads"])
    sets = {**args["sets"], **args["point"], "seed": args["seed"], "threads": args["threads"]}
    if (Path(args["out"]) / "config.yaml").is_file():  # a re-run of an interrupted sweep continues its runs
        run_dir, summary = Path(args["out"]), resume(args["out"], progress=False)
    else:
        run_dir, summary = run(args["config"], out=args["out"], sets=sets, cell=args["cell"], progress=False)
    return {**{k: _fmt(v) for k, v in args["point"].items()}, "seed": args["seed"],
            "test_accuracy": summary["test_accuracy"], "train_seconds": summary["train_seconds"],
            "run_dir": str(run_dir)}


def _run_tasks(tasks: list[dict], jobs: int) -> list[dict]:
    def done(i: int, t: dict, row: dict) -> None:
        log(f"sweep {i}/{len(tasks)}: {_point_name(t['point'])} seed {t['seed']} -> "
            f"test_accuracy {row['test_accuracy']:.4f}")

    rows = []
    if jobs == 1:
        for i, t in enumerate(tasks, 1):
            rows.append(_job(t))
            done(i, t, rows[-1])
        return rows
    import multiprocessing as mp

    with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as ex:
        futs = {ex.submit(_job, t): t for t in tasks}
        for i, fut in enumerate(as_completed(futs), 1):
            rows.append(fut.result())
            done(i, futs[fut], rows[-1])
    return rows


def run_sweep(config, param: str | list[str], seeds: int = 1, jobs: int = 1, out: str | Path = "runs/sweep",
              cell=None, sets: list[str] | None = None, base_seed: int = 0) -> Path:
    """Train config over the grid of one or more params ('key=v1,v2,...': every combination) and seeds
    base_seed..base_seed+seeds-1. Runs already in OUT (an interrupted sweep) are resumed, not restarted.
    Writes OUT/sweep_runs.csv (one row per run), OUT/sweep.csv (mean, std, min, max per grid point), OUT/sweep.png."""
    import pandas as pd

    grid = parse_grid(param)
    keys = list(grid)
    points = [dict(zip(keys, combo)) for combo in itertools.product(*grid.values())]
    base = dict(x.split("=", 1) for x in (sets or []) if "=" in x)
    base = {k.strip(): parse_value(v) for k, v in base.items()}
    for p in points:  # validate the whole grid before starting anything
        make_config(config, sets={**base, **p}, cell=cell)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = max(1, int(jobs))
    threads = max(1, (os.cpu_count() or 1) // jobs)
    tasks = [{"config": config, "point": p, "seed": base_seed + s, "sets": base, "cell": cell, "threads": threads,
              "out": str(out / _point_name(p) / f"seed{base_seed + s}")}
             for p in points for s in range(seeds)]
    df = pd.DataFrame(_run_tasks(tasks, jobs))
    order = {_point_name({k: v for k, v in p.items()}): i for i, p in enumerate(points)}
    df["_order"] = [order[",".join(f"{k}={r[k]}" for k in keys)] for _, r in df.iterrows()]
    df = df.sort_values(by=["_order", "seed"]).drop(columns="_order")
    atomic_write_text(out / "sweep_runs.csv", df.to_csv(index=False))
    agg = (df.groupby(keys, sort=False)["test_accuracy"].agg(["mean", "std", "min", "max", "count"]).reset_index())
    agg["std"] = agg["std"].fillna(0.0)
    atomic_write_text(out / "sweep.csv", agg.to_csv(index=False))
    _plot(agg, keys, out / "sweep.png", df)
    return out


def _x_positions(labels: list[str]) -> tuple[list[float], bool]:
    """Log-scale positions for numeric values (inf drawn right of the largest), else the labels' order."""
    try:
        vals = [float(v) for v in labels]
    except ValueError:
        return list(range(len(labels))), False
    finite = [v for v in vals if math.isfinite(v) and v > 0]
    if not finite or len(finite) < len(vals) - 1:
        return list(range(len(labels))), False
    return [v if math.isfinite(v) else max(finite) * 4 for v in vals], True


def _plot(agg, keys: list[str], path: Path, df) -> None:
    """Accuracy against the first key; one line per combination of the others."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key, rest = keys[0], keys[1:]
    labels = list(dict.fromkeys(agg[key]))
    xs, numeric = _x_positions(labels)
    pos = dict(zip(labels, xs))
    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=120)
    groups = agg.groupby(rest, sort=False) if rest else [((), agg)]
    for name, g in groups:
        name = name if isinstance(name, tuple) else (name,)
        tag = ", ".join(f"{k}={v}" for k, v in zip(rest, name)) or "mean ± std"
        ax.errorbar([pos[v] for v in g[key]], g["mean"] * 100, yerr=g["std"] * 100, marker="o", capsize=4, label=tag)
    ax.scatter([pos[v] for v in df[key]], df["test_accuracy"] * 100, s=10, alpha=0.5, color="k", label="seeds")
    if numeric:
        ax.set_xscale("log")
    ax.set_xticks(xs)
    ax.set_xticklabels(labels)
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
