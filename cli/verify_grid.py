"""`imc-verify grid` and `imc-verify run --mc`: one network verified across conditions (corners, temperatures,
Monte-Carlo instances), resumable (verify/grid.py); report grid.md / grid.json / grid.png (verify/grid_report.py)."""

from __future__ import annotations

# The stages are imported inside the functions: `imc-verify -h` must not wait for torch and PySpice to load.

import time
from pathlib import Path

import click

from imcpnn.cli.common import finish
from imcpnn.cli.verify_inputs import (_inputs_record, _network, _preflight, design_for, mc_seed_option,
                                      network_options, program_option, runner_options)
from imcpnn.errors import ConfigError
from imcpnn.verify.spike_errors import fmt_ns


# The grid's netlists write the devices flat unless --device-form says otherwise: the same circuit (spike times
# within the integration noise at every corner checked, the same per-device mismatch spread) for 1.5-1.9x less CPU
# per transient (docs/verification.md "The full grid: what it costs"). They integrate with device bypass at half the
# reltol: 1.16x less CPU over the full grid, and closer to a tight (reltol 1e-5) solution than the design's settings
# over 7 conditions (docs/verification.md "The grid's integration settings").
GRID_DEFAULTS = {"device_form": "flat", "integration": "bypass"}


@click.command(context_settings={"default_map": GRID_DEFAULTS})
@network_options
@click.option("--corners", default="tt", show_default=True, help="Comma-separated corners: tt,ff,ss,sf,fs.")
@click.option("--temps", default=None, help="Comma-separated temperatures in C (default: the cell's), e.g. -40,27,85.")
@click.option("--mc", type=click.IntRange(min=1), default=None,
              help="Also N Monte-Carlo instances (the _mm section, one seeded mismatch draw each) at --mc-at.")
@click.option("--mc-at", default=None, metavar="CORNER/TEMP",
              help="Where the Monte-Carlo instances run (default: the first corner at the first temperature).")
@mc_seed_option
@click.option("--cells", "cells_dir", type=click.Path(path_type=Path),
              help="Directory of cells extracted per condition: also report each condition against the model of "
                   "its own cell.")
@click.option("--cell-pattern", default="cell_{corner}_{temp}C.json", show_default=True,
              help="File name of a condition's cell in --cells ({corner}, {temp} in C as 27 or -40), as `imc-extract "
                   "run` names them; cell_<corner>.json of the right temperature is used when absent.")
@click.option("--map-with", type=click.Choice(["run", "condition"]), default="run", show_default=True,
              help="Cell that maps the weights to gate biases: the run's own (a chip programmed once, at the "
                   "nominal condition) or each condition's from --cells (a chip re-programmed per condition).")
@program_option
@click.option("--program-temp", type=float, default=None, metavar="C",
              help="With --program write-verify: write each instance at this temperature (a chip trimmed once, at "
                   "test) and operate it at its own, each bias keeping the offset its write found.")
