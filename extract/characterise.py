"""The bottom-up fit of one corner's simulations (extract/plan.py) into a :class:`CellParams` (docs/extraction.md).

One function per measured quantity, in the order they depend on each other: V_switch (sensing stage) and C_eff
(column transients) set the scale (v_th, i_unit) that every later quantity is expressed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

import numpy as np

from imcpnn.cell import (SCHEMA_VERSION, BiasTable, CellParams, EarlySpikes, FanIn, FanOutKicks, FitQuality,
                         KickLevel, KickTable, Provenance, design_sha256)
from imcpnn.extract.firing import FiringFit, early_spikes, fit_firing
from imcpnn.extract.fit import (CurveFit, ExtractionError, column_capacitance, crossing, fit_clm, interp_lambda,
                                log_interp_error, monotone_table, slope, weighted_lambda)
from imcpnn.extract.kicks import KickFit, driven_test_sample, fit_points, kick_level_law, kick_points
from imcpnn.extract.plan import DIS_OFFSETS, Branch, Curves, KickLayer, Plan
from imcpnn.extract.trim import Trim
from imcpnn.laws import FiringLaw, interp_in_log
from imcpnn.netlists import CellDesign
from imcpnn.spice.jobs import JobResult, SimJob
from imcpnn.spice.session import Plot

#: I0 range (in units of i_unit) over which the branch lambda is averaged (current-weighted)
LAMBDA_RANGE = (0.05, 3.0)
#: range (units of i_unit) kept in the exported gate-bias tables
TABLE_RANGE = (0.01, 10.0)


@dataclass
class Raw:
    """Everything measured (for the report)."""

    curves: dict[str, list[tuple[float, np.ndarray, np.ndarray, CurveFit]]] = field(default_factory=dict)
    tables_dense: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    sense: tuple[np.ndarray, np.ndarray] | None = None
    columns: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    leak: tuple[np.ndarray, np.ndarray] | None = None
    used: dict[str, list[str]] = field(default_factory=dict)
    interp_error: dict[str, float] = field(default_factory=dict)
    firing: FiringFit | None = None
    kicks: KickFit | None = None
    kicks_neuron: KickFit | None = None
    kicks_high: KickFit | None = None
    kicks_fan_out: dict[int, KickFit] = field(default_factory=dict)
    quality: dict[str, FitQuality] = field(default_factory=dict)
    trim: Trim | None = None        # the condition's trimmed biases (None: --no-trim)


@dataclass(frozen=True)
class Scale:
    """The units everything else is measured in: the membrane window [v_switch, v0] and one unit of current."""

    v0: float
    v_switch: float
    t_circ: float
    c_m: float

    @property
    def v_th(self) -> float:
        return self.v0 - self.v_switch

    @property
    def window(self) -> tuple[float, float]:
        return self.v_switch, self.v0

    @property
    def i_unit(self) -> float:
        return self.c_m * self.v_th / self.t_circ


def _plots(p: Plan, results: list[JobResult]) -> dict[SimJob, list[Plot]]:
    for r in results:
        if not r.ok:
            raise ExtractionError(f"simulation {r.label} failed: {r.error}")
    return dict(zip(p.jobs, (r.plots for r in results)))


def measure_switch(design: CellDesign, plot: Plot, raw: Raw) -> float:
    """V_switch: where the sensing stage's output crosses vdd/2."""
    vm, vs = plot.sweep, plot.voltage("sense")
    v_switch = crossing(vm, vs, design.vdd / 2, "sensing stage output v(sense)")
    raw.sense = (vm, vs)
    if not design.v0 - v_switch > 0:
        raise ExtractionError(f"V_switch = {v_switch:.3f} V is not below V0 = {design.v0} V")
    return v_switch


def measure_capacitance(p: Plan, plots: dict[SimJob, list[Plot]], design: CellDesign, v_switch: float,
                        raw: Raw) -> dict[int, float]:
    """C_eff(N_in): the injected current over the membrane's slope in the column transients."""
    c_tab = {}
    for col in p.columns:
        pl = plots[col.job][0]
        t, v = pl.time, pl.voltage("mem")
        c_tab[col.n_in] = column_capacitance(t, v, col.i_inj, design.t_circ, p.t_inj, (v_switch, design.v0),
                                             f"column transient N_in={col.n_in}")
        raw.columns[col.n_in] = (t, v)
    return c_tab


