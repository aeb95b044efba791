"""`imc-verify`: trained weights back into sky130 netlists, simulated in ngspice, compared with the model."""

from __future__ import annotations

# The commands import their stage inside the function, not here: `-h`, `--version` and a usage error answer
# at once instead of first paying for torch, PySpice and libngspice.

import math
import shlex
from pathlib import Path

import click
import numpy as np

from imcpnn.cli.common import finish, tool_group
from imcpnn.cli.outputs import check_output_dir
from imcpnn.errors import ConfigError
from imcpnn.verify.spike_errors import fmt_ns


def _positive_finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise click.BadParameter(f"{value} is not a finite number > 0 (a current scale; 1 = the cell's own)")
    return value


def _preflight(net, cell, out: Path, samples: int, scale: float | None, mode: str, clip: bool,
               corner: str | None) -> list[str]:
    """Every check that can fail before a SPICE run, run before it; returns the characterisation warnings (printed)."""
    from imcpnn.verify.calibrate import BOUNDS
    from imcpnn.verify.characterised import characterisation_warnings
    from imcpnn.verify.mapping import BiasMapper, Scales
    from imcpnn.verify.simulate import check_network

    explicit = click.get_current_context().get_parameter_source("samples") != click.core.ParameterSource.DEFAULT
    if explicit and samples > len(net.test_inputs):
        raise ConfigError(f"--samples {samples}: {net.source or 'the inputs'} has only {len(net.test_inputs)} test "
                          f"samples; pass --samples {len(net.test_inputs)} or fewer")
    check_network(net.weights, net.test_inputs)  # shape/range errors before anything slow
    if not clip:
        # at the given scale, or at the smallest one calibration may pick: a weight beyond the cell's current range
        # there is beyond it at every scale calibration can reach, so calibrating first would only waste its time
        at = Scales.global_(scale if scale is not None else 1.0 if mode == "none" else BOUNDS[0])
        mapper = BiasMapper(cell)
        for w in net.weights:
            mapper.biases(np.asarray(w, float), at)
    check_output_dir(out, "--out")
    warnings = characterisation_warnings(net.weights, cell, corner or cell.provenance.corner)
    for w in warnings:
        click.echo(f"warning: {w}", err=True)
    return warnings


