"""Run the characterisation of one or several conditions (corner, temperature): probe and trim (extract/trim.py) ->
plan -> simulate (parallel, cached) -> fit -> CellParams."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from imcpnn import __version__
from imcpnn.cell import CellParams
from imcpnn.extract.characterise import Raw, assemble
from imcpnn.extract.fit import ExtractionError
from imcpnn.extract.firing import firing_points
from imcpnn.extract.plan import DEFAULT_FAN_IN, JobSet, Plan, firing_job, plan
from imcpnn.extract.postlayout import ExtractedCells, plan_hook
from imcpnn.extract.trim import (NOMINAL, Measured, Probe, Trim, condition_points, firing_delay, i_unit_of,
                                 measure_probe, probe, sense_trim_job, solve_trim, targets)
from imcpnn.netlists import CellDesign
from imcpnn.pdk import check_corner, find_pdk, lib_line, library_hash
from imcpnn.spice.engine import shared_version_cached
from imcpnn.spice.pool import run_jobs

Condition = tuple[str, float]


@dataclass
class RunStats:
    jobs: int = 0
    cache_hits: int = 0
    library_loads: int = 0   # one per job actually simulated (not from the cache)
    sim_seconds: float = 0.0
    wall_seconds: float = 0.0
    #: conditions whose fit failed (the others' cells are still returned): condition -> the error
    failures: dict = field(default_factory=dict)


def provenance_base(corner: str) -> dict:
    pdk = find_pdk()
    return {"pdk_source": str(pdk.source), "pdk_version": str(pdk.version),
            "pdk_hash": library_hash(False, corner), "ngspice_version": shared_version_cached(),
            "tool_version": __version__}


def condition_name(c: Condition) -> str:
    return f"{c[0]}/{c[1]:g} C"


class _Runner:
    """One pool run per stage, every condition's jobs together (so conditions proceed in parallel)."""

    def __init__(self, workers, cache, progress, timeout):
        self.kw = dict(workers=workers, cache=cache, progress=progress, timeout=timeout)
        self.stats = RunStats()

    def __call__(self, jobs: list, label: str) -> dict:
        results = run_jobs(jobs, label=label, **self.kw)
        for r in results:
            if not r.ok:
                raise ExtractionError(f"simulation {r.label} failed: {r.error}")
        hits = sum(1 for r in results if r.from_cache)
        s = self.stats
        s.jobs, s.cache_hits, s.library_loads = s.jobs + len(results), s.cache_hits + hits, \
            s.library_loads + len(results) - hits
        s.sim_seconds += sum(r.seconds for r in results)
        return {j: r for j, r in zip(jobs, results)}


def _trims(design: CellDesign, conditions: list[Condition], measured: dict[Condition, Measured],
           run: _Runner) -> dict[Condition, Trim]:
    """The trimmed biases of every condition but the nominal one (whose biases are the design's by definition)."""
    v_switch, alpha = targets(design, measured[NOMINAL])
    todo = [c for c in conditions if c != NOMINAL]
    jobs = {c: sense_trim_job(design, lib_line(c[0]), c[1], v_switch) for c in todo}
    res = run(list(jobs.values()), "trimming") if jobs else {}
    out = {c: solve_trim(design, measured[c], res[jobs[c]].plots[0], v_switch, alpha, condition_name(c))
           for c in todo}
    if NOMINAL in conditions:
        out[NOMINAL] = Trim(v_switch, alpha, design.v_b_dis, design.v_b_sense, design.v_b_dis, design.v_b_sense)
    return out


