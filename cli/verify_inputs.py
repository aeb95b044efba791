"""What `imc-verify run` and `imc-verify grid` share: the options that say what is verified and how it is simulated,
the network and cell they name, the record of them, and the checks run before any SPICE."""

from __future__ import annotations

# The stages are imported inside the functions: `imc-verify -h` must not wait for torch and PySpice to load.

import math
from pathlib import Path
from typing import Callable

import click
import numpy as np

from imcpnn.cli.outputs import check_output_dir
from imcpnn.errors import ConfigError


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




def _stack(decorators: list[Callable]) -> Callable:
    def wrap(fn: Callable) -> Callable:
        for d in reversed(decorators):
            fn = d(fn)
        return fn
    return wrap


# what is verified: a run directory (or weights and inputs), the cell, the samples, how weights become biases
network_options = _stack([
    click.argument("run_dir", required=False, type=click.Path(path_type=Path)),
    click.option("--cell", "cell_path", type=click.Path(path_type=Path), help="cell.json (default: the run's own)"),
    click.option("--weights", type=click.Path(path_type=Path), help="Weights (.npz / .pt) instead of a run dir."),
    click.option("--inputs", type=click.Path(path_type=Path), help="Input spike times CSV (with --weights)."),
    click.option("--labels", type=click.Path(path_type=Path),
                 help="Class index per input row (CSV, with --inputs): adds model and SPICE accuracy."),
    click.option("--samples", type=click.IntRange(min=1), default=50, show_default=True,
                 help="Test samples to simulate."),
    click.option("--calibration", "n_cal", type=click.IntRange(min=1), default=4, show_default=True,
                 help="Training samples for scale fitting."),
    click.option("--scale-mode", type=click.Choice(["auto", "global", "per-branch", "none"]), default="auto",
                 show_default=True, help="auto: global (bottom-up), per-branch (top-down), none (--weights)."),
    click.option("--scale", type=float, callback=_positive_finite,
                 help="Use this global current scale (> 0) instead of fitting one."),
    click.option("--clip", is_flag=True, help="Clip weights beyond the exportable range (count reported)."),
    click.option("--design", default=None, help="Cell design name or file (default: the cell's design)."),
    click.option("--device-form", type=click.Choice(["design", "subckt", "flat"]), default="design",
                 show_default=True,
                 help="How the netlists write the sky130 devices: as the design says, through the wrapper "
                      "subcircuits, or flat (set-up time and memory linear in the device count; for large layers)."),
    click.option("--integration", type=click.Choice(["design", "bypass"]), default="design", show_default=True,
                 help="Transient settings: the design's, or ngspice's device bypass at half the design's reltol "
                      "(about 1.15x less CPU; as close to a tight solution)."),
])

# how the transients run
runner_options = _stack([
    click.option("--chunks", type=click.IntRange(min=1), default=2, show_default=True,
                 help="Transients the samples are split into (parallel)."),
    click.option("--jobs", type=click.IntRange(min=1), default=None, help="Worker processes (default: cores)."),
    click.option("--scheduler", metavar="tcp://HOST:PORT", default=None,
                 help="Run the transients on this dask.distributed scheduler instead of local worker processes."),
    click.option("--worker-mem-gb", type=float, default=None, callback=_positive_finite_gb,
                 help="Cap each local worker's memory (GB); with --scheduler, refuse workers whose memory_limit is "
                      "larger."),
    click.option("--no-cache", is_flag=True),
    click.option("--kicks/--no-kicks", default=True, show_default=True,
                 help="Bottom-up model with the cell's spike-line kicks (off: the ablation without them)."),
])

mc_seed_option = click.option("--mc-seed", type=click.IntRange(min=1, max=2**31 - 1), default=1, show_default=True,
                              help="ngspice seed of the first Monte-Carlo instance; instance k uses seed + k.")
program_option = click.option(
    "--program", type=click.Choice(["none", "write-verify"]), default="none", show_default=True,
    help="How each Monte-Carlo instance is programmed: as the weights map (none), or written and verified until every "
         "synapse current, discharge current and switching point reads as the nominal chip's (docs/verification.md).")


def design_for(cell, design: str | None, device_form: str, integration: str = "design"):
    """The cell design simulated: --design (default the cell's), written in --device-form, integrated with
    --integration."""
    from imcpnn.netlists import load_design

    dsg = load_design(design or cell.design)
    if device_form != "design":  # the same circuit written another way (equal to 1e-6 in DC, docs/circuit.md)
        dsg = dsg.derive(device_form=device_form)
    return dsg.with_integration(integration)
