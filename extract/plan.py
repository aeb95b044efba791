"""The simulations of one corner's characterisation, as typed job records (docs/extraction.md).

Each job loads the library once and runs its whole bias sweep with ``alterparam``; the records say what each job
measures, so extract/characterise.py reads their results without looking at labels.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass

import numpy as np

from imcpnn.cell import KICK_FAN_OUT
from imcpnn.extract.firing import EARLY_TARGETS, T_INJ, injection_currents
from imcpnn.extract.kicks import (DRIVER_ARRIVALS, HIGH_LEVEL, KickGates, driven_kick_network, fan_out_fits,
                                  kick_layer_biases, kick_parts)
from imcpnn.extract.postlayout import PostLayoutPlan
from imcpnn.netlists import (CellDesign, column_tb, discharger_tb, network_netlist, sensing_tb,
                             synapse_branch_tb)
from imcpnn.spice.analyses import Current, Dc, SetParam, Tran, Voltage, fmt
from imcpnn.spice.jobs import SimJob

#: fan-ins at which C_eff is measured (the design fan-in is added if missing)
FAN_INS = (0, 1, 2, 5, 10, 20)
#: large fan-ins at which C_eff is also measured, in the flat device form (the wrapper form needs gigabytes to
#: expand a thousand synapses; the two forms agree to 1e-6 in DC, docs/verification.md) and with the off synapses
#: bundled into one instance of multiplier n (netlists/testbenches.py ``column_lines``: the same circuit, and n
#: separate copies can stall ngspice's transient): they set the fan-in law's range (imcpnn/neuron.py) up to the
#: largest layer a network is expected to have
LARGE_FAN_INS = (64, 256, 1024)
#: a large column gets a proportionally larger injected current so that its membrane still swings ~0.35 V over the
#: accumulation (each synapse adds ~1/180 of the bare membrane's capacitance in the default design); the slope fit
#: only needs the membrane inside the window, and a small swing would let the off synapses' leak bias it
C_PER_SYNAPSE_REL = 1.0 / 180
#: the column transients' injected current (units of the condition's i_unit): the membrane falls ~0.57 v_th over the
#: injected 0.9 T, inside the window with room for the fit's margins (at tt, 27 C this is the 60.5 nA it has been)
COLUMN_CURRENT = 0.629
#: default design fan-in: the Iris network's inputs including the bias
DEFAULT_FAN_IN = 5
#: further fan-outs of the test spike line at which the neuron-fed kicks are measured (besides KICK_FAN_OUT): a
#: line's edge slows with its load, and the kicks and turn-on delays follow it (docs/verification.md). Fan-out 4
#: takes four small transients of four tests; fan-out 64 (``driven_kick_network`` builds it, flat) would cost ~4x
#: the fan-out-16 job and is not in the default plan
KICK_FAN_OUTS: tuple[int, ...] = (4,)
#: biases per branch for the I(V) curves, and the gate range (offsets from 0 for NMOS, from vdd for PMOS)
N_CURVES = 16
N_GATE = (0.35, 0.70)
P_GATE_FROM_VDD = (0.85, 0.45)          # vg_p from vdd-0.85 to vdd-0.45
#: dense gate sweep for the tables (step, V) and its range
TABLE_STEP = 0.005
N_TABLE = (0.25, 0.90)
P_TABLE_FROM_VDD = (1.60, 0.20)
#: membrane sweep for I(V) curves (step, V); the grid is aligned so that it contains V0
V_STEP = 0.05
V_LO = 0.30
#: discharger bias offsets around the design bias (V)
DIS_OFFSETS = (-0.05, -0.02, 0.0, 0.02, 0.05)

@dataclass(frozen=True)
class Stimuli:
    """What the plan's stimuli are scaled by, measured at the condition beforehand (extract/trim.py): the expected
    i_unit (A; C_m at the design fan-in times the expected v_th over T) and the kick layers' gate biases."""

    i_unit: float
    gates: KickGates
    #: per branch: how far (V) the I(V) curves' gate range moves from the design's (N_GATE, P_GATE_FROM_VDD), the
    #: shift of the gate for one unit against the nominal condition's (0 there)
    curve_shift: tuple[tuple[str, float], ...] = (("n", 0.0), ("p", 0.0))
    #: the neuron-driven kick layer's driver input arrivals (model units): earlier by as much as makes up the spike
    #: delay of the condition's firing law against the nominal condition's (extract/trim.py ``driver_arrivals``)
    arrivals: tuple[float, ...] = DRIVER_ARRIVALS

    @property
    def column_current(self) -> float:
        return float(f"{COLUMN_CURRENT * self.i_unit:.3g}")


@dataclass(frozen=True)
class Curves:
    """I(V) curves of one device in one job: a dc membrane sweep per bias (one plot each)."""

    biases: tuple[float, ...]
    sign: float                 # device current = sign * i(vmem)
    job: SimJob


