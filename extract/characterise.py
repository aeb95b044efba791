"""Characterisation of the cell in ngspice and the bottom-up fit into a :class:`CellParams` (docs/extraction.md).

One corner = a fixed list of :class:`SimJob` (each job loads the library once and runs its whole bias sweep with
``alterparam``), run in parallel through ``imcpnn.spice.pool.run_jobs`` with the result cache, then fitted here.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from imcpnn.extract.cellparams import (SCHEMA_VERSION, BiasTable, CellParams, FanIn, FitQuality, KickTable,
                                      Provenance)
from imcpnn.extract.fit import (ExtractionError, CurveFit, crossing, fit_clm, interp_lambda, log_interp_error,
                                monotone_table, slope, weighted_lambda)
from imcpnn.laws import FiringLaw, interp_in_log

#: fan-ins at which C_eff is measured (the design fan-in is added if missing)
FAN_INS = (0, 1, 2, 5, 10, 20)
#: default design fan-in: the Iris network's inputs including the bias
DEFAULT_FAN_IN = 5
#: I0 range (in units of i_unit) over which the branch lambda is averaged (current-weighted)
LAMBDA_RANGE = (0.05, 3.0)
#: range (units of i_unit) kept in the exported gate-bias tables
TABLE_RANGE = (0.01, 10.0)
#: biases per branch for the I(V) curves, and the gate range (offsets from 0 for NMOS, from vdd for PMOS)
N_CURVES = 16
N_GATE = (0.35, 0.70)
P_GATE_FROM_VDD = (0.85, 0.45)          # vg_p from vdd-0.85 to vdd-0.45
#: dense gate sweep for the tables (step, V) and its range
TABLE_STEP = 0.005
N_TABLE = (0.25, 0.90)
P_TABLE_FROM_VDD = (0.95, 0.20)
#: membrane sweep for I(V) curves (step, V); the grid is aligned so that it contains V0
V_STEP = 0.05
V_LO = 0.30
#: discharger bias offsets around the design bias (V)
DIS_OFFSETS = (-0.05, -0.02, 0.0, 0.02, 0.05)


def _f(x: float) -> str:
    return f"{float(x):.6g}"


def with_temperature(text: str, temp: float) -> str:
    """Set the simulation temperature: replace the testbench's ``.temp`` line (or add one after the .lib line)."""
    line = f".temp {_f(temp)}"
    if re.search(r"(?im)^\.temp\b.*$", text):
        return re.sub(r"(?im)^\.temp\b.*$", line, text, count=1)
    lines = text.splitlines()
    k = next((j for j, s in enumerate(lines) if s.lower().startswith(".lib")), 0)
    lines.insert(k + 1, line)
    return "\n".join(lines) + "\n"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Plan:
    """The jobs of one corner and what each one is."""

    jobs: list = field(default_factory=list)
    kinds: list[tuple[str, dict]] = field(default_factory=list)
    netlists: dict[str, str] = field(default_factory=dict)
    i_inj: float = 0.0
    t_inj: float = 0.0
    fan_ins: tuple[int, ...] = FAN_INS


def _vmem_sweep(v0: float) -> str:
    k = math.ceil((v0 - V_LO) / V_STEP - 1e-9)
    lo = v0 - k * V_STEP
    return f"dc vmem {_f(lo)} {_f(v0 + 2 * V_STEP)} {_f(V_STEP)}"


