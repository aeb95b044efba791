"""Monte-Carlo mismatch of a cell (`imc-extract mc`, docs/extraction.md "Monte-Carlo mismatch").

Given a nominal cell.json, simulate N instances of its blocks in the corner's mismatch section (``tt_mm`` for a tt
cell: the corner's process plus a threshold / MIM-area offset drawn per device) and measure the spread of what the
model uses: the synapse branch current at V0 over the bias table's gate range (sigma(I)/I as a function of I), lambda
per branch, lambda_dis and i_dis, V_switch and v_th, C_eff at the design fan-in, and the firing law (alpha_dis,
fire_threshold) and the spike-line kick at the kick table's middle weight per instance. The fits are
extract/characterise.py's, extract/firing.py's and extract/kicks.py's, applied per instance.

DC instances sit side by side in one netlist (netlists/instances.py): each copy draws its own devices when the
netlist is expanded, so one library load and one sweep serve them all; transients run one instance per job
(extract/mismatch_plan.py PER_JOB, measured there). Blocks are independent samples: synapse k of one job and column k
of another are not the same physical devices, so only the marginal spreads are measured.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from imcpnn.cell import CellParams
from imcpnn.extract.characterise import LAMBDA_RANGE, Raw, beta_at, reset_level
from imcpnn.extract.firing import T_INJ, fit_firing
from imcpnn.extract.fit import ExtractionError, column_capacitance, crossing, fit_clm, weighted_lambda
from imcpnn.extract.kicks import kick_points
from imcpnn.extract.mismatch_plan import N_SIGMA, McJob, curve_gates, column_currents, mismatch_corner, plan_mismatch
from imcpnn.laws import FiringLaw, interp_of_log
from imcpnn.netlists import CellDesign
from imcpnn.pdk import lib_line
from imcpnn.spice.jobs import JobResult
from imcpnn.spice.pool import run_jobs
from imcpnn.spice.session import Plot
from imcpnn.variation import CurrentMismatch, Spread, Variation


@dataclass
class McRaw:
    """Per-instance results (for the report): scalar samples, and per branch the gate grid and currents."""

    samples: dict[str, list[float]] = field(default_factory=dict)
    currents: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # br -> (v_gate, I[k, g])


def _branch_samples(cell: CellParams, design: CellDesign, br: str, plots: list[Plot], count: int,
                    raw: McRaw) -> list[float]:
    """Per instance of a branch: its gate sweep at V0 (into ``raw.currents``) and its lambda, fitted as
    extract/characterise.py fits the nominal one (current-weighted over the curves with I0 in LAMBDA_RANGE)."""
    sign, s_clm = (1.0, 1.0) if br == "n" else (-1.0, -1.0)
    table, curves = plots
    vg = table.sweep
    cur = np.array([sign * table.current(f"vm{k}") for k in range(count)])
    old = raw.currents.get(br)
    raw.currents[br] = (vg, cur if old is None else np.vstack([old[1], cur]))
    vv = curves.sweep
    n_v = int(np.argmax(np.diff(vv) < 0)) + 1          # the inner (membrane) sweep's length
    g0, _, gs = curve_gates(design, br)
    lo, hi = LAMBDA_RANGE[0] * cell.i_unit, LAMBDA_RANGE[1] * cell.i_unit
    lams = []
    for k in range(count):
        ii = (sign * curves.current(f"vm{k}")).reshape(-1, n_v)
        fits = [fit_clm(vv[:n_v], row, cell.v0, (cell.v_switch, cell.v0), s_clm,
                        f"instance {k} synapse {br.upper()} vg={g0 + j * gs:.4f} V", check=False)
                for j, row in enumerate(ii)]
        lams.append(weighted_lambda(fits, lo, hi, f"instance {k} synapse {br.upper()} branch")[0])
    return lams


def _discharger_samples(cell: CellParams, plot: Plot, count: int) -> tuple[list[float], list[float]]:
    """(lambda_dis, i_dis at V0) per instance, at the design bias."""
    vv, lam, i_dis = plot.sweep, [], []
    for k in range(count):
        ii = plot.current(f"vm{k}")
        lam.append(fit_clm(vv, ii, cell.v0, (cell.v_switch, cell.v0), 1.0, f"instance {k} discharger",
                           check=False).lam)
        i_dis.append(float(np.interp(cell.v0, vv, ii)))
    return lam, i_dis


def _sensing_samples(cell: CellParams, plot: Plot, count: int) -> list[float]:
    """V_switch per instance: where its v(sense) crosses vdd/2."""
    return [crossing(plot.sweep, plot.voltage(f"sense{k}"), cell.vdd / 2, f"instance {k} sensing stage")
            for k in range(count)]


def _column_samples(cell: CellParams, design: CellDesign, plots: list[Plot], count: int
                    ) -> dict[str, list[float]]:
    """C_eff (first transient), then the firing law from the rest, per instance. The law is expressed in the
    cell's v_th and E_dis (the model's units), from the instance's own reset level: its threshold holds that
    instance's comparator offset, its ramp rate its discharger and capacitance."""
    T = cell.t_circ
    i_col = column_currents(cell)[0]
    out: dict[str, list[float]] = {"c_m": [], "alpha_dis": [], "fire_threshold": []}
    for k in range(count):
        t, v = plots[0].time, plots[0].voltage(f"mem_{k}")
        out["c_m"].append(column_capacitance(t, v, i_col, T, T_INJ * T, (cell.v_switch, design.v0),
                                             f"instance {k} column transient"))
        mine = [Plot(f"instance {k}", {"time": p.time, "mem": p.voltage(f"mem_{k}"), "spk": p.voltage(f"spk_{k}")})
                for p in plots[1:]]
        fire = fit_firing(mine, v0=reset_level(Raw(leak=(t, v)), T), v_th=cell.v_th, beta_dis=1.0 / cell.e_dis,
                          vdd=cell.vdd, t_circ=T, t_edge=design.t_edge)
        out["alpha_dis"].append(fire.alpha)
        out["fire_threshold"].append(fire.threshold)
    return out


