"""`imc-verify`: trained weights back into sky130 netlists, simulated in ngspice, compared with the model."""

from __future__ import annotations

# The commands import their stage inside the function, not here: `-h`, `--version` and a usage error answer
# at once instead of first paying for torch, PySpice and libngspice.

import shlex
from pathlib import Path

import click

from imcpnn.cli.common import finish, tool_group
from imcpnn.cli.outputs import check_output_dir
from imcpnn.cli.verify_grid import grid, run_conditions
from imcpnn.cli.verify_inputs import (_inputs_record, _network, _preflight, design_for, mc_seed_option,
                                      network_options, program_option, runner_options)
from imcpnn.errors import ConfigError
from imcpnn.verify.spike_errors import fmt_ns


@tool_group("imc-verify")
def main() -> None:
    """Measure how far the model and the transistor-level circuit disagree."""


@main.command()
@network_options
@click.option("--corner", default=None, help="PDK corner (default: the cell's).")
@click.option("--wire-cap", default=0.0, show_default=True, help="Extra dendrite capacitance per membrane (F).")
@click.option("--layer-netlist", type=click.Path(path_type=Path), help="Extracted layer subckt to substitute.")
@click.option("--post-layout", is_flag=True,
              help="Simulate the laid-out circuit: each layer drawn, LVS-checked and built from the per-cell "
                   "parasitic extractions (imc-layout, cached by content), substituted (docs/layout.md).")
@click.option("--pex-mode", type=click.Choice(["CC", "RC"]), default="CC", show_default=True,
              help="With --post-layout: capacitances only (CC) or also wire resistances (RC).")
@click.option("--partition", default="none", show_default=True,
              help="Split the test simulation: none (the whole network per chunk), layer (one transient per layer) "
                   "or neurons:K (at most K neurons of a layer per transient); layer l+1 after layer l.")
@runner_options
@click.option("--other-cell", is_flag=True,
              help="Allow a --cell other than the run's own (another corner or temperature); recorded.")
@click.option("--temp", type=float, default=None, help="Simulation temperature in C (default: the cell's).")
@click.option("--out", type=click.Path(path_type=Path), help="Output directory (default: RUN_DIR/verify).")
@click.option("--force", is_flag=True,
              help="Replace a verification already in the output directory (removed once the new one is complete).")
@click.option("--mc", type=click.IntRange(min=1), default=None,
              help="Simulate N Monte-Carlo instances of the circuit (the corner's _mm section, one seeded mismatch "
                   "draw each); output: a grid directory (default RUN_DIR/verify-mc), see `imc-verify grid`.")
@mc_seed_option
@program_option
@click.option("--energy", is_flag=True,
              help="Energy per inference from the test transients: each layer's synapses, neurons, reset rail, clocks "
                   "and biases on supplies of their own (same circuit; other netlists, so not the cached runs).")
