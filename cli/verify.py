"""`imc-verify`: trained weights back into sky130 netlists, simulated in ngspice, compared with the model."""

from __future__ import annotations

from pathlib import Path

import click

from imcpnn.cli.common import finish, tool_group


@tool_group("imc-verify")
def main() -> None:
    """Measure how far the model and the transistor-level circuit disagree."""


@main.command()
@click.argument("run_dir", required=False, type=click.Path(path_type=Path))
@click.option("--cell", "cell_path", type=click.Path(path_type=Path), help="cell.json (default: the run's own)")
@click.option("--weights", type=click.Path(path_type=Path), help="Weights (.npz / .pt) instead of a run dir.")
@click.option("--inputs", type=click.Path(path_type=Path), help="Input spike times CSV (with --weights).")
@click.option("--labels", type=click.Path(path_type=Path),
              help="Class index per input row (CSV, with --inputs): adds model and SPICE accuracy.")
@click.option("--samples", default=50, show_default=True, help="Test samples to simulate.")
@click.option("--calibration", "n_cal", default=4, show_default=True, help="Training samples for scale fitting.")
@click.option("--scale-mode", type=click.Choice(["auto", "global", "per-branch", "none"]), default="auto",
              show_default=True, help="auto: global (bottom-up), per-branch (top-down), none (--weights).")
@click.option("--scale", type=float, help="Use this global current scale instead of fitting one.")
@click.option("--clip", is_flag=True, help="Clip weights beyond the exportable range (count reported).")
@click.option("--design", default=None, help="Cell design name or file (default: the cell's design).")
@click.option("--corner", default=None, help="PDK corner (default: the cell's).")
@click.option("--wire-cap", default=0.0, show_default=True, help="Extra dendrite capacitance per membrane (F).")
@click.option("--layer-netlist", type=click.Path(path_type=Path), help="Extracted layer subckt to substitute.")
@click.option("--chunks", default=2, show_default=True, help="Transients the samples are split into (parallel).")
@click.option("--jobs", default=None, type=int, help="Worker processes (default: cores).")
@click.option("--no-cache", is_flag=True)
@click.option("--kicks/--no-kicks", default=True, show_default=True,
              help="Bottom-up model with the cell's spike-line kicks (off: the ablation without them).")
@click.option("--out", type=click.Path(path_type=Path), help="Output directory (default: RUN_DIR/verify).")
def run(run_dir, cell_path, weights, inputs, labels, samples, n_cal, scale_mode, scale, clip, design, corner, wire_cap,
        layer_netlist, chunks, jobs, no_cache, kicks, out) -> None:
    """Verify a trained RUN_DIR (or --weights/--inputs) against ngspice."""
    from imcpnn.errors import ConfigError
    from imcpnn.extract.cellparams import load_cell
    from imcpnn.netlists import load_design
    from imcpnn.pdk import lib_line
    from imcpnn.spice.cache import ResultCache
    from imcpnn.verify.flow import verify
    from imcpnn.verify.mapping import Scales
    from imcpnn.verify.sources import default_scale_mode, from_files, from_run, with_cell_kicks

    if (run_dir is None) == (weights is None):
        raise ConfigError("give either RUN_DIR or --weights FILE --inputs FILE")
    if samples < 1:
        raise ConfigError("--samples must be >= 1")
    if labels is not None and weights is None:
        raise ConfigError("--labels goes with --weights/--inputs (a run directory has its own labels)")
    if weights is not None:
        if inputs is None or cell_path is None:
            raise ConfigError("--weights needs --inputs FILE and --cell cell.json")
        cell = load_cell(cell_path)
        net = from_files(weights, inputs, cell, kicks=kicks, labels=labels)
        net.test_inputs = net.test_inputs[:samples]
        if net.test_labels is not None:
            net.test_labels = net.test_labels[:samples]
        out = out or Path(weights).with_suffix("").parent / "verify"
    else:
        if not Path(run_dir).is_dir():
            raise ConfigError(f"run directory {run_dir} not found")
        net, run_cell = from_run(run_dir, samples, n_cal, with_cell=cell_path is None)
        if cell_path is not None:
            cell = load_cell(cell_path)
        elif run_cell is not None:
            cell = run_cell
        else:
            raise ConfigError(f"{run_dir} has no cell params (a top-down run): pass --cell cell.json")
        with_cell_kicks(net, cell, kicks)
        out = out or Path(run_dir) / "verify"
    from imcpnn.verify.simulate import check_network

    check_network(net.weights, net.test_inputs)  # shape/range errors before anything slow
    mode = default_scale_mode(net.flow) if scale_mode == "auto" else scale_mode
    dsg = load_design(design or cell.provenance.design)
    summary = verify(net, cell, dsg, lib_line(corner or cell.provenance.corner), Path(out), scale_mode=mode,
                     scales=Scales.global_(scale) if scale is not None else None, clip=clip, chunks=chunks,
                     workers=jobs, cache=None if no_cache else ResultCache(), wire_cap=wire_cap,
                     layer_netlist=str(layer_netlist) if layer_netlist else None,
                     log=lambda m: click.echo(m, err=True))
    acc = "" if summary["accuracy_spice"] is None else \
        f"; accuracy model {summary['accuracy_model']:.1%}, SPICE {summary['accuracy_spice']:.1%}"
    click.echo(f"{summary['flow']}: output-layer RMSE {summary['rmse_ns']:.2f} ns over {summary['n_samples']} samples; "
               f"class agreement {summary['class_agreement']:.1%}{acc}; report: {Path(out) / 'report.md'}")
    finish(0)


@main.command()
@click.argument("dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), help="Output directory (default: next to the first).")
def compare(dirs: tuple[Path, ...], out: Path | None) -> None:
    """Compare two or more verifications (directories, or run dirs with verify/ inside), e.g. bottom-up vs top-down.

    Each side is labelled with its flow and source from its summary.json; RMSE ratios are relative to the first."""
    from imcpnn.verify.compare import compare as cmp

    res = cmp(list(dirs), out)
    click.echo("; ".join(f"{s['label']}: RMSE {s['rmse_ns']:.2f} ns" for s in res["sides"])
               + f"; report: {res['report']}")


if __name__ == "__main__":
    main()
