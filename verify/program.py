"""Write-and-verify programming: a Monte-Carlo instance's gate biases and per-neuron biases re-derived from
measurements of the instance itself until it measures as the nominal chip does (docs/verification.md, "Programming
each instance").

Why: the mismatch of an as-drawn instance costs the Iris networks up to 44 accuracy points, and neither training for
it nor larger devices brings the worst case near 1 point. A chip is written after fabrication and can be verified
while it is written: each synapse's current read back and its gate bias corrected, each neuron's discharger and
comparator trimmed. That removes the mismatch of what is trimmed (synapse current at v0, discharge current at v0,
DC switching point) and leaves the rest (the currents' dependence on the membrane, the kicks, the comparator's
dynamics) for the transient to show.

The targets are the nominal chip's own readings in the same probe (netlists/probe.py; the instance's corner and
temperature without mismatch, programmed as the weights map), so a difference between the probe and the extraction's
testbenches cancels. One probe job reads everything at the present biases:

* every synapse's current: the membranes clamped at v0, one input line on at a time in every layer, minus the
  reading with all off;
* every neuron's discharge current at v0 (firing phase on, inputs off, minus the same baseline), at its bias and at
  the bias plus DV_BIAS (the slope for a Newton step);
* every neuron's DC switching point (its sensing stage's output crossing vdd/2 in a sweep of the clamp), at its
  bias and at the bias plus DV_BIAS.

A synapse's gate then moves by the nominal bias table's gate difference between the target and the read current (a
threshold offset shifts the sub-threshold curve along the gate axis, so one step lands up to the slope's mismatch),
and from the second write on by the secant through its last two reads; a neuron's biases take a Newton step. The
loop stops when every reading is within TOLERANCE, or after MAX_READS reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from imcpnn.cell import CellParams
from imcpnn.errors import ImcError
from imcpnn.netlists import CellDesign
from imcpnn.netlists.network import NeuronBiases
from imcpnn.netlists.probe import ProbeNetlist, probe_netlist
from imcpnn.spice.analyses import Current, Voltage
from imcpnn.spice.cache import ResultCache
from imcpnn.spice.jobs import SimJob
from imcpnn.spice.pool import run_jobs
from imcpnn.verify.mapping import BiasMapper

PROGRAMS = ("none", "write-verify")
DV_BIAS = 5e-3  # V: the bias step of the slope readings
MAX_STEP = 0.05  # V: the most a neuron bias moves per round
MAX_READS = 5
SWEEP_HALF, SWEEP_STEP = 0.12, 1e-3  # V: the clamp sweep around the target switching point
#: (synapse and discharge current, relative; switching point, V; currents below ABS_CURRENT A count as met)
TOLERANCE = {"current": 5e-3, "v_switch": 5e-4}
ABS_CURRENT = 2e-12


class ProgramError(ImcError):
    """A reading the loop cannot use (no switching point in the sweep, a bias that does not move its reading)."""


@dataclass
class Readings:
    """One probe's readings, per layer: synapse currents (n_out, n_in) and per neuron the discharge current and the
    switching point at its bias and at the bias plus DV_BIAS."""

    syn: list[np.ndarray]
    i_dis: list[np.ndarray]
    i_dis_step: list[np.ndarray]
    v_switch: list[np.ndarray]
    v_switch_step: list[np.ndarray]


@dataclass
class Programmed:
    """What an instance is programmed with, and each read's worst error against the targets."""

    gates: list[tuple[np.ndarray, np.ndarray]]
    neurons: list[NeuronBiases]
    reads: list[dict[str, float]] = field(default_factory=list)
    converged: bool = False

    def to_dict(self) -> dict:
        return {"gates": [{"vn": vn.tolist(), "vp": vp.tolist()} for vn, vp in self.gates],
                "neurons": [{"v_b_dis": n.v_b_dis.tolist(), "v_b_sense": n.v_b_sense.tolist()} for n in self.neurons],
                "reads": self.reads, "converged": self.converged}

    @classmethod
    def from_dict(cls, d: dict) -> "Programmed":
        try:
            gates = [(np.asarray(g["vn"], float), np.asarray(g["vp"], float)) for g in d["gates"]]
            neurons = [NeuronBiases(np.asarray(n["v_b_dis"], float), np.asarray(n["v_b_sense"], float))
                       for n in d["neurons"]]
            return cls(gates, neurons, list(d.get("reads", [])), bool(d.get("converged", False)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ProgramError(f"unreadable programmed biases ({exc})") from None


def gate_shapes(gates: list[tuple[np.ndarray, np.ndarray]]) -> list[tuple[int, int]]:
    """Per layer (n_in, n_out) of its (n_out, n_in) gate-bias arrays."""
    return [(vn.shape[1], vn.shape[0]) for vn, _ in gates]


def nominal_neurons(design: CellDesign, shapes: list[tuple[int, int]]) -> list[NeuronBiases]:
    """Every neuron at the design's shared biases."""
    return [NeuronBiases(np.full(n_out, design.v_b_dis), np.full(n_out, design.v_b_sense)) for _, n_out in shapes]


def probe_job(probe: ProbeNetlist, neurons: list[NeuronBiases], v_switch_guess: float, label: str) -> SimJob:
    """One job reading everything (module docstring) at the probe's biases."""
    vdd = f"{probe.vdd:.9g}"
    max_in = max(n_in for n_in, _ in probe.shapes)
    cmds = ["op"]
    for j in range(max_in):
        on, off = [], []
        for l, (n_in, _) in enumerate(probe.shapes):
            if j < n_in:
                t, c = probe.input_sources(l, j)
                on += [f"alter {t} dc={vdd}", f"alter {c} dc=0"]
                off += [f"alter {t} dc=0", f"alter {c} dc={vdd}"]
        cmds += on + ["op"] + off
    for l in range(1, len(probe.shapes) + 1):
        cmds += [f"alter vph_{l} dc={vdd}", f"alter vphb_{l} dc=0"]
    sweep = (f"dc vclamp {v_switch_guess - SWEEP_HALF:.6g} {v_switch_guess + SWEEP_HALF:.6g} {SWEEP_STEP:.6g}")
    step_dis, back_dis, step_sense = [], [], []
    for l, nb in enumerate(neurons, start=1):
        for i in range(len(nb.v_b_dis)):
            step_dis.append(f"alter vbdis_{l}_{i} dc={nb.v_b_dis[i] + DV_BIAS:.9g}")
            back_dis.append(f"alter vbdis_{l}_{i} dc={nb.v_b_dis[i]:.9g}")
            step_sense.append(f"alter vbsense_{l}_{i} dc={nb.v_b_sense[i] + DV_BIAS:.9g}")
    cmds += ["op", *step_dis, "op", *back_dis, sweep, *step_sense, sweep]
    vecs = [Current(probe.ammeter(l, i)) for l, (_, n) in enumerate(probe.shapes, start=1) for i in range(n)]
    vecs += [Voltage(probe.sense_node(l, i)) for l, (_, n) in enumerate(probe.shapes, start=1) for i in range(n)]
    return SimJob(probe.text, tuple(cmds), tuple(vecs), label)


def read_probe(probe: ProbeNetlist, plots: list, v_switch_guess: float) -> Readings:
    """The readings of a probe_job's plots (in its command order)."""
    max_in = max(n_in for n_in, _ in probe.shapes)
    base, ons, dis, dis_step, sw, sw_step = plots[0], plots[1:1 + max_in], *plots[1 + max_in:]
    sweep = v_switch_guess - SWEEP_HALF + SWEEP_STEP * np.arange(len(next(iter(sw.values()))))
    out = Readings([], [], [], [], [])
    for l, (n_in, n_out) in enumerate(probe.shapes, start=1):
        amm = [probe.ammeter(l, i) for i in range(n_out)]
        i0 = np.array([base.current(a)[0] for a in amm])
        out.syn.append(np.stack([np.abs(np.array([ons[j].current(a)[0] for a in amm]) - i0) for j in range(n_in)],
                                axis=1))
        out.i_dis.append(np.abs(np.array([dis.current(a)[0] for a in amm]) - i0))
        out.i_dis_step.append(np.abs(np.array([dis_step.current(a)[0] for a in amm]) - i0))
        out.v_switch.append(np.array([_crossing(sweep, sw.voltage(probe.sense_node(l, i)), probe.vdd / 2)
                                      for i in range(n_out)]))
        out.v_switch_step.append(np.array([_crossing(sweep, sw_step.voltage(probe.sense_node(l, i)), probe.vdd / 2)
                                           for i in range(n_out)]))
    return out


def _crossing(x: np.ndarray, y: np.ndarray, level: float) -> float:
    """Where y (high below the switching point, low above) first falls through level, interpolated."""
    below = np.nonzero(y < level)[0]
    if below.size == 0 or below[0] == 0:
        raise ProgramError(f"no switching point within {x[0]:.3f}..{x[-1]:.3f} V: the sensing stage does not switch "
                           f"there (check the instance's neuron biases)")
    k = int(below[0])
    return float(x[k - 1] + (y[k - 1] - level) / (y[k - 1] - y[k]) * (x[k] - x[k - 1]))


def errors(r: Readings, ref: Readings, on: list[np.ndarray]) -> dict[str, float]:
    """Each quantity's worst error against the targets (relative for currents, V for the switching point) and the
    synapses' RMS relative error, over the programmed synapses and every neuron."""
    syn = np.concatenate([(_rel(a, b))[m] for a, b, m in zip(r.syn, ref.syn, on)])
    dis = np.concatenate([_rel(a, b) for a, b in zip(r.i_dis, ref.i_dis)])
    vsw = np.concatenate([a - b for a, b in zip(r.v_switch, ref.v_switch)])
    return {"synapse_worst_rel": float(np.max(np.abs(syn))) if syn.size else 0.0,
            "synapse_rms_rel": float(np.sqrt(np.mean(syn ** 2))) if syn.size else 0.0,
            "i_dis_worst_rel": float(np.max(np.abs(dis))), "i_dis_rms_rel": float(np.sqrt(np.mean(dis ** 2))),
            "v_switch_worst_mv": float(np.max(np.abs(vsw)) * 1e3),
            "v_switch_rms_mv": float(np.sqrt(np.mean(vsw ** 2)) * 1e3)}


def _rel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b - 1, zero where both are below ABS_CURRENT apart."""
    return np.where(np.abs(a - b) <= ABS_CURRENT, 0.0, a / np.maximum(b, 1e-30) - 1.0)


def within(e: dict[str, float]) -> bool:
    return (e["synapse_worst_rel"] <= TOLERANCE["current"] and e["i_dis_worst_rel"] <= TOLERANCE["current"]
            and e["v_switch_worst_mv"] <= TOLERANCE["v_switch"] * 1e3)


def step(p: Programmed, r: Readings, ref: Readings, on: list[np.ndarray], mapper: BiasMapper, vdd: float,
         prev: tuple[Programmed, Readings] | None = None) -> Programmed:
    """The biases for the next write: neuron biases Newton-stepped; synapse gates shifted along the nominal table
    the first time, then by the secant of the last two reads in log current (the instance's own sub-threshold slope,
    which the nominal table's misses by the slope mismatch)."""
    gates, neurons = [], []
    for k, ((vn, vp), nb, m, cur, tgt) in enumerate(zip(p.gates, p.neurons, on, r.syn, ref.syn)):
        l = k + 1
        safe_cur, safe_tgt = np.maximum(cur, 1e-30), np.maximum(tgt, 1e-30)
        n_on, p_on = m & (vn > 0), m & ~(vn > 0)
        v = np.where(n_on, vn, vp)
        dv = np.where(n_on, mapper.gate_for_current("n", safe_tgt) - mapper.gate_for_current("n", safe_cur),
                      mapper.gate_for_current("p", safe_tgt) - mapper.gate_for_current("p", safe_cur))
        if prev is not None:
            pv = np.where(n_on, prev[0].gates[k][0], prev[0].gates[k][1])
            with np.errstate(divide="ignore", invalid="ignore"):
                slope = (np.log(safe_cur) - np.log(np.maximum(prev[1].syn[k], 1e-30))) / (v - pv)
                secant = (np.log(safe_tgt) - np.log(safe_cur)) / slope
            usable = np.isfinite(secant) & (np.abs(v - pv) > 1e-6) & (np.sign(secant) == np.sign(dv))
            dv = np.where(usable, secant, dv)
        v_new = np.clip(v + np.clip(dv, -2 * MAX_STEP, 2 * MAX_STEP), 0.0, vdd)
        gates.append((np.where(n_on, v_new, vn), np.where(p_on, v_new, vp)))
        neurons.append(NeuronBiases(
            _newton(nb.v_b_dis, r.i_dis[k], r.i_dis_step[k], ref.i_dis[k], "discharge current", l, vdd),
            _newton(nb.v_b_sense, r.v_switch[k], r.v_switch_step[k], ref.v_switch[k], "switching point", l, vdd)))
    return Programmed(gates, neurons, p.reads, False)


def _newton(bias: np.ndarray, y: np.ndarray, y_step: np.ndarray, target: np.ndarray, what: str, l: int,
            vdd: float) -> np.ndarray:
    slope = (y_step - y) / DV_BIAS
    bad = ~np.isfinite(slope) | (np.abs(slope) < 1e-12 * np.maximum(np.abs(y), 1e-30) / DV_BIAS)
    if np.any(bad):
        i = int(np.nonzero(bad)[0][0])
        raise ProgramError(f"layer {l} neuron {i}: its {what} does not move with its bias; cannot trim it")
    return np.clip(bias + np.clip((target - y) / slope, -MAX_STEP, MAX_STEP), 0.0, vdd)


def carried(p: Programmed, gates_at: list[tuple[np.ndarray, np.ndarray]], neurons_at: list[NeuronBiases],
            gates_to: list[tuple[np.ndarray, np.ndarray]], neurons_to: list[NeuronBiases], vdd: float) -> Programmed:
    """An instance written where its nominal biases were (gates_at, neurons_at) and operated where they are
    (gates_to, neurons_to): each bias keeps the offset its write found on top of the bias there, as a trim DAC adds a
    fixed offset to a bias that tracks the condition. Synapses off where they were written stay off."""
    gates = []
    for (vn, vp), (an, ap), (tn, tp) in zip(p.gates, gates_at, gates_to):
        gates.append((np.clip(np.where(an > 0, tn + (vn - an), vn), 0.0, vdd),
                      np.clip(np.where(ap < vdd, tp + (vp - ap), vp), 0.0, vdd)))
    neurons = [NeuronBiases(np.clip(t.v_b_dis + (w.v_b_dis - a.v_b_dis), 0.0, vdd),
                            np.clip(t.v_b_sense + (w.v_b_sense - a.v_b_sense), 0.0, vdd))
               for w, a, t in zip(p.neurons, neurons_at, neurons_to)]
    return Programmed(gates, neurons, p.reads, p.converged)


def program_instances(gates: list[tuple[np.ndarray, np.ndarray]], cell: CellParams, design: CellDesign,
                      lib_nominal: str, lib_mismatch: str, temp: float, seeds: list[int], *, wire_cap: float = 0.0,
                      cache: ResultCache | None = None, workers: int | None = None, scheduler: str | None = None,
                      mem_limit_gb: float | None = None,
                      log: Callable[[str], None] = lambda m: None) -> dict[int, Programmed]:
    """Program the instances `seeds` of the network whose nominal gate biases are `gates` (mapped with `cell`) at
    `temp`: the targets are read from the nominal section `lib_nominal`, the instances from `lib_mismatch`. Every
    round's probes of all instances run as one batch on the pool (or Dask)."""
    neurons0 = nominal_neurons(design, gate_shapes(gates))
    on = [(vn > 0) | (vp < design.vdd) for vn, vp in gates]
    mapper = BiasMapper(cell)
    guess = cell.v_switch
    sim = dict(workers=workers, cache=cache, scheduler=scheduler, mem_limit_gb=mem_limit_gb, timeout=900.0)

    def run(items: list[tuple[str, Programmed, int | None]]) -> list[Readings]:
        probes = [probe_netlist(design, lib_mismatch if s is not None else lib_nominal, p.gates, p.neurons,
                                wire_cap=wire_cap, temp=temp, seed=s) for _, p, s in items]
        jobs = [probe_job(pr, p.neurons, guess, label) for pr, (label, p, _) in zip(probes, items)]
        results = run_jobs(jobs, label="SPICE write-and-verify", progress=False, **sim)
        failed = [r for r in results if not r.ok]
        if failed:
            raise failed[0].error
        return [read_probe(pr, r.plots, guess) for pr, r in zip(probes, results)]

    ref = run([("nominal", Programmed(gates, neurons0), None)])[0]
    guess = float(np.mean(np.concatenate(ref.v_switch)))
    state = {s: Programmed([(vn.copy(), vp.copy()) for vn, vp in gates], neurons0) for s in seeds}
    last: dict[int, tuple[Programmed, Readings]] = {}
    pending = list(seeds)
    for k in range(MAX_READS):
        readings = run([(f"seed {s} read {k + 1}", state[s], s) for s in pending])
        still = []
        for s, r in zip(pending, readings):
            e = errors(r, ref, on)
            state[s].reads.append(e)
            if within(e):
                state[s].converged = True
            elif k + 1 < MAX_READS:
                nxt = step(state[s], r, ref, on, mapper, design.vdd, last.get(s))
                last[s] = (state[s], r)
                state[s] = nxt
                still.append(s)
        log(f"write-and-verify read {k + 1}: {len(pending) - len(still)} of {len(pending)} instance(s) settled")
        pending = still
        if not pending:
            break
    return state