def _firing_delays(design: CellDesign, fan_in: int, trims: dict[Condition, Trim], measured: dict[Condition, Measured],
                   run: _Runner) -> dict[Condition, Trim]:
    """Every trim with its firing law's delay against the nominal condition's (whose biases are the design's), from
    the plan's own firing transients run first at the trimmed biases (the plan then finds them cached)."""
    v_switch = next(iter(trims.values())).v_switch
    every = {NOMINAL: design, **{c: trims[c].apply(design) for c in trims}}
    jobs = {c: firing_job(des, lib_line(c[0]), fan_in, i_unit_of(design, measured[c], v_switch), JobSet(c[1]))
            for c, des in every.items()}
    res = run(list(dict.fromkeys(jobs.values())), "measuring the firing law")
    fired = {c: firing_points(res[j].plots, v0=design.v0, v_th=design.v0 - v_switch, vdd=design.vdd,
                              t_circ=design.t_circ, t_edge=design.t_edge) for c, j in jobs.items()}
    return {c: replace(t, late=firing_delay(fired[c], fired[NOMINAL])) for c, t in trims.items()}


def extract_conditions(design: CellDesign, conditions: list[Condition], *, fan_in: int = DEFAULT_FAN_IN,
                       trim: bool = True, workers: int | None = None, cache=None, progress: bool = True,
                       timeout: float = 600.0, post_layout: ExtractedCells | None = None
                       ) -> tuple[dict[Condition, tuple[CellParams, Raw]], RunStats]:
    """Every condition's cell, its biases trimmed to the nominal condition's behaviour unless ``trim`` is off;
    ``post_layout``: characterise the extracted cells instead of the schematic ones (extract/postlayout.py; the trim
    stage's probes stay schematic)."""
    t0 = time.perf_counter()
    conditions = list(dict.fromkeys((check_corner(c), float(t)) for c, t in conditions))
    run = _Runner(workers, cache, progress, timeout)
    probed = list(dict.fromkeys([*conditions, NOMINAL]))
    probes: dict[Condition, Probe] = {c: probe(design, lib_line(c[0]), c[1], fan_in) for c in probed}
    res = run([j for p in probes.values() for j in p.jobs], "measuring the biases")
    measured = {c: measure_probe(design, p, {j: res[j].plots for j in p.jobs}) for c, p in probes.items()}
    trims = _trims(design, conditions, measured, run) if trim else {}
    if trim:
        trims = _firing_delays(design, fan_in, trims, measured, run)
    plans: dict[Condition, tuple[CellDesign, Plan]] = {}
    for c in conditions:
        des = trims[c].apply(design) if trim else design
        v_switch = trims[c].v_switch if trim else measured[c].v_switch
        points = condition_points(design, measured[c], v_switch, measured[NOMINAL], trims[c].late if trim else None)
        plans[c] = des, plan(des, lib_line(c[0]), points, temp=c[1], fan_in=fan_in,
                             post_layout=plan_hook(post_layout, lib_line(c[0])))
    res = run([j for _, p in plans.values() for j in p.jobs],
              f"characterising {', '.join(condition_name(c) for c in conditions)}")
    out: dict[Condition, tuple[CellParams, Raw]] = {}
    for c, (des, p) in plans.items():
        try:
            out[c] = assemble(des, p, [res[j] for j in p.jobs], corner=c[0], temp=c[1], fan_in=fan_in,
                              provenance={**provenance_base(c[0]), "design": design.name,
                                          **({"post_layout": post_layout.provenance} if post_layout else {})})
        except ExtractionError as e:
            if len(plans) == 1:
                raise
            run.stats.failures[c] = str(e)
            continue
        out[c][1].trim = trims.get(c)
    run.stats.wall_seconds = time.perf_counter() - t0
    return out, run.stats


def extract_corners(design: CellDesign, corners: list[str], *, temp: float = 27.0, fan_in: int = DEFAULT_FAN_IN,
                    trim: bool = True, workers: int | None = None, cache=None, progress: bool = True,
                    timeout: float = 600.0) -> tuple[dict[str, tuple[CellParams, Raw]], RunStats]:
    """Several corners at one temperature (``extract_conditions``), keyed by corner."""
    cells, stats = extract_conditions(design, [(c, temp) for c in corners], fan_in=fan_in, trim=trim,
                                      workers=workers, cache=cache, progress=progress, timeout=timeout)
    for c, err in stats.failures.items():
        raise ExtractionError(f"{condition_name(c)}: {err}")
    return {c: v for (c, _), v in cells.items()}, stats