def _positive_finite_gb(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise click.BadParameter(f"{value} is not a finite number of GB > 0")
    return value


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
@click.option("--samples", type=click.IntRange(min=1), default=50, show_default=True, help="Test samples to simulate.")
@click.option("--calibration", "n_cal", type=click.IntRange(min=1), default=4, show_default=True,
              help="Training samples for scale fitting.")
@click.option("--scale-mode", type=click.Choice(["auto", "global", "per-branch", "none"]), default="auto",
              show_default=True, help="auto: global (bottom-up), per-branch (top-down), none (--weights).")
@click.option("--scale", type=float, callback=_positive_finite,
              help="Use this global current scale (> 0) instead of fitting one.")
@click.option("--clip", is_flag=True, help="Clip weights beyond the exportable range (count reported).")
@click.option("--design", default=None, help="Cell design name or file (default: the cell's design).")
@click.option("--device-form", type=click.Choice(["design", "subckt", "flat"]), default="design", show_default=True,
              help="How the netlists write the sky130 devices: as the design says, through the wrapper subcircuits, "
                   "or flat (set-up time and memory linear in the device count; for large layers).")
@click.option("--corner", default=None, help="PDK corner (default: the cell's).")
@click.option("--wire-cap", default=0.0, show_default=True, help="Extra dendrite capacitance per membrane (F).")
@click.option("--layer-netlist", type=click.Path(path_type=Path), help="Extracted layer subckt to substitute.")
@click.option("--chunks", type=click.IntRange(min=1), default=2, show_default=True,
              help="Transients the samples are split into (parallel).")
@click.option("--jobs", type=click.IntRange(min=1), default=None, help="Worker processes (default: cores).")
@click.option("--partition", default="none", show_default=True,
              help="Split the test simulation: none (the whole network per chunk), layer (one transient per layer) "
                   "or neurons:K (at most K neurons of a layer per transient); layer l+1 after layer l.")
@click.option("--scheduler", metavar="tcp://HOST:PORT", default=None,
              help="Run the transients on this dask.distributed scheduler instead of local worker processes.")
@click.option("--worker-mem-gb", type=float, default=None, callback=_positive_finite_gb,
              help="Cap each local worker's memory (GB); with --scheduler, refuse workers whose memory_limit is "
                   "larger.")
@click.option("--no-cache", is_flag=True)
@click.option("--kicks/--no-kicks", default=True, show_default=True,
              help="Bottom-up model with the cell's spike-line kicks (off: the ablation without them).")
@click.option("--other-cell", is_flag=True,
              help="Allow a --cell other than the run's own (another corner or temperature); recorded.")
@click.option("--temp", type=float, default=None, help="Simulation temperature in C (default: the cell's).")
@click.option("--out", type=click.Path(path_type=Path), help="Output directory (default: RUN_DIR/verify).")
@click.option("--force", is_flag=True,
              help="Replace a verification already in the output directory (removed once the new one is complete).")
def run(run_dir, cell_path, weights, inputs, labels, samples, n_cal, scale_mode, scale, clip, design, device_form,
        corner, wire_cap, layer_netlist, chunks, jobs, partition, scheduler, worker_mem_gb, no_cache, kicks, other_cell, temp, out,
        force) -> None:
    """Verify a trained RUN_DIR (or --weights/--inputs) against ngspice.

    The output directory must not hold a verification already (--force replaces it); it is written complete or
    not at all."""
    # imported here, not at the top: `imc-verify -h` should not wait for torch and PySpice to load
    from imcpnn.netlists import load_design
    from imcpnn.pdk import lib_line
    from imcpnn.spice.cache import ResultCache
    from imcpnn.verify.flow import verify
    from imcpnn.verify.mapping import Scales
    from imcpnn.verify.partition import check_partition
    from imcpnn.verify.sources import default_scale_mode

    check_partition(partition, str(layer_netlist) if layer_netlist else None)
    net, cell, cell_file, run_cell_sha, out = _network(run_dir, cell_path, weights, inputs, labels, samples, n_cal,
                                                       kicks, other_cell, out)
    mode = default_scale_mode(net.flow) if scale_mode == "auto" else scale_mode
    corner = corner or cell.provenance.corner
    warnings = _preflight(net, cell, Path(out), samples, scale, mode, clip, corner)
    dsg = load_design(design or cell.design)
    if device_form != "design":  # the same circuit written another way (equal to 1e-6 in DC, docs/circuit.md)
        dsg = dsg.derive(device_form=device_form)
    temp = cell.temperature if temp is None else temp
    record = _inputs_record(net, cell, cell_file, run_cell_sha, dsg, corner, temp, click.get_current_context().params)
    summary = verify(net, cell, dsg, lib_line(corner), Path(out), scale_mode=mode,
                     scales=Scales.global_(scale) if scale is not None else None, clip=clip, chunks=chunks,
                     workers=jobs, cache=None if no_cache else ResultCache(), wire_cap=wire_cap,
                     layer_netlist=str(layer_netlist) if layer_netlist else None, temp=temp, inputs=record,
                     warnings=warnings, log=lambda m: click.echo(m, err=True), force=force, partition=partition,
                     scheduler=scheduler, mem_limit_gb=worker_mem_gb)
    acc = "" if summary["accuracy_spice"] is None else \
        f"; accuracy model {summary['accuracy_model']:.1%}, SPICE {summary['accuracy_spice']:.1%}"
    click.echo(f"{summary['flow']}: output-layer RMSE {summary['rmse_ns']:.2f} ns over {summary['n_samples']} samples "
               f"({fmt_ns(summary['rmse_ns_fired'])} ns over the pairs where model or SPICE fires); class agreement "
               f"{summary['class_agreement']:.1%}{acc}; report: {Path(summary['directory']) / 'report.md'}")
    finish(0)


def _network(run_dir, cell_path, weights, inputs, labels, samples, n_cal, kicks, other_cell, out):
    """(network, cell, cell file, sha256 of the run's own cell or None, output directory) from the arguments."""
    from imcpnn.cell import load_cell
    from imcpnn.train.config import file_sha256
    from imcpnn.verify.sources import from_files, from_run, with_cell_kicks

    if (run_dir is None) == (weights is None):
        raise ConfigError("give either RUN_DIR or --weights FILE --inputs FILE")
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
        return net, cell, Path(cell_path), None, out or Path(weights).with_suffix("").parent / "verify"
    if not Path(run_dir).is_dir():
        raise ConfigError(f"run directory {run_dir} not found")
    # with --cell the run's own copy is only compared by its bytes, never parsed: a stale copy must not block
    net, run_cell = from_run(run_dir, samples, n_cal, with_cell=cell_path is None)
    own = Path(run_dir) / "cell.json"
    run_sha = file_sha256(own) if own.is_file() else None
    if cell_path is None:
        if run_cell is None:
            raise ConfigError(f"{run_dir} has no cell params (a top-down run): pass --cell cell.json")
        cell_path = own
    elif run_sha is not None and file_sha256(cell_path) != run_sha and not other_cell:
        raise ConfigError(f"{cell_path} is not the cell {run_dir} was trained with ({own}); pass --other-cell to "
                          f"verify against another cell (e.g. another corner or temperature)")
    cell = load_cell(cell_path)
    with_cell_kicks(net, cell, kicks)
    return net, cell, Path(cell_path), run_sha, out or Path(run_dir) / "verify"


def _inputs_record(net, cell, cell_file: Path, run_sha, design, corner: str, temp: float, options: dict):
    from imcpnn.cell import design_sha256
    from imcpnn.train.config import file_sha256
    from imcpnn.verify.record import VerifyInputs

    opts = {k: (str(v) if isinstance(v, Path) else v) for k, v in options.items()}
    sha = file_sha256(cell_file)
    return VerifyInputs(source=net.source, cell_path=str(cell_file.resolve()), cell_sha256=sha,
                        temperature=float(temp), corner=corner, design=design.name,
                        design_sha256=design_sha256(design.to_dict()), run_cell_sha256=run_sha,
                        other_cell=run_sha is not None and sha != run_sha, options=opts)


@main.command()
@click.argument("dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), help="Output directory (default: next to the first).")
def compare(dirs: tuple[Path, ...], out: Path | None) -> None:
    """Compare two or more verifications (directories, or run dirs with verify/ inside), e.g. bottom-up vs top-down.

    Each side is labelled with its flow and source from its summary.json; RMSE ratios are relative to the first."""
    from imcpnn.verify.compare import compare as cmp

    res = cmp(list(dirs), out)
    click.echo("; ".join(f"{s['label']}: RMSE {s['rmse_ns']:.2f} ns ({fmt_ns(s['rmse_ns_fired'])} ns fired pairs)"
                         for s in res["sides"]) + f"; report: {res['report']}")


@main.command()
@click.argument("verification", type=click.Path(path_type=Path))
@click.option("--calibrate/--no-calibrate", default=False, show_default=True,
              help="Also fit a global current scale per level (SPICE in the loop on the verification's calibration "
                   "samples, cached) and simulate the test samples at it.")
@click.option("--levels", default=None,
              help="Comma-separated levels to measure (default: the whole ladder, "
                   "paper,+threshold,...,+fan-in); --calibrate costs SPICE per level.")
@click.option("--cell", "cell_path", type=click.Path(path_type=Path),
              help="The cell.json verified against, if it moved (its sha256 must be the recorded one).")
@click.option("--weights", type=click.Path(path_type=Path),
              help="The weights file of a --weights verification, if it moved.")
@click.option("--jobs", type=click.IntRange(min=1), default=None, help="Worker processes (default: cores).")
@click.option("--no-cache", is_flag=True)
@click.option("--out", type=click.Path(path_type=Path),
              help="Output directory (default: beside the verification, VERIFY_DIR-ladder).")
@click.option("--force", is_flag=True, help="Replace a ladder already in the output directory.")
def ladder(verification, calibrate, levels, cell_path, weights, jobs, no_cache, out, force) -> None:
    """The bottom-up model one refinement at a time against a finished VERIFICATION (or a run dir with verify/).

    Reuses the verification's SPICE spike times; writes ladder.md and ladder.json."""
    from imcpnn.spice.cache import ResultCache
    from imcpnn.neuron import LADDER
    from imcpnn.verify.ladder import check_ladder_out
    from imcpnn.verify.ladder import ladder as measure
    from imcpnn.verify.ladder import write_ladder
    from imcpnn.verify.reread import read_verification

    chosen = LADDER if levels is None else tuple(x.strip() for x in levels.split(",") if x.strip())
    unknown = [x for x in chosen if x not in LADDER]
    if unknown or not chosen:
        raise ConfigError(f"--levels: unknown level(s) {', '.join(unknown) or '(none given)'}; the ladder is "
                          f"{','.join(LADDER)}")
    v = read_verification(verification, cell_path, weights)
    out = Path(out) if out else v.directory.with_name(v.directory.name + "-ladder")
    check_output_dir(out, "--out")
    check_ladder_out(out, force)
    res = measure(v, calibrate=calibrate, workers=jobs, cache=None if no_cache else ResultCache(),
                  log=lambda m: click.echo(m, err=True), levels=chosen)
    report = write_ladder(out, res, _command_line(click.get_current_context()))
    for r in res["levels"]:
        e = r["as_verified"]["layers"][-1]
        cal = r.get("calibrated")
        tail = "" if cal is None else (f"; scale {cal['scale']:.4f}: "
                                       f"{fmt_ns(cal['layers'][-1]['rmse_ns_fired'])} ns")
        click.echo(f"{r['level']:>14}: output-layer RMSE {fmt_ns(e['rmse_ns_fired'])} ns over fired pairs, "
                   f"{e['rmse_ns']:.2f} ns over all{tail}")
    click.echo(f"report: {report}")
    finish(0)


def _command_line(ctx: click.Context) -> str:
    """The command as given (its arguments and the options not left at their defaults), for the reports."""
    words = [ctx.command_path]
    for p in ctx.command.params:
        if ctx.get_parameter_source(p.name) == click.core.ParameterSource.DEFAULT:
            continue
        value = ctx.params[p.name]
        if isinstance(p, click.Argument):
            words.append(shlex.quote(str(value)))
        elif p.is_flag:
            words.append(p.opts[0] if value else p.secondary_opts[0])
        else:
            words += [p.opts[0], shlex.quote(str(value))]
    return " ".join(words)


if __name__ == "__main__":
    main()