def measure_leak(plot: Plot, sc: Scale, raw: Raw) -> float:
    """Leak current (A, positive = discharges) during accumulation, all inputs off, no injection."""
    T = sc.t_circ
    t, v = plot.time, plot.voltage("mem")
    raw.leak = (t, v)
    return -slope(t, v, (t > T + 0.1 * T) & (t < 2 * T - 0.03 * T), "leak transient") * sc.c_m


def reset_level(raw: Raw, t_circ: float) -> float:
    """The reset switch releases with a small charge-injection kick: the membrane starts accumulation at v_reset,
    not exactly V0. The model's v(0) = 0 is that level, so the firing law is fitted relative to it."""
    t, v = raw.leak
    return float(np.interp(t_circ + 0.02 * t_circ, t, v))


def _curve_fits(name: str, curves: Curves, plots: list[Plot], sc: Scale, raw: Raw,
                check: Callable[[float], bool]) -> list[CurveFit]:
    """Linear CLM fits of the I(V) curves of one job (``check(bias)``: whether the fit's quality floor applies)."""
    sign = +1.0 if name in ("n", "dis") else -1.0
    fits = []
    for bias, pl in zip(curves.biases, plots):
        vv, ii = pl.sweep, curves.sign * pl.current("vmem")
        what = f"discharger vb={bias:.4f} V" if name == "dis" else f"synapse {name.upper()} vg={bias:.4f} V"
        f = fit_clm(vv, ii, sc.v0, sc.window, sign, what, check=check(bias))
        fits.append(f)
        raw.curves.setdefault(name, []).append((bias, vv, ii, f))
        raw.quality[f"dis_vb{bias:.4f}" if name == "dis" else f"{name}_vg{bias:.4f}"] = FitQuality(r2=f.r2, max_rel_residual=f.max_rel_residual)
    return fits


def measure_branch(b: Branch, plots: dict[SimJob, list[Plot]], sc: Scale, raw: Raw) -> tuple[float, float,
                                                                                               list[CurveFit]]:
    """(lambda, curvature, fits) of a synapse branch: the current-weighted mean over its curves in LAMBDA_RANGE."""
    fits = [f for c in b.curves for f in _curve_fits(b.name, c, plots[c.job], sc, raw, lambda _: False)]
    raw.curves[b.name].sort(key=lambda c: c[0])
    lo, hi = LAMBDA_RANGE[0] * sc.i_unit, LAMBDA_RANGE[1] * sc.i_unit
    lam, kap, used = weighted_lambda(fits, lo, hi, f"synapse {b.name.upper()} branch")
    raw.used[b.name] = [u.label for u in used]
    for u in used:                            # the quality floor applies to the curves the model relies on
        vv, ii = next((vv, ii) for _, vv, ii, f in raw.curves[b.name] if f is u)
        fit_clm(vv, ii, sc.v0, sc.window, +1.0 if b.name == "n" else -1.0, u.label)
    if not lam > 0:
        raise ExtractionError(f"synapse {b.name.upper()} branch: lambda = {lam:.4f} /V is not positive")
    return lam, kap, fits


def measure_discharger(design: CellDesign, dis: Curves, plots: list[Plot], sc: Scale, raw: Raw) -> CurveFit:
    """The discharger's CLM fit at its design bias (the quality floor applies there only)."""
    fits = _curve_fits("dis", dis, plots, sc, raw, lambda vb: abs(vb - design.v_b_dis) < 1e-9)
    f_dis = next(f for vb, f in zip(dis.biases, fits) if abs(vb - design.v_b_dis) < 1e-9)
    if not f_dis.lam > 0:
        raise ExtractionError(f"discharger: lambda = {f_dis.lam:.4f} /V is not positive")
    return f_dis


def discharge_current(raw: Raw, v0: float) -> float:
    """i_dis: the measured discharger current at V0 (the sweep grid contains V0)."""
    _, vv, ii, _ = raw.curves["dis"][DIS_OFFSETS.index(0.0)]
    return float(np.interp(v0, vv, ii))


