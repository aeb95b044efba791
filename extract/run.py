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
from imcpnn.extract.plan import DEFAULT_FAN_IN, JobSet, Plan, firing_job, plan, sense_job
from imcpnn.extract.postlayout import ExtractedCells, PostLayoutPlan, plan_hook
from imcpnn.extract.trim import (DRIVE_FLOOR, NOMINAL, Measured, Probe, Trim, condition_points, drive_at, drive_job,
                                 firing_delay, floor_bias, floored, i_unit_of, measure_probe, probe, sense_trim_job,
                                 solve_trim, switch_point, targets)
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


@dataclass(frozen=True)
class _Stage:
    """What the trim stage needs of one run: the hook that makes a condition's jobs post-layout (None: schematic)."""

    design: CellDesign
    fan_in: int
    post_layout: ExtractedCells | None

    def hook(self, c: Condition) -> PostLayoutPlan | None:
        return plan_hook(self.post_layout, lib_line(c[0]))


def _measure(st: _Stage, conditions: list[Condition], run: _Runner) -> tuple[dict[Condition, Measured], Measured]:
    """Every condition's DC stage on the cell being characterised, and the reference the trim restores: the design's
    biases at the nominal condition on the schematic cell. Post-layout that reference is measured on the schematic
    too (the design is what the laid-out cell should behave like); schematic it is the nominal condition's own."""
    probes = {c: probe(st.design, lib_line(c[0]), c[1], st.fan_in, st.hook(c)) for c in conditions}
    own_ref = st.post_layout is not None or NOMINAL not in probes
    ref = probe(st.design, lib_line(NOMINAL[0]), NOMINAL[1], st.fan_in) if own_ref else None
    res = run([j for p in (*probes.values(), *([ref] if ref else [])) for j in p.jobs], "measuring the biases")

    def measured(p: Probe) -> Measured:
        return measure_probe(st.design, p, {j: res[j].plots for j in p.jobs})

    by_cond = {c: measured(p) for c, p in probes.items()}
    return by_cond, measured(ref) if ref is not None else by_cond[NOMINAL]


def _trims(st: _Stage, conditions: list[Condition], measured: dict[Condition, Measured], ref: Measured,
           run: _Runner) -> dict[Condition, Trim]:
    """The trimmed biases of every condition but the schematic nominal one (whose biases are the design's by
    definition). The extracted cell is trimmed at the nominal condition too: its larger membrane (about +25 %)
    raises i_unit, and the design's v_b_dis would leave the discharger's ramp short of the threshold within a
    phase (docs/layout.md); a chip would be trimmed to the design's ramp the same way."""
    v_switch, alpha = targets(st.design, ref)
    todo = [c for c in conditions if c != NOMINAL or st.post_layout is not None]
    jobs = {c: sense_trim_job(st.design, lib_line(c[0]), c[1], v_switch, st.hook(c)) for c in todo}
    res = run(list(jobs.values()), "trimming") if jobs else {}
    out = {c: solve_trim(st.design, measured[c], res[jobs[c]].plots[0], v_switch, alpha, condition_name(c))
           for c in todo}
    if todo:
        out.update(_drive_floors(st, out, measured, run))
    if NOMINAL in conditions and NOMINAL not in out:
        d = st.design
        out[NOMINAL] = Trim(v_switch, alpha, d.v_b_dis, d.v_b_sense, d.v_b_dis, d.v_b_sense)
    return out


def _drive_floors(st: _Stage, held: dict[Condition, Trim], measured: dict[Condition, Measured],
                  run: _Runner) -> dict[Condition, Trim]:
    """The trims whose held V_switch would starve the sensing stage (its drive below DRIVE_FLOOR of the design's
    at the nominal condition, schematic), re-derived at the floor's bias: V_switch is then what the stage has there,
    measured by the plan's own transfer job (the plan finds it cached)."""
    d = st.design
    ref = drive_job(d, lib_line(NOMINAL[0]), NOMINAL[1])
    drives = {c: drive_job(d, lib_line(c[0]), c[1], st.hook(c)) for c in held}
    res = run(list(dict.fromkeys([ref, *drives.values()])), "measuring the sensing stage's drive")
    nominal = drive_at(res[ref].plots[0], d.v_b_sense)
    starved = {c: floor_bias(res[j].plots[0], DRIVE_FLOOR * nominal, condition_name(c)) for c, j in drives.items()
               if drive_at(res[j].plots[0], held[c].v_b_sense) < DRIVE_FLOOR * nominal}
    if not starved:
        return {}
    senses = {c: sense_job(d.derive(v_b_sense=vbs), lib_line(c[0]), JobSet(c[1], st.hook(c)))
              for c, vbs in starved.items()}
    res.update(run(list(senses.values()), "switching point at the drive floor"))
    return {c: floored(d, measured[c], held[c], vbs, switch_point(d, res[senses[c]].plots[0]),
                       (res[drives[c]].plots[0], nominal), condition_name(c)) for c, vbs in starved.items()}