@dataclass(frozen=True)
class Branch:
    """A synapse branch ("n" or "p"): its I(V) curves (two jobs) and the dense gate sweep at V0 (bias table)."""

    name: str
    sign: float
    curves: tuple[Curves, ...]
    table: SimJob


@dataclass(frozen=True)
class Column:
    """A column transient with ``n_in`` synapses (all off) and its injected current (A)."""

    n_in: int
    job: SimJob
    i_inj: float = 0.0


@dataclass(frozen=True)
class KickLayer:
    """The spike-line kick transient (extract/kicks.py): test neurons' membrane and spike nodes, the samples'
    accumulation windows; for the neuron-driven layer also the test line's driver and its firing windows."""

    tests: tuple[tuple[str, float], ...]
    mem: tuple[str, ...]
    spk: tuple[str, ...]
    windows: tuple[tuple[float, float], ...]
    job: SimJob
    driver: str | None = None
    driver_fire: tuple[tuple[float, float], ...] = ()
    fan_out: int = KICK_FAN_OUT


@dataclass(frozen=True)
class Plan:
    """The jobs of one corner and what each one measures."""

    branches: tuple[Branch, ...]
    dis: Curves
    sense: SimJob
    columns: tuple[Column, ...]
    fire: SimJob
    kicks: KickLayer
    kicks_neuron: KickLayer
    leak: Column
    netlists: dict[str, str]        # netlist name -> sha256 (provenance)
    i_inj: float
    t_inj: float
    fan_ins: tuple[int, ...]
    #: the neuron-fed kick transients at the other fan-outs (KICK_FAN_OUTS): (fan-out, its transients)
    kicks_fan_out: tuple[tuple[int, tuple[KickLayer, ...]], ...] = ()
    #: the stimulus-fed kicks with the membrane at a higher level (extract/kicks.py HIGH_LEVEL; None: not planned)
    kicks_high: KickLayer | None = None
    #: the early-spike transients (extract/firing.py ``early_spikes``; None: a plan without them)
    early: SimJob | None = None

    @property
    def jobs(self) -> list[SimJob]:
        out = [j for b in self.branches for j in (*(c.job for c in b.curves), b.table)]
        return out + [self.dis.job, self.sense, *(c.job for c in self.columns), self.fire, self.kicks.job,
                      self.kicks_neuron.job, self.leak.job,
                      *(k.job for _, parts in self.kicks_fan_out for k in parts),
                      *((self.early,) if self.early is not None else ()),
                      *((self.kicks_high.job,) if self.kicks_high is not None else ())]


def with_temperature(text: str, temp: float) -> str:
    """Set the simulation temperature: replace the testbench's ``.temp`` line (or add one after the .lib line)."""
    line = f".temp {fmt(temp)}"
    if re.search(r"(?im)^\.temp\b.*$", text):
        return re.sub(r"(?im)^\.temp\b.*$", line, text, count=1)
    lines = text.splitlines()
    k = next((j for j, s in enumerate(lines) if s.lower().startswith(".lib")), 0)
    lines.insert(k + 1, line)
    return "\n".join(lines) + "\n"


class JobSet:
    """Makes the jobs of one corner at one temperature and records their netlists' hashes."""

    def __init__(self, temp: float, post_layout: PostLayoutPlan | None = None):
        self.temp = temp
        self.post_layout = post_layout
        self.netlists: dict[str, str] = {}

    def __call__(self, label: str, name: str, text: str, commands, vectors) -> SimJob:
        if self.post_layout is not None:  # the extracted cells in place of the schematic ones (extract/postlayout.py)
            text = self.post_layout.netlist(text)
        text = with_temperature(text, self.temp)
        self.netlists[name] = hashlib.sha256(text.encode()).hexdigest()
        return SimJob(text, tuple(commands), tuple(vectors), label=label)


def vmem_sweep(v0: float) -> Dc:
    k = math.ceil((v0 - V_LO) / V_STEP - 1e-9)
    return Dc("vmem", v0 - k * V_STEP, v0 + 2 * V_STEP, V_STEP)


def _bias_sweeps(param: str, biases, sweep: Dc) -> list:
    return [c for b in biases for c in (SetParam(param, b), sweep)]


def _branch(design: CellDesign, lib_line: str, br: str, jobs: JobSet, shift: float = 0.0) -> Branch:
    vd = design.vdd
    tb = synapse_branch_tb(design, lib_line, br)
    lo, hi = N_GATE if br == "n" else (vd - P_GATE_FROM_VDD[0], vd - P_GATE_FROM_VDD[1])
    lo, hi = lo + shift, hi + shift
    vgs = [float(x) for x in np.round(np.linspace(lo, hi, N_CURVES), 6)]
    sweep = vmem_sweep(design.v0)
    curves = tuple(Curves(tuple(chunk), tb.sign, jobs(f"curves:{br}{part}", f"synapse_{br}", tb.text,
                                                      _bias_sweeps("vg", chunk, sweep), (sweep.scale, Current("vmem"))))
                   for part, chunk in enumerate((vgs[0::2], vgs[1::2])))
    return Branch(br, tb.sign, curves, table_job(design, lib_line, br, jobs))


