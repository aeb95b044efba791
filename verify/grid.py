"""One network verified at many conditions (corners, temperatures, Monte-Carlo instances), resumable.

The chip is programmed once: the weights become gate biases through one cell (the run's own, extracted at the
nominal condition; or each condition's own with map_with='condition', a chip re-programmed per condition) at one
current scale (given, or calibrated once at the programming condition without mismatch). Every condition then
simulates those biases at its corner, temperature and seed, and is compared with the model.

Layout of the output directory: settings.json (what the grid is made of: a resume with other settings is refused),
scales.json (the programmed scale), programs/<name>.json (with --program write-verify: the biases each
Monte-Carlo instance was written with, and its reads), conditions/<name>/ (one complete verification directory per
finished condition, written atomically by verify()), grid.json, grid.md, grid.png (verify/grid_report.py). A
finished condition is never recomputed; an interrupted one restarts, its finished transients coming from the result
cache.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from imcpnn.atomic import atomic_write_json
from imcpnn.cell import CellParams
from imcpnn.errors import ConfigError
from imcpnn.netlists import CellDesign
from imcpnn.pdk import lib_line
from imcpnn.spice.pool import run_jobs
from imcpnn.verify.conditions import Condition
from imcpnn.verify.flow import Network, fit_scales, verify
from imcpnn.verify.mapping import Scales
from imcpnn.verify.program import (PROGRAMS, ProgramError, Programmed, carried, gate_shapes, nominal_neurons,
                                   program_instances)
from imcpnn.verify.record import VerifyInputs
from imcpnn.verify.report import holds_files
from imcpnn.verify.simulate import build_bundles, check_program_layers, gate_biases, transient_jobs

SETTINGS_FILE = "settings.json"
SCALES_FILE = "scales.json"
PROGRAMS_DIR = "programs"


def condition_dir(out: Path, cond: Condition) -> Path:
    return out / "conditions" / cond.name


def is_done(out: Path, cond: Condition) -> bool:
    return (condition_dir(out, cond) / "summary.json").is_file()


def check_grid_out(out: Path, settings: dict) -> None:
    """`out` is empty, or a grid of the same settings (to resume or extend); anything else is refused."""
    if not holds_files(out):
        return
    path = out / SETTINGS_FILE
    if not path.is_file():
        raise ConfigError(f"--out {out} is not empty and holds no grid of conditions; pick another --out")
    try:
        old = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: unreadable ({exc}); pick another --out") from None
    new = json.loads(json.dumps(settings))  # as it would read back (tuples become lists)
    if old != new:
        diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        hint = ""
        if "design_sha256" in diff:  # the device form and the integration settings are part of the simulated design
            hint = (" (a grid made in the wrapper device form, the default before 2026-11-30, resumes with "
                    "--device-form subckt; one made without device bypass, the default before 2026-12-01, with "
                    "--integration design)")
        raise ConfigError(f"{out} holds a grid made with other settings ({', '.join(diff)}); its results would not "
                          f"compare: pick another --out{hint}")


def programmed_scales(net: Network, cell: CellParams, design: CellDesign, out: Path, at: Condition,
                      scales: Scales | None, scale_mode: str, log: Callable[[str], None], kw: dict) -> Scales:
    """The current scale the chip is programmed with: given, or calibrated at `at` (no mismatch) and kept in
    scales.json so that a resumed grid programs the same chip."""
    path = out / SCALES_FILE
    if scales is not None or scale_mode == "none":
        return scales or Scales()
    if path.is_file():
        try:
            d = json.loads(path.read_text())
            return Scales(float(d["pos"]), float(d["neg"]))
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: unreadable programmed scale ({exc}); remove it to calibrate again") from None
    log(f"programming: calibrating the current scale at {at.section} / {at.temp:g} C")
    sim = {k: kw[k] for k in ("chunks", "workers", "cache", "wire_cap", "layer_netlist", "scheduler", "mem_limit_gb")
           if k in kw}
    cal = fit_scales(net, cell, design, lib_line(at.section), scale_mode, log, dict(sim, temp=at.temp, seed=None))
    s = cal.scales if cal is not None else Scales()
    atomic_write_json(path, {**s.as_dict(), "mode": scale_mode, "at": at.to_dict(),
                             "calibration_rmse_ns": None if cal is None else cal.rmse * cell.t_circ * 1e9})
    return s


def design_at(design: CellDesign, cond_cell: CellParams | None) -> CellDesign:
    """The circuit at a condition: `design` with the neuron biases the condition's cell was trimmed to (imc-extract
    holds V_switch and the firing ramp at every condition by re-deriving v_b_sense and v_b_dis, as a chip's bias trim
    would); without a cell for the condition, the biases as designed."""
    if cond_cell is None:
        return design
    d = cond_cell.design
    return design.derive(v_b_dis=float(d["v_b_dis"]), v_b_sense=float(d["v_b_sense"]))


def programmed_instances(net: Network, conditions: list[Condition], mapping: dict, designs: dict[str, CellDesign],
                         scales: Scales, out: Path, log: Callable[[str], None], kw: dict,
                         program_temp: float | None = None) -> dict[str, Programmed]:
    """Every Monte-Carlo instance written and verified (verify/program.py) at its own corner and temperature, or at
    `program_temp` and operated at its own (the written offsets carried, program.carried), from the gate biases its
    cell maps the weights to (`mapping` and `designs` hold the programming conditions too). Kept in
    programs/<name>.json: a resumed grid simulates the same writes, and an interrupted programming repeats from the
    result cache."""
    found: dict[str, Programmed] = {}
    todo: dict[tuple[str, float], list[Condition]] = {}
    for c in (c for c in conditions if c.seed is not None):
        path = out / PROGRAMS_DIR / f"{c.name}.json"
        if path.is_file():
            try:
                found[c.name] = Programmed.from_dict(json.loads(path.read_text()))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError, ProgramError) as exc:
                raise ConfigError(f"{path}: unreadable ({exc}); remove it to program the instance again") from None
        else:
            todo.setdefault((c.corner, c.temp if program_temp is None else program_temp), []).append(c)
    for (corner, temp), conds in todo.items():
        at = Condition(corner, temp).name
        cell, design = mapping[at][0], designs[at]
        gates, _ = gate_biases(net.weights, cell, scales, kw.get("clip", False))
        log(f"programming {len(conds)} instance(s) at {corner} / {temp:g} C: write and verify")
        written = program_instances(gates, cell, design, lib_line(corner), lib_line(f"{corner}_mm"), temp,
                                    [c.seed for c in conds], wire_cap=kw.get("wire_cap", 0.0), cache=kw.get("cache"),
                                    workers=kw.get("workers"), scheduler=kw.get("scheduler"),
                                    mem_limit_gb=kw.get("mem_limit_gb"), log=log)
        for c in conds:
            p = written[c.seed]
            if c.temp != temp:  # written at `temp`, operated at its own: each bias keeps the offset its write found
                to = gate_biases(net.weights, mapping[c.name][0], scales, kw.get("clip", False))[0]
                p = carried(p, gates, nominal_neurons(designs[at], gate_shapes(gates)), to,
                            nominal_neurons(designs[c.name], gate_shapes(gates)), design.vdd)
            first, last = p.reads[0], p.reads[-1]
            log(f"  {c.name}: {len(p.reads)} reads, synapse current {first['synapse_rms_rel']:.1%} -> "
                f"{last['synapse_rms_rel']:.2%} RMS, discharge {first['i_dis_rms_rel']:.1%} -> "
                f"{last['i_dis_rms_rel']:.2%}, switching point {first['v_switch_rms_mv']:.1f} -> "
                f"{last['v_switch_rms_mv']:.2f} mV" + ("" if p.converged else " (not within tolerance)"))
            atomic_write_json(out / PROGRAMS_DIR / f"{c.name}.json", p.to_dict())
            found[c.name] = p
    return found


def _prefetch(net: Network, designs: dict[str, CellDesign], pending: list[Condition], scales: Scales,
              map_cells: dict[str, CellParams], log: Callable[[str], None], kw: dict,
              programs: dict[str, Programmed]) -> None:
    """Every pending condition's test transients in one batch on the pool (or Dask cluster), into the result cache:
    the conditions then run one after the other from it, and the workers are never idle between two conditions."""
    jobs = []
    for cond in pending:
        bundles, _, _ = build_bundles(net.weights, np.asarray(net.test_inputs, float), map_cells[cond.name],
                                      designs[cond.name],
                                      lib_line(cond.section), scales, clip=kw.get("clip", False),
                                      chunks=kw.get("chunks", 2), wire_cap=kw.get("wire_cap", 0.0),
                                      layer_netlist=kw.get("layer_netlist"), temp=cond.temp, seed=cond.seed,
                                      programmed=programs.get(cond.name))
        jobs += [replace(j, label=f"{cond.name} {j.label}") for j in transient_jobs(bundles, keep_waves=True)]
    log(f"simulating the {len(jobs)} transients of {len(pending)} conditions")
    results = run_jobs(jobs, workers=kw.get("workers"), cache=kw["cache"], label="SPICE transients",
                       scheduler=kw.get("scheduler"), mem_limit_gb=kw.get("mem_limit_gb"), timeout=900.0)
    log(f"batch done: {sum(r.from_cache for r in results)} of the {len(jobs)} transients were in the result cache")
    failed = [r for r in results if not r.ok]
    if failed:  # the condition's own run below repeats it and reports the error in its place
        log(f"{len(failed)} transient(s) failed in the batch, first: {failed[0].error}")


def run_grid(net: Network, cell: CellParams, design: CellDesign, conditions: list[Condition], out: Path, *,
             settings: dict, program_at: Condition, scales: Scales | None, scale_mode: str,
             record: Callable[[Condition, CellParams, Path | None], VerifyInputs],
             cells: dict[str, tuple[CellParams, Path]] | None = None, map_with: str = "run",
             program: str = "none", program_temp: float | None = None, log: Callable[[str], None] = print,
             **kw) -> list[tuple[dict, bool]]:
    """Verify `net` at every condition not already finished in `out`; returns each condition's summary and whether
    it was finished before this call (then read back). `cells`: condition name -> (cell, path) extracted there;
    with map_with='condition' the weights' gate biases come from it, and in any case its trimmed neuron biases
    (design_at). program='write-verify': each Monte-Carlo instance written and verified before it is simulated
    (programmed_instances), at `program_temp` if given (a chip written once, at test, and operated at every
    temperature). `kw` go to verify() (chunks, workers, cache, clip, scheduler, mem_limit_gb, device
    options)."""
    if program not in PROGRAMS:
        raise ConfigError(f"unknown programming {program!r}; choose from {', '.join(PROGRAMS)}")
    if program != "none":
        check_program_layers(kw.get("layer_netlist"))
    check_grid_out(out, settings)
    # the conditions the instances are written at, when that is not where they run
    writes = sorted({Condition(c.corner, program_temp) for c in conditions if c.seed is not None
                     and program_temp is not None and c.temp != program_temp} - set(conditions), key=str)
    if map_with == "condition":
        missing = [c.name for c in conditions + writes if (cells or {}).get(c.name) is None]
        if missing:
            raise ConfigError(f"--map-with condition needs a cell per condition; none for {', '.join(missing)}")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / SETTINGS_FILE, settings)
    prog = programmed_scales(net, cell, design, out, program_at, scales, scale_mode, log, kw)
    # the cell that maps each condition's weights to gate biases, and its file (None: the run's own)
    mapping = {c.name: (cells or {})[c.name] if map_with == "condition" else (cell, None) for c in conditions + writes}
    designs = {c.name: design_at(design, ((cells or {}).get(c.name) or (None,))[0]) for c in conditions + writes}
    pending = [c for c in conditions if not is_done(out, c)]
    programs = (programmed_instances(net, pending, mapping, designs, prog, out, log, kw, program_temp)
                if program != "none" else {})
    if len(pending) > 1 and kw.get("cache") is not None:
        _prefetch(net, designs, pending, prog, {c.name: mapping[c.name][0] for c in pending}, log, kw, programs)
    summaries = []
    for k, cond in enumerate(conditions, start=1):
        d = condition_dir(out, cond)
        kept = is_done(out, cond)
        if kept:
            log(f"[{k}/{len(conditions)}] {cond.name}: finished earlier, kept")
        else:
            map_cell, map_path = mapping[cond.name]
            log(f"[{k}/{len(conditions)}] {cond.name}: simulating")
            t0 = time.perf_counter()
            verify(net, map_cell, designs[cond.name], lib_line(cond.section), d, scale_mode=scale_mode, scales=prog,
                   temp=cond.temp, seed=cond.seed, inputs=record(cond, map_cell, map_path), log=log,
                   programmed=programs.get(cond.name), **kw)
            log(f"[{k}/{len(conditions)}] {cond.name}: done in {time.perf_counter() - t0:.0f} s")
        summaries.append((json.loads((d / "summary.json").read_text()), kept))
    return summaries