def plan(design, lib_line: str, temp: float = 27.0, fan_in: int = DEFAULT_FAN_IN) -> Plan:
    from imcpnn.netlists import column_tb, discharger_tb, sensing_tb, synapse_branch_tb
    from imcpnn.spice.jobs import SimJob

    p = Plan()
    p.fan_ins = tuple(sorted(set(FAN_INS) | {fan_in}))
    vd = design.vdd

    def add(kind: str, meta: dict, name: str, text: str, commands, vectors) -> None:
        text = with_temperature(text, temp)
        p.netlists[name] = _sha(text)
        p.jobs.append(SimJob(text, tuple(commands), tuple(vectors), label=f"{kind}:{meta.get('part', name)}"))
        p.kinds.append((kind, meta))

    sweep = _vmem_sweep(design.v0)
    for br in ("n", "p"):
        tb = synapse_branch_tb(design, lib_line, br)
        lo, hi = N_GATE if br == "n" else (vd - P_GATE_FROM_VDD[0], vd - P_GATE_FROM_VDD[1])
        vgs = [float(x) for x in np.round(np.linspace(lo, hi, N_CURVES), 6)]
        halves = (vgs[0::2], vgs[1::2])
        for part, chunk in enumerate(halves):
            cmds = []
            for vg in chunk:
                cmds += [f"alterparam vg={_f(vg)}", "reset", sweep]
            add("curves", {"branch": br, "vg": chunk, "sign": tb.sign, "part": f"{br}{part}"}, f"synapse_{br}",
                tb.text, cmds, ("v-sweep", "vmem#branch"))
        tlo, thi = N_TABLE if br == "n" else (vd - P_TABLE_FROM_VDD[0], vd - P_TABLE_FROM_VDD[1])
        src = "vgn" if br == "n" else "vgp"
        add("table", {"branch": br, "sign": tb.sign, "part": f"table_{br}"}, f"synapse_{br}", tb.text,
            [f"dc {src} {_f(tlo)} {_f(thi)} {_f(TABLE_STEP)}"], ("v-sweep", "vmem#branch"))
    tb = discharger_tb(design, lib_line)
    vbs = [round(design.v_b_dis + o, 6) for o in DIS_OFFSETS]
    cmds = []
    for vb in vbs:
        cmds += [f"alterparam vb={_f(vb)}", "reset", sweep]
    add("dis", {"vb": vbs, "sign": tb.sign}, "discharger", tb.text, cmds, ("v-sweep", "vmem#branch"))
    tb = sensing_tb(design, lib_line)
    add("sense", {}, "sensing", tb.text, [f"dc vmem 0 {_f(design.v0)} 0.002"], ("v-sweep", "sense"))
    # column transients: a known current from tinj after the accumulation start to its end; stop at 2T
    T = design.t_circ
    c_est = 2.0e-15 * design.mim_area_um2 * 1.5
    p.i_inj = float(f"{0.35 * c_est / (0.85 * T):.3g}")        # about 0.35 V of swing over the accumulation
    p.t_inj = 0.1 * T
    tran = f"tran {_f(T / 200)} {_f(2 * T)} 0 {_f(T / 40)}"
    for n in p.fan_ins:
        tb = column_tb(design, lib_line, n, i_inj=p.i_inj, t_inj=p.t_inj)
        add("column", {"n_in": n, "part": f"column{n}"}, f"column_{n}", tb.text, [tran], ("time", "mem"))
    # firing transients: known charges, then the full firing phase (see extract/firing.py)
    from imcpnn.extract.firing import T_INJ, injection_currents

    tb = column_tb(design, lib_line, fan_in, i_inj=0.0, t_inj=T_INJ * T)
    i_unit_est = c_est * (design.v0 - 0.44) / T
    cmds = []
    for cur in injection_currents(i_unit_est):
        cmds += [f"alterparam iinj={_f(cur)}", "reset", tb.analysis]
    add("fire", {"n_in": fan_in, "part": "firing"}, f"column_{fan_in}_firing", tb.text, cmds, ("time", "mem", "spk"))
    # spike-line kicks: one layer at the design fan-in, test synapses switched off at the firing start (kicks.py)
    from imcpnn.extract.kicks import kick_layer_biases
    from imcpnn.netlists import network_netlist

    tests, vn, vp, x = kick_layer_biases(design, fan_in)
    nb = network_netlist(design, lib_line, [(vn, vp)], x, title="spike-line kicks")
    add("kicks", {"tests": tests, "mem": nb.mem_nodes[0], "spk": nb.spike_nodes[0],
                  "windows": [nb.accum_window(0, s) for s in range(len(x))], "part": "kicks"}, "kicks", nb.text,
        [nb.tran], ("time", *nb.mem_nodes[0], *nb.spike_nodes[0]))
    # the same with a real driver layer in front: kicks of neuron-driven synapses (layers after the first)
    from imcpnn.extract.kicks import driven_kick_network

    tests, biases, x = driven_kick_network(design, fan_in)
    nb = network_netlist(design, lib_line, biases, x, title="neuron-driven spike-line kicks")
    add("kicks_neuron", {"tests": tests, "mem": nb.mem_nodes[1], "spk": nb.spike_nodes[1],
                         "driver": nb.spike_nodes[0][0], "driver_fire": [nb.fire_window(0, s) for s in range(len(x))],
                         "windows": [nb.accum_window(1, s) for s in range(len(x))], "part": "kicks_neuron"},
        "kicks_neuron", nb.text, [nb.tran], ("time", nb.spike_nodes[0][0], *nb.mem_nodes[1], *nb.spike_nodes[1]))
    tb = column_tb(design, lib_line, fan_in, i_inj=0.0, t_inj=p.t_inj)
    add("leak", {"n_in": fan_in, "part": f"leak{fan_in}"}, f"column_{fan_in}_leak", tb.text, [tran], ("time", "mem"))
    return p


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
    firing: object = None
    kicks: object = None
    kicks_neuron: object = None