def table_job(design: CellDesign, lib_line: str, br: str, jobs: JobSet) -> SimJob:
    """The dense gate sweep of a branch at V = V0 (its bias table; branch current = sign * i(vmem))."""
    vd = design.vdd
    tlo, thi = N_TABLE if br == "n" else (vd - P_TABLE_FROM_VDD[0], vd - P_TABLE_FROM_VDD[1])
    gate = Dc("vgn" if br == "n" else "vgp", tlo, thi, TABLE_STEP)
    return jobs(f"table:table_{br}", f"synapse_{br}", synapse_branch_tb(design, lib_line, br).text, [gate],
                (gate.scale, Current("vmem")))


def _discharger(design: CellDesign, lib_line: str, jobs: JobSet) -> Curves:
    tb = discharger_tb(design, lib_line)
    vbs = tuple(round(design.v_b_dis + o, 6) for o in DIS_OFFSETS)
    sweep = vmem_sweep(design.v0)
    return Curves(vbs, tb.sign, jobs("dis:discharger", "discharger", tb.text, _bias_sweeps("vb", vbs, sweep),
                                     (sweep.scale, Current("vmem"))))


def sense_job(design: CellDesign, lib_line: str, jobs: JobSet) -> SimJob:
    sweep = Dc("vmem", 0, design.v0, 0.002)
    return jobs("sense:sensing", "sensing", sensing_tb(design, lib_line).text, [sweep], (sweep.scale, Voltage("sense")))


def _kick_layers(design: CellDesign, lib_line: str, fan_in: int, gates: KickGates, arrivals: tuple[float, ...],
                 jobs: JobSet) -> tuple[KickLayer, KickLayer]:
    """One layer at the design fan-in with its test synapses switched off at the firing start, and the same behind a
    real driver layer (the kicks of neuron-driven synapses: layers after the first); extract/kicks.py."""
    return (stimulus_kicks(design, lib_line, fan_in, gates, jobs),
            _driven_kicks(design, lib_line, fan_in, gates, arrivals, KICK_FAN_OUT, jobs))


def stimulus_kicks(design: CellDesign, lib_line: str, fan_in: int, gates: KickGates, jobs: JobSet,
                   backgrounds: int = 1) -> KickLayer:
    """The stimulus-fed kick transient; ``backgrounds`` 2: the membrane at about twice the level (kicks_high)."""
    tests, vn, vp, x = kick_layer_biases(gates, design.vdd, fan_in, backgrounds)
    nb = network_netlist(design, lib_line, [(vn, vp)], x, title="spike-line kicks")
    mem, spk = tuple(nb.mem_nodes[0]), tuple(nb.spike_nodes[0])
    name = "kicks" if backgrounds == 1 else "kicks_high"
    return KickLayer(tuple(tests), mem, spk, tuple(nb.accum_window(0, s) for s in range(len(x))),
                     jobs(f"kicks:{name}", name, nb.text, [nb.tran], (Tran.scale, *mem, *spk)))


def _driven_kicks(design: CellDesign, lib_line: str, fan_in: int, gates: KickGates, arrivals: tuple[float, ...],
                  fan_out: int, jobs: JobSet, part: int = 0) -> KickLayer:
    """The neuron-fed kick transient with a test spike line of ``fan_out`` synapse gates (extract/kicks.py; below 16
    one of several ``part``s); above 16 in the flat device form (the wrapper form needs gigabytes)."""
    tests, biases, x, line = driven_kick_network(gates, design.vdd, fan_in, fan_out, part, arrivals)
    if fan_out > KICK_FAN_OUT:
        design = design.derive(device_form="flat")
    nb = network_netlist(design, lib_line, biases, x, title="neuron-driven spike-line kicks")
    mem, spk, driver = tuple(nb.mem_nodes[1]), tuple(nb.spike_nodes[1]), nb.spike_nodes[0][line]
    name = "kicks_neuron" if fan_out == KICK_FAN_OUT else f"kicks_neuron_fan_out_{fan_out}_{part}"
    job = jobs(f"{name}:{name}", name, nb.text, [nb.tran], (Tran.scale, driver, *mem, *spk))
    return KickLayer(tuple(tests), mem, spk, tuple(nb.accum_window(1, s) for s in range(len(x))), job, driver,
                     tuple(nb.fire_window(0, s) for s in range(len(x))), fan_out)