@runner_options
@click.option("--out", type=click.Path(path_type=Path), help="Output directory (default: RUN_DIR/grid).")
def grid(run_dir, cell_path, weights, inputs, labels, samples, n_cal, scale_mode, scale, clip, design, device_form,
         integration, corners, temps, mc, mc_at, mc_seed, cells_dir, cell_pattern, map_with, program, program_temp,
         chunks, jobs, scheduler, worker_mem_gb, no_cache, kicks, out) -> None:
    """Verify a RUN_DIR (or --weights/--inputs) at every corner and temperature, plus Monte-Carlo instances.

    The chip is programmed once: gate biases from the run's cell (--map-with), at one current scale (--scale, or
    calibrated once at the cell's own corner and temperature). Finished conditions in --out are kept; a second call
    resumes or adds conditions (with the same settings)."""
    from imcpnn.verify.conditions import Condition, grid_conditions, parse_at, parse_corners, parse_temp, parse_temps

    if map_with == "condition" and cells_dir is None:
        raise ConfigError("--map-with condition needs --cells DIR (a cell per condition)")
    if mc_at is not None and mc is None:
        raise ConfigError("--mc-at goes with --mc N")
    if program_temp is not None and program == "none":
        raise ConfigError("--program-temp goes with --program write-verify")
    if program_temp is not None:
        parse_temp(str(program_temp), "--program-temp")
    names = parse_corners(corners)
    net, cell, cell_file, run_sha, default_out = _network(run_dir, cell_path, weights, inputs, labels, samples, n_cal,
                                                          kicks, False, None)
    temp_list = parse_temps(temps) if temps is not None else [cell.temperature]
    conds = grid_conditions(names, temp_list, mc or 0, parse_at(mc_at) if mc_at else None, mc_seed)
    out = Path(out) if out else default_out.with_name("grid")
    dsg = design_for(cell, design, device_form, integration)
    report = run_conditions(net, cell, cell_file, run_sha, dsg, conds, out,
                            program_at=Condition(cell.provenance.corner, cell.temperature), scale=scale,
                            scale_mode=scale_mode, clip=clip, runner=dict(chunks=chunks, workers=jobs,
                            scheduler=scheduler, mem_limit_gb=worker_mem_gb), no_cache=no_cache, kicks=kicks,
                            cells_dir=cells_dir, cell_pattern=cell_pattern, map_with=map_with, program=program,
                            program_temp=program_temp)
    click.echo(f"report: {report}")
    finish(0)


def _settings(net, cell_file: Path, dsg, mode: str, scale, clip: bool, kicks: bool, program_at, map_with: str,
              cells_dir, cell_pattern: str, runner: dict, program: str = "none",
              program_temp: float | None = None) -> dict:
    """What the results of a grid depend on, apart from the conditions: a resume must bring the same."""
    import hashlib

    import numpy as np

    from imcpnn.cell import design_sha256
    from imcpnn.train.config import file_sha256

    x = np.ascontiguousarray(np.asarray(net.test_inputs, float))
    settings = {"source": net.source, "cell_sha256": file_sha256(cell_file), "design": dsg.name,
                "design_sha256": design_sha256(dsg.to_dict()), "n_samples": int(len(x)),
                "test_inputs_sha256": hashlib.sha256(x.tobytes()).hexdigest(),
                "n_calibration": 0 if net.cal_inputs is None else int(len(net.cal_inputs)), "scale_mode": mode,
                "scale": scale, "clip": clip, "kicks": kicks, "program_at": program_at.to_dict(),
                "map_with": map_with, "wire_cap": runner.get("wire_cap", 0.0),
                "layer_netlist": runner.get("layer_netlist")}
    if cells_dir is not None:  # their trimmed neuron biases (and with map_with=condition their bias tables) set it
        settings.update(cells_dir=str(Path(cells_dir).resolve()), cell_pattern=cell_pattern)
    if program != "none":  # only then: a grid made before programming existed resumes as it was made
        settings["program"] = program
    if program_temp is not None:
        settings["program_temp"] = program_temp
    return settings