def _kick_samples(cell: CellParams, design: CellDesign, plot: Plot, layout: tuple) -> dict[str, list[float]]:
    """Each test neuron's kick (extract/kicks.py ``kick_points``, with the cell's firing law and tables); a test
    that is not ramp-fired in both samples gives none."""
    tests, mem, spk, windows = layout
    tables = cell.bias_tables

    def weight_of(br: str, g: float) -> float:
        order = np.argsort(tables[br].v_gate)
        return float(interp_of_log(g, np.asarray(tables[br].v_gate)[order], np.asarray(tables[br].i_v0)[order])
                     ) / cell.i_unit

    law = FiringLaw.from_cell(cell.alpha_dis, cell.fire_threshold, cell.fire_t_min, cell.e_dis)
    points, _ = kick_points(plot, list(tests), list(mem), list(spk), list(windows), weight_of=weight_of,
                            beta_of=lambda br, w: beta_at(tables[br], w * cell.i_unit, cell.v_th),
                            v_reset=cell.v0 if cell.v_reset is None else cell.v_reset, v_th=cell.v_th, vdd=cell.vdd,
                            t_circ=cell.t_circ, t_edge=design.t_edge, law=law)
    return {f"kick_{br}": [k for b, _, k, _ in points if b == br] for br in ("n", "p")}


def measure_mismatch(cell: CellParams, jobs: list[McJob], results: list[JobResult]) -> McRaw:
    """Every instance's quantities from the jobs' results (a failed job is an error naming it)."""
    design = CellDesign.from_dict(cell.design)
    raw = McRaw()
    add = lambda key, xs: raw.samples.setdefault(key, []).extend(float(x) for x in xs)  # noqa: E731
    for mj, res in zip(jobs, results):
        if not res.ok:
            raise ExtractionError(f"simulation {res.label} failed: {res.error}")
        plots = res.plots
        if mj.kind in ("n", "p"):
            add(f"lambda_{mj.kind}", _branch_samples(cell, design, mj.kind, plots, mj.count, raw))
        elif mj.kind == "dis":
            lam, i_dis = _discharger_samples(cell, plots[0], mj.count)
            add("lambda_dis", lam)
            add("i_dis", i_dis)
        elif mj.kind == "sense":
            vs = _sensing_samples(cell, plots[0], mj.count)
            add("v_switch", vs)
            add("v_th", [cell.v0 - x for x in vs])
        elif mj.kind == "column":
            for key, xs in _column_samples(cell, design, plots, mj.count).items():
                add(key, xs)
        else:
            for key, xs in _kick_samples(cell, design, plots[0], mj.layout).items():
                add(key, xs)
    return raw


def current_mismatch(cell: CellParams, raw: McRaw, br: str) -> CurrentMismatch:
    """sigma(I)/I against the mean current at N_SIGMA gate biases spread over the branch's bias table."""
    vg, cur = raw.currents[br]
    idx = np.unique(np.round(np.linspace(0, len(vg) - 1, N_SIGMA)).astype(int))
    mean = cur[:, idx].mean(axis=0)
    rel = cur[:, idx].std(axis=0, ddof=1) / mean
    order = np.argsort(mean)
    if np.any(mean <= 0):
        raise ExtractionError(f"synapse {br.upper()}: a mean branch current over the instances is not positive")
    return CurrentMismatch(i=[float(x) for x in mean[order]], sigma_rel=[float(x) for x in rel[order]],
                           n=int(cur.shape[0]))


def variation_of(cell: CellParams, raw: McRaw, corner: str, seed: int, n: int) -> Variation:
    spreads = {key: Spread(n=len(xs), mean=float(np.mean(xs)), std=float(np.std(xs, ddof=1)), samples=list(xs))
               for key, xs in raw.samples.items() if len(xs) >= 2}
    return Variation(corner=corner, temperature=cell.temperature, seed=seed, n_instances=n,
                     current={br: current_mismatch(cell, raw, br) for br in ("n", "p")}, spreads=spreads)


@dataclass
class McStats:
    jobs: int
    cache_hits: int
    sim_seconds: float
    wall_seconds: float


def run_mismatch(cell: CellParams, n: int, seed: int, corner: str | None = None, *, workers: int | None = None,
                 cache=None, progress: bool = True, timeout: float = 1200.0) -> tuple[CellParams, McRaw, McStats]:
    """Simulate and measure ``n`` instances; the cell with its ``variation`` section filled (any earlier one
    replaced), the per-instance results and the run's counts."""
    t0 = time.perf_counter()
    corner = mismatch_corner(cell, corner)
    jobs = plan_mismatch(cell, lib_line(corner), n, seed)
    results = run_jobs([j.job for j in jobs], workers=workers, timeout=timeout, cache=cache, progress=progress,
                       label=f"mismatch {corner} x{n}")
    raw = measure_mismatch(cell, jobs, results)
    var = variation_of(cell, raw, corner, seed, n)
    out = CellParams.model_validate({**cell.model_dump(by_alias=True), "variation": var.model_dump()})
    stats = McStats(len(results), sum(r.from_cache for r in results), sum(r.seconds for r in results),
                    time.perf_counter() - t0)
    return out, raw, stats