def _firing_delays(st: _Stage, trims: dict[Condition, Trim], measured: dict[Condition, Measured], ref: Measured,
                   run: _Runner) -> dict[Condition, Trim]:
    """Every trim with its firing law's delay against the reference's (the schematic cell at the nominal condition,
    the design's biases), from the plan's own firing transients run first at the trimmed biases (the plan then
    finds them cached)."""
    design = st.design
    ref_job = firing_job(design, lib_line(NOMINAL[0]), st.fan_in, i_unit_of(design, ref, ref.v_switch),
                         JobSet(NOMINAL[1]))
    jobs = {c: firing_job(t.apply(design), lib_line(c[0]), st.fan_in, i_unit_of(design, measured[c], t.v_switch),
                          JobSet(c[1], st.hook(c))) for c, t in trims.items()}
    res = run(list(dict.fromkeys([ref_job, *jobs.values()])), "measuring the firing law")

    def fired(job, v_switch):  # each law in its own units (a floored condition's V_switch is its own)
        return firing_points(res[job].plots, v0=design.v0, v_th=design.v0 - v_switch, vdd=design.vdd,
                             t_circ=design.t_circ, t_edge=design.t_edge)

    return {c: replace(t, late=firing_delay(fired(jobs[c], t.v_switch), fired(ref_job, ref.v_switch)))
            for c, t in trims.items()}


def trim_conditions(design: CellDesign, conditions: list[Condition], *, fan_in: int = DEFAULT_FAN_IN,
                    workers: int | None = None, cache=None, progress: bool = True,
                    timeout: float = 600.0) -> dict[Condition, Trim]:
    """The trim stage alone (its DC probes, no firing transients): every condition's trimmed biases."""
    conditions = list(dict.fromkeys((check_corner(c), float(t)) for c, t in conditions))
    run = _Runner(workers, cache, progress, timeout)
    st = _Stage(design, fan_in, None)
    measured, ref = _measure(st, conditions, run)
    return _trims(st, conditions, measured, ref, run)


def extract_conditions(design: CellDesign, conditions: list[Condition], *, fan_in: int = DEFAULT_FAN_IN,
                       trim: bool = True, workers: int | None = None, cache=None, progress: bool = True,
                       timeout: float = 600.0, post_layout: ExtractedCells | None = None
                       ) -> tuple[dict[Condition, tuple[CellParams, Raw]], RunStats]:
    """Every condition's cell, its biases trimmed to the nominal condition's behaviour unless ``trim`` is off;
    ``post_layout``: characterise the extracted cells instead of the schematic ones (extract/postlayout.py), every
    stage (the trim's probes too) on them, trimmed to the schematic cell's behaviour at the nominal condition."""
    t0 = time.perf_counter()
    conditions = list(dict.fromkeys((check_corner(c), float(t)) for c, t in conditions))
    run = _Runner(workers, cache, progress, timeout)
    st = _Stage(design, fan_in, post_layout)
    measured, ref = _measure(st, conditions, run)
    trims = _firing_delays(st, _trims(st, conditions, measured, ref, run), measured, ref, run) if trim else {}
    plans: dict[Condition, tuple[CellDesign, Plan]] = {}
    for c in conditions:
        des = trims[c].apply(design) if trim else design
        v_switch = trims[c].v_switch if trim else measured[c].v_switch
        points = condition_points(design, measured[c], v_switch, ref, trims[c].late if trim else None)
        plans[c] = des, plan(des, lib_line(c[0]), points, temp=c[1], fan_in=fan_in, post_layout=st.hook(c))
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
