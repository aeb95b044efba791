"""imc-train: train physical spiking networks on circuit-derived parameters (thin click layer over imcpnn.train)."""

from __future__ import annotations

# The commands import their stage inside the function, not here: `-h`, `--version` and a usage error answer
# at once instead of first paying for torch, PySpice and libngspice.

import json

import click

from imcpnn.cli.common import Interrupted, tool_group
from imcpnn.errors import ConfigError


def _interrupted() -> Interrupted:
    # the training loop has already said which epoch is checkpointed (if any) and how to continue
    return Interrupted("interrupted")


def _range_warnings(config, sets, cell) -> list[str]:
    """Where CONFIG's network leaves what its cell was characterised for (none for a config without a cell)."""
    from imcpnn.train.loop import _input_shape, make_config
    from imcpnn.train.net import build_net, layer_weights
    from imcpnn.verify.characterised import characterisation_warnings

    cfg, model, cell_params, _ = make_config(config, sets, cell)
    if cell_params is None:
        return []
    return characterisation_warnings(layer_weights(build_net(cfg, _input_shape(cfg), model)), cell_params)


@tool_group("imc-train")
def main() -> None:
    """Train RC-Spike networks (docs/paper.md) with reversal potentials from a cell.json, resume exactly, sweep |E|."""