def run(run_dir, cell_path, weights, inputs, labels, samples, n_cal, scale_mode, scale, clip, design, device_form,
        integration, corner, wire_cap, layer_netlist, post_layout, pex_mode, chunks, jobs, partition, scheduler,
        worker_mem_gb, no_cache, kicks, other_cell, temp, out, force, mc, mc_seed, program, energy) -> None:
    """Verify a trained RUN_DIR (or --weights/--inputs) against ngspice.

    The output directory must not hold a verification already (--force replaces it); it is written complete or
    not at all. With --mc N: N Monte-Carlo instances into a grid directory (resumable, see `imc-verify grid`)."""
    # imported here, not at the top: `imc-verify -h` should not wait for torch and PySpice to load
    from imcpnn.pdk import lib_line
    from imcpnn.spice.cache import ResultCache
    from imcpnn.verify.flow import verify
    from imcpnn.verify.mapping import Scales
    from imcpnn.verify.partition import check_partition
    from imcpnn.verify.sources import default_scale_mode

    from imcpnn.verify.simulate import check_energy_partition

    _check_post_layout(post_layout, pex_mode, layer_netlist)
    check_partition(partition, "post-layout" if post_layout else str(layer_netlist) if layer_netlist else None)
    _check_mc(corner, partition, mc, mc_seed, force)
    check_energy_partition(partition, energy)
    if program != "none" and mc is None:
        raise ConfigError("--program writes Monte-Carlo instances: add --mc N (a circuit without mismatch reads as "
                          "the nominal chip already)")
    if energy and mc is not None:
        raise ConfigError("--energy is measured on one circuit: drop --mc (or run --energy without it)")
    given_out = out
    net, cell, cell_file, run_cell_sha, out = _network(run_dir, cell_path, weights, inputs, labels, samples, n_cal,
                                                       kicks, other_cell, out)
    mode = default_scale_mode(net.flow) if scale_mode == "auto" else scale_mode
    corner = corner or cell.provenance.corner
    dsg = design_for(cell, design, device_form, integration)
    temp = cell.temperature if temp is None else temp
    params = dict(click.get_current_context().params)
    if post_layout:  # recorded as the files substituted, so that a recalibration (imc-verify ladder) uses them too
        from imcpnn.verify.postlayout import post_layout_layers

        params["layer_netlist"] = [str(p) for p in post_layout_layers(dsg, net.weights, pex_mode,
                                                                      log=lambda m: click.echo(m, err=True),
                                                                      split_supply=energy)]
    layer_netlist = params["layer_netlist"] if post_layout else str(layer_netlist) if layer_netlist else None
    if mc is not None:
        _run_mc(net, cell, cell_file, run_cell_sha, dsg, Path(given_out) if given_out else out.with_name("verify-mc"),
                corner, temp, mc, mc_seed, scale, mode, clip, dict(chunks=chunks, workers=jobs, scheduler=scheduler,
                mem_limit_gb=worker_mem_gb, wire_cap=wire_cap, layer_netlist=layer_netlist), no_cache, kicks,
                program)
        return
    warnings = _preflight(net, cell, Path(out), samples, scale, mode, clip, corner)
    record = _inputs_record(net, cell, cell_file, run_cell_sha, dsg, corner, temp, params)
    summary = verify(net, cell, dsg, lib_line(corner), Path(out), scale_mode=mode,
                     scales=Scales.global_(scale) if scale is not None else None, clip=clip, chunks=chunks,
                     workers=jobs, cache=None if no_cache else ResultCache(), wire_cap=wire_cap,
                     layer_netlist=layer_netlist, temp=temp, inputs=record,
                     warnings=warnings, log=lambda m: click.echo(m, err=True), force=force, partition=partition,
                     scheduler=scheduler, mem_limit_gb=worker_mem_gb, energy=energy)
    acc = "" if summary["accuracy_spice"] is None else \
        f"; accuracy model {summary['accuracy_model']:.1%}, SPICE {summary['accuracy_spice']:.1%}"
    click.echo(f"{summary['flow']}: output-layer RMSE {summary['rmse_ns']:.2f} ns over {summary['n_samples']} samples "
               f"({fmt_ns(summary['rmse_ns_fired'])} ns over the pairs where model or SPICE fires); class agreement "
               f"{summary['class_agreement']:.1%}{acc}; report: {Path(summary['directory']) / 'report.md'}")
    if summary["energy"]:
        e = summary["energy"]
        click.echo(f"energy per inference {e['per_inference']['mean'] * 1e12:.2f} pJ (p95 "
                   f"{e['per_inference']['p95'] * 1e12:.2f} pJ), {e['per_inference_per_neuron']['mean'] * 1e12:.3f} pJ "
                   f"per neuron")
    finish(0)


def _check_post_layout(post_layout: bool, pex_mode: str, layer_netlist: Path | None) -> None:
    if post_layout and layer_netlist is not None:
        raise ConfigError("--post-layout extracts and substitutes the layers itself; drop --layer-netlist")
    if pex_mode != "CC" and not post_layout:
        raise ConfigError("--pex-mode applies with --post-layout only")


def _check_mc(corner: str | None, partition: str, mc: int | None, mc_seed: int, force: bool) -> None:
    """Mismatch only as seeded instances, each one circuit in all of its transients (verify/conditions.py)."""
    from imcpnn.pdk.source import BASE_CORNERS
    from imcpnn.verify.conditions import mc_seeds
    from imcpnn.verify.simulate import check_mc_partition

    if mc is None:
        if corner is not None and (corner.endswith("_mm") or corner == "mc"):
            raise ConfigError(f"--corner {corner} draws random devices, unseeded and anew in every transient: use "
                              f"--corner {corner.removesuffix('_mm') if corner != 'mc' else 'tt'} --mc N (seeded "
                              f"instances, each one circuit)")
        return
    mc_seeds(mc, mc_seed)
    if corner is not None and corner not in BASE_CORNERS:
        raise ConfigError(f"--mc takes a base corner ({','.join(BASE_CORNERS)}), not {corner}; its _mm section is "
                          f"simulated")
    check_mc_partition(partition, mc_seed)
    if force:
        raise ConfigError("--force does not apply to --mc: its directory resumes (finished instances are kept); "
                          "pick another --out to start over")


def _run_mc(net, cell, cell_file, run_sha, dsg, out: Path, corner: str, temp: float, n: int, seed: int, scale, mode,
            clip: bool, runner: dict, no_cache: bool, kicks: bool, program: str = "none") -> None:
    from imcpnn.verify.conditions import Condition, mc_seeds

    conds = [Condition(corner, temp, s) for s in mc_seeds(n, seed)]
    report = run_conditions(net, cell, cell_file, run_sha, dsg, conds, out, program_at=Condition(corner, temp),
                            scale=scale, scale_mode=mode, clip=clip, runner=runner, no_cache=no_cache, kicks=kicks,
                            program=program)
    click.echo(f"report: {report}")
    finish(0)


main.add_command(grid)


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