def run_conditions(net, cell, cell_file: Path, run_sha, dsg, conds: list, out: Path, *, program_at, scale,
                   scale_mode: str, clip: bool, runner: dict, no_cache: bool, kicks: bool, cells_dir=None,
                   cell_pattern: str = "", map_with: str = "run", program: str = "none",
                   program_temp: float | None = None) -> Path:
    """Verify at every condition in `conds` (finished ones in `out` kept), then write the report; returns grid.md."""
    from imcpnn.spice.cache import ResultCache
    from imcpnn.verify.conditions import Condition, condition_cell
    from imcpnn.verify.grid import check_grid_out, run_grid
    from imcpnn.verify.mapping import Scales
    from imcpnn.verify.sources import default_scale_mode

    mode = default_scale_mode(net.flow) if scale_mode == "auto" else scale_mode
    settings = _settings(net, cell_file, dsg, mode, scale, clip, kicks, program_at, map_with, cells_dir, cell_pattern,
                         runner, program, program_temp)
    check_grid_out(out, settings)  # before the cells are read and anything is simulated
    warnings = _preflight(net, cell, out, len(net.test_inputs), scale, mode, clip, program_at.corner)
    # a Monte-Carlo instance has no cell of its own: its corner's maps it (--map-with condition); with
    # --program-temp the cell where it is written is needed too
    wanted = [(c.name, Condition(c.corner, c.temp)) for c in conds]
    wanted += [(w.name, w) for w in (Condition(c.corner, program_temp) for c in conds
                                     if c.seed is not None and program_temp is not None)]
    cells = {name: condition_cell(Path(cells_dir), c, cell_pattern) for name, c in wanted} if cells_dir else {}
    if cells_dir and not any(cells.values()):
        raise ConfigError(f"--cells {cells_dir}: no cell for any condition (names like "
                          f"{cell_pattern.format(corner=conds[0].corner, temp=f'{conds[0].temp:g}')})")
    params = click.get_current_context().params

    def record(cond, map_cell, map_path):
        return _inputs_record(net, map_cell, map_path or cell_file, run_sha, dsg, cond.section, cond.temp, params)

    t0 = time.perf_counter()
    summaries = run_grid(net, cell, dsg, conds, out, settings=settings, program_at=program_at,
                         scales=Scales.global_(scale) if scale is not None else None, scale_mode=mode, record=record,
                         cells=cells, map_with=map_with, program=program, program_temp=program_temp,
                         log=lambda m: click.echo(m, err=True),
                         clip=clip,
                         cache=None if no_cache else ResultCache(), warnings=warnings, **runner)
    return _report(net, cell, conds, summaries, cells, out, settings, clip, kicks, time.perf_counter() - t0)


def _report(net, cell, conds, summaries, cells, out: Path, settings: dict, clip: bool, kicks: bool,
            seconds: float) -> Path:
    from imcpnn.verify.condition_model import condition_model_errors
    from imcpnn.verify.grid import condition_dir
    from imcpnn.verify.grid_report import condition_row, write_grid_report
    from imcpnn.verify.mapping import Scales
    from imcpnn.verify.reread import read_spike_times

    rows = []
    for cond, (s, _) in zip(conds, summaries):
        own = cells.get(cond.name) if cond.seed is None else None  # an instance's mismatch is in no cell
        cm = None
        if own is not None:
            _, circuit = read_spike_times(condition_dir(out, cond), s["layer_sizes"], s["n_samples"])
            programmed = own[0] if settings["map_with"] == "condition" else cell
            cm = condition_model_errors(net.weights, net.test_inputs, circuit, programmed, own[0],
                                        Scales(s["scale"]["pos"], s["scale"]["neg"]), clip=clip, kicks=kicks,
                                        n_classes=net.n_classes, labels=net.test_labels)
        rows.append(condition_row(cond, s, cm, None if own is None else str(own[1])))
        click.echo(f"{cond.name}: accuracy SPICE {_pct(s['accuracy_spice'])}, class agreement "
                   f"{s['class_agreement']:.1%}, RMSE {s['rmse_ns']:.2f} ns all / {fmt_ns(s['rmse_ns_fired'])} ns "
                   f"fired")
    prog = (f"gate biases from {'each condition' if settings['map_with'] == 'condition' else 'the run'}'s cell, "
            f"current scale {rows[0]['scale']['pos']:.4f} / {rows[0]['scale']['neg']:.4f} ({settings['scale_mode']})"
            + ("; each Monte-Carlo instance written and verified (synapse gates, per-neuron discharger and sensing "
               "biases)" if settings.get("program") else ""))
    meta = {"source": net.source, "n_samples": settings["n_samples"], "programming": prog, "settings": settings,
            "seconds_this_call": seconds,
            "simulated_this_call": sum(not kept for _, kept in summaries)}
    return write_grid_report(out, rows, meta)


def _pct(x) -> str:
    return "n/a" if x is None else f"{x:.1%}"