def measure_table(b: Branch, plot: Plot, fits: list[CurveFit], sc: Scale, raw: Raw) -> BiasTable:
    """The branch's gate bias -> current at V0 table (monotone part within TABLE_RANGE) with lambda per bias."""
    i_unit = sc.i_unit
    vg, ii = plot.sweep, b.sign * plot.current("vmem")
    raw.tables_dense[b.name] = (vg, ii)
    tv, ti = monotone_table(vg, ii, TABLE_RANGE[0] * i_unit, TABLE_RANGE[1] * i_unit)
    if len(tv) < 15 or ti.min() > 0.02 * i_unit or ti.max() < 3 * i_unit:
        raise ExtractionError(f"bias table {b.name}: covers {ti.min() / i_unit if len(ti) else 0:.3g} to "
                              f"{ti.max() / i_unit if len(ti) else 0:.3g} units with {len(tv)} biases; "
                              "need 0.02 to > 3 units and >= 15 biases (adjust the gate range)")
    raw.interp_error[b.name] = log_interp_error(tv, ti)
    return BiasTable(v_gate=[round(float(x), 6) for x in tv], i_v0=[float(x) for x in ti],
                     lam=[float(x) for x in interp_lambda(ti, fits)])


def measure_firing(design: CellDesign, plots: list[Plot], sc: Scale, v_reset: float, e_dis: float,
                   raw: Raw) -> FiringFit:
    """The firing law (ramp rate, effective threshold, t_min) from the firing transients."""
    fire = fit_firing(plots, v0=v_reset, v_th=sc.v_th, beta_dis=1.0 / e_dis, vdd=design.vdd, t_circ=sc.t_circ,
                      t_edge=design.t_edge)
    raw.firing = fire
    var = max(1e-12, float(np.var([p[1] for p in fire.points])))
    raw.quality["firing_transient"] = FitQuality(r2=1.0 - fire.rmse ** 2 / var, max_rel_residual=fire.rmse)
    return fire


def beta_at(table: BiasTable, current: float, v_th: float) -> float:
    """CLM beta (model units, magnitude) of a branch at a current, from the table's per-bias lambda."""
    order = np.argsort(table.i_v0)
    return v_th * float(interp_in_log(current, np.asarray(table.i_v0)[order], np.asarray(table.lam)[order]))


def measure_kicks(design: CellDesign, layer: KickLayer, plot: Plot, sc: Scale, tables: dict[str, BiasTable],
                  raw: Raw, law: FiringLaw, v_reset: float) -> KickFit:
    """Spike-line kicks of stimulus-fed (no driver) or neuron-driven synapses (extract/kicks.py)."""
    return fit_points(*kick_points_of(design, layer, plot, sc, tables, raw, law, v_reset))


def measure_kick_parts(design: CellDesign, parts: tuple[KickLayer, ...], plots: dict[SimJob, list[Plot]],
                       sc: Scale, tables: dict[str, BiasTable], raw: Raw, law: FiringLaw, v_reset: float) -> KickFit:
    """The neuron-fed kicks at one fan-out from its transients' tests together."""
    points, arrival = [], {"n": [], "p": []}
    for layer in parts:
        pts, arr = kick_points_of(design, layer, plots[layer.job][0], sc, tables, raw, law, v_reset)
        points += pts
        for br in arrival:
            arrival[br] += arr[br]
    return fit_points(points, arrival)


def kick_points_of(design: CellDesign, layer: KickLayer, plot: Plot, sc: Scale, tables: dict[str, BiasTable],
                   raw: Raw, law: FiringLaw, v_reset: float):
    """One kick transient's tests (extract/kicks.py ``kick_points``)."""
    windows, t_test = list(layer.windows), {}
    if layer.driver is not None:
        a, t_test["t_test"] = driven_test_sample(plot, layer.driver, list(layer.driver_fire), design.vdd, sc.t_circ)
        windows = [windows[a], windows[-1]]
    return kick_points(plot, list(layer.tests), list(layer.mem), list(layer.spk), windows,
                       weight_of=lambda br, g: float(np.interp(g, *raw.tables_dense[br])) / sc.i_unit,
                       beta_of=lambda br, w: beta_at(tables[br], w * sc.i_unit, sc.v_th), v_reset=v_reset,
                       v_th=sc.v_th, vdd=design.vdd, t_circ=sc.t_circ, t_edge=design.t_edge, law=law, **t_test)


def _kick_level(raw: Raw) -> KickLevel | None:
    law = None if raw.kicks_high is None else kick_level_law(raw.kicks, raw.kicks_high)
    return None if law is None else KickLevel(**law)


def _kick_table(k: KickFit) -> KickTable:
    return KickTable(n_w=k.w["n"], n_kick=k.kick["n"], p_w=k.w["p"], p_kick=k.kick["p"], n_delay=k.delay["n"],
                     p_delay=k.delay["p"])