@main.command("run")
@click.argument("config")
@click.option("--cell", type=click.Path(), default=None, help="cell.json for configs with `from: cell.json`.")
@click.option("--out", type=click.Path(), default=None, help="run directory (default runs/NAME-TIMESTAMP).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="override a config key (repeatable).")
@click.option("--progress/--no-progress", default=None, help="progress bar (default: on a terminal).")
def run_cmd(config, cell, out, sets, progress):
    """Train CONFIG (a shipped name such as iris-bottomup, or a YAML path).

    --out must not hold a run already (of two runs started with the same --out, one is refused); a run that fails
    or is interrupted before its first epoch is checkpointed is removed again."""
    from imcpnn.train.loop import run

    for w in _range_warnings(config, list(sets), cell):
        click.echo(f"warning: {w}", err=True)
    try:
        run_dir, summary = run(config, out, list(sets), cell, progress=progress)
    except KeyboardInterrupt:
        raise _interrupted() from None
    click.echo(json.dumps({"run_dir": str(run_dir), "test_accuracy": summary["test_accuracy"],
                           "train_seconds": summary["train_seconds"]}))


@main.command("resume")
@click.argument("run_dir", type=click.Path())
@click.option("--progress/--no-progress", default=None)
def resume_cmd(run_dir, progress):
    """Continue RUN_DIR from its newest readable checkpoint (checkpoint.pt, else the newest intact
    checkpoints/epoch_NNNN.pt; it says which), bit-identical to an uninterrupted run on CPU."""
    from imcpnn.train.loop import resume

    try:
        summary = resume(run_dir, progress=progress)
    except KeyboardInterrupt:
        raise _interrupted() from None
    click.echo(json.dumps({"run_dir": str(run_dir), "test_accuracy": summary["test_accuracy"],
                           "train_seconds": summary["train_seconds"]}))


@main.command("eval")
@click.argument("run_dir", type=click.Path())
@click.option("--steps", type=click.IntRange(min=1), default=None, help="DSTD steps M at test time.")
@click.option("--sigma", type=click.FloatRange(min=0), default=None, help="spike-time noise at test time.")
@click.option("--e-rev", "e_rev", type=float, default=None, help="symmetric |E| at test time (robustness).")
@click.option("--stats", is_flag=True, help="add per-layer spike-time statistics (early spikes, docs/paper.md §5.3).")
@click.option("--early", type=click.FloatRange(min=0, max=1, min_open=True), default=None,
              help="with --stats: spikes before this time count as early (default 0.5).")
@click.option("--variation", type=click.IntRange(min=1), default=None, metavar="N",
              help="also the accuracy (mean, p5, min) over N sampled mismatch instances (docs/training.md).")
@click.option("--seed", type=int, default=None, help="with --variation: seed of the instances (default 0).")
@click.option("--variation-config", default=None, metavar="YAML",
              help="with --variation: sample this file's variation section instead of the run's.")
def eval_cmd(run_dir, steps, sigma, e_rev, stats, early, variation, seed, variation_config):
    """Re-evaluate RUN_DIR's test accuracy, optionally with another M, noise or |E|, or over sampled mismatch."""
    from imcpnn.train.loop import eval_run
    from imcpnn.train.stats import EARLY_T, spike_stats

    if e_rev is not None and not e_rev > 0:
        raise ConfigError(f"--e-rev must be > 0 (got {e_rev})")
    if early is not None and not stats:
        raise ConfigError("--early needs --stats")
    if (seed is not None or variation_config is not None) and not variation:
        raise ConfigError("--seed and --variation-config need --variation N")
    res = eval_run(run_dir, steps=steps, sigma=sigma, e_rev=e_rev, variation=variation,
                   variation_seed=seed or 0, variation_config=variation_config)
    if stats:
        res["spike_stats"] = spike_stats(run_dir, EARLY_T if early is None else early, steps=steps, sigma=sigma,
                                         e_rev=e_rev)
    click.echo(json.dumps(res, default=str))


@main.command("sweep")
@click.argument("config")
@click.option("--param", "params", required=True, multiple=True, metavar="KEY=V1,V2,...",
              help="e.g. e_rev=1,2,4,8,inf; repeat it for a grid of every combination.")
@click.option("--seeds", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True, help="parallel runs.")
@click.option("--out", type=click.Path(), default=None, help="sweep directory (default runs/sweep-NAME).")
@click.option("--cell", type=click.Path(), default=None)
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE")
def sweep_cmd(config, params, seeds, jobs, out, cell, sets):
    """Train CONFIG over a grid of parameters and seeds; writes sweep.csv, sweep_runs.csv and sweep.png."""
    from pathlib import Path

    from imcpnn.train.sweep import run_sweep

    out = out or f"runs/sweep-{Path(config).stem}"
    path = run_sweep(config, list(params), seeds=seeds, jobs=jobs, out=out, cell=cell, sets=list(sets))
    click.echo((Path(path) / "sweep.csv").read_text(), nl=False)


@main.command("baseline")
@click.argument("run_dir", type=click.Path())
@click.option("--e", "e_values", required=True, metavar="E1,E2,...", help="symmetric |E| values, e.g. 1,2,4,inf.")
@click.option("--alpha-step", type=click.FloatRange(min=0, min_open=True), default=0.1, show_default=True,
              help="grid step of alpha+ and alpha-.")
@click.option("--alpha-max", type=click.FloatRange(min=0, min_open=True), default=3.0, show_default=True)
@click.option("--search-samples", type=click.IntRange(min=1), default=360, show_default=True,
              help="training samples the alphas are chosen on.")
@click.option("--out", type=click.Path(), default=None, help="also write the CSV here (an existing file is refused).")
def baseline_cmd(run_dir, e_values, alpha_step, alpha_max, search_samples, out):
    """ANN and scaled-ANN baselines: RUN_DIR (trained at a large |E|) evaluated unchanged at each |E|, and with the
    best (alpha+, alpha-) scaling of its positive / negative weights (chosen on training samples). Prints a CSV of
    test accuracies."""
    from pathlib import Path

    from imcpnn.train.baseline import baseline, parse_e_values, rows_csv, save_csv

    if out and Path(out).exists():  # say so before the search, not after it
        raise ConfigError(f"{out} already exists; pick another --out (earlier results are kept)")
    rows = baseline(run_dir, parse_e_values(e_values), alpha_step=alpha_step, alpha_max=alpha_max,
                    search_samples=search_samples)
    if out:
        save_csv(out, rows)
    click.echo(rows_csv(rows), nl=False)


@main.command("configs")
def configs_cmd():
    """List the shipped configs."""
    from imcpnn.train.config import shipped_configs

    for name in shipped_configs():
        click.echo(name)


if __name__ == "__main__":  # pragma: no cover
    main()