def c_eff_tran(design: CellDesign) -> tuple[float, Tran]:
    """The column transients' injection start (s after the accumulation start) and analysis (to 2 T)."""
    T = design.t_circ
    return 0.1 * T, Tran(T / 200, 2 * T, 0.0, T / 40)


def firing_job(design: CellDesign, lib_line: str, fan_in: int, i_unit: float, jobs: JobSet) -> SimJob:
    """The firing transients: known charges, then the full firing phase (extract/firing.py); the trim stage runs
    it first for the driver's arrivals (extract/trim.py ``driver_arrivals``), the plan then finds it cached."""
    tb = column_tb(design, lib_line, fan_in, i_inj=0.0, t_inj=T_INJ * design.t_circ)
    sweeps = _bias_sweeps("iinj", injection_currents(i_unit), tb.analysis)
    return jobs("fire:firing", f"column_{fan_in}_firing", tb.text, sweeps, (Tran.scale, Voltage("mem"), Voltage("spk")))


def early_job(design: CellDesign, lib_line: str, fan_in: int, i_unit: float, jobs: JobSet) -> SimJob:
    """The early-spike transients: charges that leave the membrane at or past the threshold (EARLY_TARGETS), then
    the firing phase; the firing transients' testbench, other currents."""
    tb = column_tb(design, lib_line, fan_in, i_inj=0.0, t_inj=T_INJ * design.t_circ)
    sweeps = _bias_sweeps("iinj", injection_currents(i_unit, EARLY_TARGETS), tb.analysis)
    return jobs("fire:early", f"column_{fan_in}_early", tb.text, sweeps, (Tran.scale, Voltage("mem"), Voltage("spk")))


def column_job(design: CellDesign, lib_line: str, n: int, i_inj: float, jobs: JobSet) -> Column:
    """The C_eff transient at fan-in n; a large fan-in in the flat device form, bundled, with a current for the
    same swing."""
    t_inj, tran = c_eff_tran(design)
    large = n in LARGE_FAN_INS
    if large:
        design = design.derive(device_form="flat")
        i_inj = float(f"{i_inj * (1 + n * C_PER_SYNAPSE_REL):.3g}")
    tb = column_tb(design, lib_line, n, i_inj=i_inj, t_inj=t_inj, bundled=large)
    return Column(n, jobs(f"column:column{n}", f"column_{n}", tb.text, [tran], (Tran.scale, Voltage("mem"))), i_inj)


def plan(design: CellDesign, lib_line: str, points: Stimuli, temp: float = 27.0,
         fan_in: int = DEFAULT_FAN_IN, post_layout: PostLayoutPlan | None = None) -> Plan:
    """The jobs of one condition; ``points`` scale its stimuli (measured there beforehand, extract/trim.py);
    ``post_layout``: the extracted cells in place of the schematic ones (extract/postlayout.py)."""
    jobs = JobSet(temp, post_layout)
    fan_ins = tuple(sorted(set(FAN_INS) | {fan_in}))
    shift = dict(points.curve_shift)
    branches = tuple(_branch(design, lib_line, br, jobs, shift[br]) for br in ("n", "p"))
    dis = _discharger(design, lib_line, jobs)
    sense = sense_job(design, lib_line, jobs)
    # column transients: a known current from t_inj after the accumulation start to its end; stop at 2T
    T = design.t_circ
    i_inj = points.column_current
    t_inj, tran = c_eff_tran(design)
    fan_ins = tuple(sorted(set(fan_ins) | set(LARGE_FAN_INS)))
    columns = tuple(column_job(design, lib_line, n, i_inj, jobs) for n in fan_ins)
    fire = firing_job(design, lib_line, fan_in, points.i_unit, jobs)
    kicks, kicks_neuron = _kick_layers(design, lib_line, fan_in, points.gates, points.arrivals, jobs)
    tb = column_tb(design, lib_line, fan_in, i_inj=0.0, t_inj=t_inj)
    leak = Column(fan_in, jobs(f"leak:leak{fan_in}", f"column_{fan_in}_leak", tb.text, [tran],
                               (Tran.scale, Voltage("mem"))))
    by_fan_out = tuple((f, tuple(_driven_kicks(design, lib_line, fan_in, points.gates, points.arrivals, f, jobs, k)
                                 for k in range(kick_parts(f))))
                       for f in KICK_FAN_OUTS if fan_out_fits(fan_in, f))
    return Plan(branches, dis, sense, columns, fire, kicks, kicks_neuron, leak, jobs.netlists, i_inj, t_inj, fan_ins,
                by_fan_out, early=early_job(design, lib_line, fan_in, points.i_unit, jobs),
                kicks_high=stimulus_kicks(design, lib_line, fan_in, points.gates, jobs, HIGH_LEVEL)
                if fan_in > HIGH_LEVEL else None)