def assemble(design, p: Plan, results, *, corner: str, temp: float, fan_in: int, provenance: dict) -> tuple[CellParams, Raw]:
    raw = Raw()
    for r, (kind, meta) in zip(results, p.kinds):
        if not r.ok:
            raise ExtractionError(f"simulation {r.label} failed: {r.error}")
    by = lambda k: [(r.plots, m) for r, (kk, m) in zip(results, p.kinds) if kk == k]  # noqa: E731

    # sensing threshold
    (plots, _), = by("sense")
    vm, vs = plots[0]["v-sweep"], plots[0]["sense"]
    v_switch = crossing(vm, vs, design.vdd / 2, "sensing stage output v(sense)")
    raw.sense = (vm, vs)
    v0 = design.v0
    v_th = v0 - v_switch
    if not v_th > 0:
        raise ExtractionError(f"V_switch = {v_switch:.3f} V is not below V0 = {v0} V")
    window = (v_switch, v0)

    # C_eff(N_in) from the column transients
    T = design.t_circ
    c_tab: dict[int, float] = {}
    for plots, meta in by("column"):
        t, v = plots[0]["time"], plots[0]["mem"]
        m = (t > T + p.t_inj + 0.08 * T) & (t < 2 * T - 0.03 * T) & (v > v_switch) & (v < v0)
        s = slope(t, v, m, f"column transient N_in={meta['n_in']}")
        if not s < 0:
            raise ExtractionError(f"column N_in={meta['n_in']}: the membrane does not fall under the injected current")
        c_tab[meta["n_in"]] = p.i_inj / (-s)
        raw.columns[meta["n_in"]] = (t, v)
    c_m = c_tab[fan_in]
    i_unit = c_m * v_th / T

    # leak during accumulation, all inputs off, no injection
    (plots, meta), = by("leak")
    t, v = plots[0]["time"], plots[0]["mem"]
    m = (t > T + 0.1 * T) & (t < 2 * T - 0.03 * T)
    s_leak = slope(t, v, m, "leak transient")
    leak_current = -s_leak * c_m                     # A, positive = discharges (V falls)
    leak = leak_current / i_unit                     # = -dV/dt * t_circ / v_th
    raw.leak = (t, v)

    fq: dict[str, FitQuality] = {}
    fits: dict[str, list[CurveFit]] = {"n": [], "p": []}
    for plots, meta in by("curves"):
        br = meta["branch"]
        for vg, pl in zip(meta["vg"], plots):
            vv, ii = pl["v-sweep"], meta["sign"] * pl["vmem#branch"]
            label = f"{br}_vg{vg:.4f}"
            f = fit_clm(vv, ii, v0, window, +1.0 if br == "n" else -1.0, f"synapse {br.upper()} vg={vg:.4f} V",
                        check=False)
            fits[br].append(f)
            raw.curves.setdefault(br, []).append((vg, vv, ii, f))
            fq[label] = FitQuality(r2=f.r2, max_rel_residual=f.max_rel_residual)
    lam, kap = {}, {}
    lo, hi = LAMBDA_RANGE[0] * i_unit, LAMBDA_RANGE[1] * i_unit
    for br in ("n", "p"):
        raw.curves[br].sort(key=lambda c: c[0])
        lam[br], kap[br], used = weighted_lambda(fits[br], lo, hi, f"synapse {br.upper()} branch")
        raw.used[br] = [u.label for u in used]
        for u in used:                            # the quality floor applies to the curves the model relies on
            fit_clm(*_curve_of(raw.curves[br], u), v0, window, +1.0 if br == "n" else -1.0, u.label)
        if not lam[br] > 0:
            raise ExtractionError(f"synapse {br.upper()} branch: lambda = {lam[br]:.4f} /V is not positive")

    (plots, meta), = by("dis")
    dis_fits = []
    for vb, pl in zip(meta["vb"], plots):
        vv, ii = pl["v-sweep"], meta["sign"] * pl["vmem#branch"]
        f = fit_clm(vv, ii, v0, window, +1.0, f"discharger vb={vb:.4f} V", check=abs(vb - design.v_b_dis) < 1e-9)
        dis_fits.append((vb, f))
        raw.curves.setdefault("dis", []).append((vb, vv, ii, f))
        fq[f"dis_vb{vb:.4f}"] = FitQuality(r2=f.r2, max_rel_residual=f.max_rel_residual)
    f_dis = next(f for vb, f in dis_fits if abs(vb - design.v_b_dis) < 1e-9)
    lam_dis, kap_dis = f_dis.lam, f_dis.kappa
    if not lam_dis > 0:
        raise ExtractionError(f"discharger: lambda = {lam_dis:.4f} /V is not positive")
    # i_dis: the measured current at V0 (the sweep grid contains V0)
    vv, ii = raw.curves["dis"][DIS_OFFSETS.index(0.0)][1:3]
    i_dis = float(np.interp(v0, vv, ii))

    tables: dict[str, BiasTable] = {}
    for plots, meta in by("table"):
        br = meta["branch"]
        vg, ii = plots[0]["v-sweep"], meta["sign"] * plots[0]["vmem#branch"]
        raw.tables_dense[br] = (vg, ii)
        tv, ti = monotone_table(vg, ii, TABLE_RANGE[0] * i_unit, TABLE_RANGE[1] * i_unit)
        if len(tv) < 15 or ti.min() > 0.02 * i_unit or ti.max() < 3 * i_unit:
            raise ExtractionError(f"bias table {br}: covers {ti.min() / i_unit if len(ti) else 0:.3g} to "
                                  f"{ti.max() / i_unit if len(ti) else 0:.3g} units with {len(tv)} biases; "
                                  "need 0.02 to > 3 units and >= 15 biases (adjust the gate range)")
        raw.interp_error[br] = log_interp_error(tv, ti)
        tables[br] = BiasTable(v_gate=[round(float(x), 6) for x in tv], i_v0=[float(x) for x in ti],
                               lam=[float(x) for x in interp_lambda(ti, fits[br])])

    e_plus = 1.0 / (v_th * lam["n"])
    e_minus = -1.0 / (v_th * lam["p"])
    e_dis = 1.0 / (v_th * lam_dis)
    from imcpnn.extract.firing import fit_firing

    # The reset switch releases with a small charge-injection kick: the membrane starts accumulation at v_reset,
    # not exactly V0. The model's v(0) = 0 is that level, so the firing law is fitted relative to it.
    t_l, v_l = raw.leak
    v_reset = float(np.interp(T + 0.02 * T, t_l, v_l))
    (plots, _), = by("fire")
    fire = fit_firing(plots, v0=v_reset, v_th=v_th, beta_dis=1.0 / e_dis, vdd=design.vdd, t_circ=T, t_edge=design.t_edge)
    raw.firing = fire
    fq["firing_transient"] = FitQuality(r2=1.0 - fire.rmse ** 2 / max(1e-12, float(np.var([p[1] for p in fire.points]))),
                                        max_rel_residual=fire.rmse)
    from imcpnn.extract.kicks import driven_test_sample, fit_kicks

    kick_kw = dict(weight_of=lambda br, g: float(np.interp(g, *raw.tables_dense[br])) / i_unit,
                   beta_of=lambda br, w: _beta_at(tables[br], w * i_unit, v_th), v_reset=v_reset, v_th=v_th,
                   vdd=design.vdd, t_circ=T, t_edge=design.t_edge,
                   law=FiringLaw.from_cell(fire.alpha, fire.threshold, fire.t_min, e_dis))
    (plots, meta), = by("kicks")
    kicks = fit_kicks(plots[0], meta["tests"], meta["mem"], meta["spk"], meta["windows"], **kick_kw)
    (plots, meta), = by("kicks_neuron")
    a, t_a = driven_test_sample(plots[0], meta["driver"], meta["driver_fire"], design.vdd, T)
    kicks_neuron = fit_kicks(plots[0], meta["tests"], meta["mem"], meta["spk"],
                             [meta["windows"][a], meta["windows"][-1]], t_test=t_a, **kick_kw)
    raw.kicks, raw.kicks_neuron = kicks, kicks_neuron
    cell = CellParams(
        schema_version=SCHEMA_VERSION, vdd=design.vdd, v0=v0, v_switch=v_switch, v_th=v_th, t_circ=T, c_m=c_m,
        c_m_per_fanin=[FanIn(n_in=n, c_m=c_tab[n]) for n in sorted(c_tab)], design_fan_in=fan_in, i_unit=i_unit,
        lambda_n=lam["n"], lambda_p=lam["p"], lambda_dis=lam_dis, curvature_n=kap["n"], curvature_p=kap["p"],
        curvature_dis=kap_dis, e_rev_plus=e_plus, e_rev_minus=e_minus, e_dis=e_dis, i_dis=i_dis,
        alpha_dis=i_dis / i_unit, leak=leak, leak_current=leak_current,
        w_max_plus=max(tables["n"].i_v0) / i_unit, w_max_minus=max(tables["p"].i_v0) / i_unit,
        bias_tables=tables, fit_quality=fq,
        bias_interp_rel_error={k: float(v) for k, v in raw.interp_error.items()},
        fire_alpha=fire.alpha, fire_threshold=fire.threshold, fire_t_min=fire.t_min, v_reset=v_reset,
        kicks=_kick_table(kicks), kicks_neuron=_kick_table(kicks_neuron),
        provenance=Provenance(corner=corner, temperature=float(temp), netlist_hashes=dict(p.netlists),
                              timestamp=datetime.now(timezone.utc).isoformat(timespec="seconds"), **provenance),
    )
    return cell, raw


def _kick_table(k) -> KickTable:
    return KickTable(n_w=k.w["n"], n_kick=k.kick["n"], p_w=k.w["p"], p_kick=k.kick["p"], n_delay=k.delay["n"],
                     p_delay=k.delay["p"])


def _beta_at(table: BiasTable, current: float, v_th: float) -> float:
    """CLM beta (model units, magnitude) of a branch at a current, from the table's per-bias lambda."""
    order = np.argsort(table.i_v0)
    return v_th * float(interp_in_log(current, np.asarray(table.i_v0)[order], np.asarray(table.lam)[order]))


def _curve_of(curves, fit: CurveFit):
    for _, vv, ii, f in curves:
        if f is fit:
            return vv, ii
    raise KeyError(fit.label)