def assemble(design: CellDesign, p: Plan, results: list[JobResult], *, corner: str, temp: float, fan_in: int,
             provenance: dict) -> tuple[CellParams, Raw]:
    plots, raw = _plots(p, results), Raw()
    v_switch = measure_switch(design, plots[p.sense][0], raw)
    c_tab = measure_capacitance(p, plots, design, v_switch, raw)
    sc = Scale(design.v0, v_switch, design.t_circ, c_tab[fan_in])
    leak_current = measure_leak(plots[p.leak.job][0], sc, raw)
    branches = {b.name: (b, *measure_branch(b, plots, sc, raw)) for b in p.branches}
    f_dis = measure_discharger(design, p.dis, plots[p.dis.job], sc, raw)
    tables = {name: measure_table(b, plots[b.table][0], fits, sc, raw) for name, (b, _, _, fits) in branches.items()}
    e_dis = 1.0 / (sc.v_th * f_dis.lam)
    v_reset = reset_level(raw, sc.t_circ)
    fire = measure_firing(design, plots[p.fire], sc, v_reset, e_dis, raw)
    early = None if p.early is None else early_spikes(plots[p.early], v0=v_reset, v_th=sc.v_th, vdd=design.vdd,
                                                       t_circ=sc.t_circ, t_edge=design.t_edge)
    law = FiringLaw.from_cell(fire.alpha, fire.threshold, fire.t_min, e_dis)
    raw.kicks, raw.kicks_neuron = (measure_kicks(design, k, plots[k.job][0], sc, tables, raw, law, v_reset)
                                   for k in (p.kicks, p.kicks_neuron))
    if p.kicks_high is not None:
        raw.kicks_high = measure_kicks(design, p.kicks_high, plots[p.kicks_high.job][0], sc, tables, raw, law, v_reset)
    raw.kicks_fan_out = {f: measure_kick_parts(design, parts, plots, sc, tables, raw, law, v_reset)
                         for f, parts in p.kicks_fan_out}
    lam = {name: v[1] for name, v in branches.items()}
    kap = {name: v[2] for name, v in branches.items()}
    i_dis = discharge_current(raw, sc.v0)
    i_unit = sc.i_unit
    cell = CellParams(
        schema_version=SCHEMA_VERSION, vdd=design.vdd, v0=sc.v0, v_switch=v_switch, v_th=sc.v_th, t_circ=sc.t_circ,
        c_m=sc.c_m, c_m_per_fanin=[FanIn(n_in=n, c_m=c_tab[n]) for n in sorted(c_tab)], design_fan_in=fan_in,
        i_unit=i_unit, lambda_n=lam["n"], lambda_p=lam["p"], lambda_dis=f_dis.lam, curvature_n=kap["n"],
        curvature_p=kap["p"], curvature_dis=f_dis.kappa, e_rev_plus=1.0 / (sc.v_th * lam["n"]),
        e_rev_minus=-1.0 / (sc.v_th * lam["p"]), e_dis=e_dis, i_dis=i_dis, alpha_dis_dc=i_dis / i_unit,
        leak_drift=leak_current / i_unit, leak_current=leak_current, w_max_plus=max(tables["n"].i_v0) / i_unit,
        w_max_minus=max(tables["p"].i_v0) / i_unit, bias_tables=tables, fit_quality=raw.quality,
        bias_interp_rel_error={k: float(v) for k, v in raw.interp_error.items()},
        alpha_dis=fire.alpha, fire_threshold=fire.threshold, fire_t_min=fire.t_min,
        fire_early=None if early is None else EarlySpikes(v=early[0], t=early[1]), v_reset=v_reset,
        design=design.to_dict(), design_sha256=design_sha256(design.to_dict()),
        kicks=_kick_table(raw.kicks), kicks_neuron=_kick_table(raw.kicks_neuron),
        kick_level=_kick_level(raw),
        kicks_neuron_fan_out=[FanOutKicks(fan_out=f, kicks=_kick_table(k))
                              for f, k in sorted(raw.kicks_fan_out.items())],
        provenance=Provenance(corner=corner, temperature=float(temp), netlist_hashes=dict(p.netlists),
                              timestamp=datetime.now(timezone.utc).isoformat(timespec="seconds"), **provenance),
    )
    return cell, raw
