"""The per-condition trim of the cell's biases and the test points of the extraction (docs/extraction.md "Trim").

The design's bias voltages (v_b_dis, v_b_sense) are set at its nominal condition (tt, 27 C). At another corner or
temperature the same voltages give another V_switch and another discharger current: the window the model is
normalised to moves, and the firing ramp with it (at ff, 27 C the discharger alone fires an idle neuron within the
phase). A chip would be trimmed after fabrication; the extraction does the same per condition. A cheap DC stage at
the condition solves for the biases that restore what the design's biases give at the nominal condition:

* v_b_sense holds **V_switch**: it sets v_th = V0 - V_switch, the unit every potential is measured in, and with it
  i_unit = C_m v_th / T (so a weight is the same current at every condition). Holding the stage's bias current
  instead would let V_switch follow the threshold voltages (about 0.35 to 0.52 V over the corners).
* v_b_dis holds **alpha_dis_dc = i_dis(V0) / i_unit**: the discharger's ramp in model units, so an idle neuron still
  reaches V_switch just after the phase ends and the firing law keeps its shape.
* A **floor on the sensing stage's drive** (``DRIVE_FLOOR`` of the design's at the nominal condition): where the bias
  that holds V_switch leaves the stage's bias PMOS barely on (slow PMOS and cold: 2 % of the nominal drive at ss and
  fs, -40 C, t_min 0.2 T, every spike 0.3 T late), v_b_sense gives the floor instead and V_switch is what the stage
  has there; v_th, i_unit and the v_b_dis trim follow, and the condition's cell carries its own units. Elsewhere the
  floor does not bind and the trim is the V_switch-holding one, job for job.

The trim needs no reference circuit of its own (a bias generator would have to be designed and characterised over
the same conditions first). The same stage measures, at the condition, what the extraction's stimuli are scaled by
(``Stimuli``): C_m at the design fan-in, V_switch, and the dense gate sweeps whose inverses give the kick tests'
gate biases for fixed weights.

A second stage runs the plan's own firing transients with the trimmed biases (the plan then finds them cached): where
the condition's law fires later than the nominal one (a slower comparator), the neuron-driven kick layer's driver
could fire after its phase, so its input arrivals move earlier by as much as makes up that delay (``FiringDelay``;
none at the nominal condition).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imcpnn.extract.fit import ExtractionError, column_capacitance, crossing, monotone_table
from imcpnn.extract.firing import ramp_fired
from imcpnn.extract.kicks import BACKGROUND_WEIGHT, DRIVER_ARRIVALS, GATE_STEP, KickGates
from imcpnn.extract.plan import Column, JobSet, Stimuli, c_eff_tran, column_job, sense_job, table_job
from imcpnn.extract.postlayout import PostLayoutPlan
from imcpnn.netlists import CellDesign, discharger_tb, sense_drive_tb, sensing_tb
from imcpnn.spice.analyses import Current, Dc, SetParam, Voltage
from imcpnn.spice.jobs import SimJob
from imcpnn.spice.session import Plot

#: the condition the design's biases are set at: the trim restores what they give there
NOMINAL = ("tt", 27.0)
#: bias sweeps of the trim (start, stop, step; V): the discharger's gate, the sensing stage's bias PMOS gate
DIS_SWEEP = (0.30, 1.10, 1e-3)
SENSE_SWEEP = (0.40, 1.75, 1e-3)
#: trimmed biases are rounded to this step (V), like the design's own
BIAS_STEP = 1e-4
#: the driver's arrivals move in steps of this (model units), so the nominal condition's stay exactly as they are
ARRIVAL_STEP = 0.01
#: the floor on the sensing stage's drive (``drive_job``) as a fraction of the design's at the nominal condition: an
#: overdriven comparator's latency goes as 1/drive (t_min x drive within a factor 2.3 over the 15 conditions), so the
#: floor keeps the stage at least about half as fast as at the nominal condition. Holding V_switch gives 0.82..8 of
#: it where the stage is not starved and 0.02..0.25 where it is (ss and fs at -40 and 27 C, tt at -40 C): the floor
#: binds only there.
DRIVE_FLOOR = 0.5
#: a condition's firing point pairs with the nominal law within this much (model units) of the nominal points
V_PAIR = 0.02


@dataclass(frozen=True)
class Probe:
    """The DC stage's jobs at one condition (extract/trim.py); the sense and table jobs are the plan's own."""

    sense: SimJob
    dis: SimJob
    column: Column
    tables: dict[str, tuple[SimJob, float]]  # branch -> (dense gate sweep, sign of i(vmem))

    @property
    def jobs(self) -> list[SimJob]:
        return [self.sense, self.dis, self.column.job, *(j for j, _ in self.tables.values())]


@dataclass(frozen=True)
class Measured:
    """What the DC stage measured at one condition with the design's biases."""

    v_switch: float
    c_m: float
    dis: tuple[np.ndarray, np.ndarray]                  # discharger gate (V) -> current at V0 (A)
    tables: dict[str, tuple[np.ndarray, np.ndarray]]    # branch -> (gate, current at V0)


@dataclass(frozen=True)
class Trim:
    """The trimmed biases of one condition and what they hold (targets from the nominal condition)."""

    v_switch: float          # target V_switch (V)
    alpha_dis: float         # target i_dis / i_unit
    v_b_dis: float
    v_b_sense: float
    design_v_b_dis: float
    design_v_b_sense: float
    late: "FiringDelay | None" = None        # the firing law's delay against the nominal condition
    floor: "DriveFloor | None" = None         # where holding V_switch would starve the sensing stage

    def apply(self, design: CellDesign) -> CellDesign:
        return design.derive(v_b_dis=self.v_b_dis, v_b_sense=self.v_b_sense)

    def line(self) -> str:
        return (f"trim: v_b_dis {self.design_v_b_dis:.4f} -> {self.v_b_dis:.4f} V (alpha_dis_dc {self.alpha_dis:.4f}),"
                f" v_b_sense {self.design_v_b_sense:.4f} -> {self.v_b_sense:.4f} V (V_switch {self.v_switch:.4f} V)"
                + ("" if self.floor is None else f" {self.floor.line()}")
                + ("" if self.late is None else
                   f"; spikes {self.late.delay:+.3f} T against the nominal condition: driver arrivals "
                   f"{', '.join(f'{a:g}' for a in self.late.arrivals())}, background {self.late.driver_weight():g} "
                   f"(driver) and {self.late.driven_weight():g} units (kick layer)"))


def probe(design: CellDesign, lib_line: str, temp: float, fan_in: int,
          post_layout: PostLayoutPlan | None = None) -> Probe:
    """The DC stage at one condition: V_switch, the discharger's current at V0 over its gate, C_m at the design
    fan-in (a known current from the MIM's nominal 2 fF/um^2 plus half again for the rest: ~0.5 V of swing) and the
    dense gate sweeps; ``post_layout``: of the extracted cells (extract/postlayout.py)."""
    jobs = JobSet(temp, post_layout)
    tb = discharger_tb(design, lib_line)
    sweep = Dc("vb", *DIS_SWEEP)
    dis = jobs("trim:discharger", "trim_discharger", tb.text, [sweep], (sweep.scale, Current("vmem")))
    c_est = 2.0e-15 * design.mim_area_um2 * 1.5
    i_inj = float(f"{0.35 * c_est / (0.85 * design.t_circ):.3g}")
    tables = {br: (table_job(design, lib_line, br, jobs), -1.0 if br == "n" else 1.0) for br in ("n", "p")}
    return Probe(sense_job(design, lib_line, jobs), dis, column_job(design, lib_line, fan_in, i_inj, jobs), tables)


def sense_trim_job(design: CellDesign, lib_line: str, temp: float, v_switch: float,
                   post_layout: PostLayoutPlan | None = None) -> SimJob:
    """v(sense) over the sensing bias with the membrane held at the target V_switch."""
    sweep = Dc("vbs", *SENSE_SWEEP)
    return JobSet(temp, post_layout)("trim:sensing", "trim_sensing", sensing_tb(design, lib_line).text,
                       [SetParam("vmem", v_switch), sweep], (sweep.scale, Voltage("sense")))


def measure_probe(design: CellDesign, p: Probe, plots: dict[SimJob, list[Plot]]) -> Measured:
    v_switch = switch_point(design, plots[p.sense][0])
    pl = plots[p.column.job][0]
    c_m = column_capacitance(pl.time, pl.voltage("mem"), p.column.i_inj, design.t_circ, c_eff_tran(design)[0],
                             (v_switch, design.v0), f"trim column transient N_in={p.column.n_in}")
    pl = plots[p.dis][0]
    tables = {br: (plots[j][0].sweep, sign * plots[j][0].current("vmem")) for br, (j, sign) in p.tables.items()}
    return Measured(v_switch, c_m, (pl.sweep, -pl.current("vmem")), tables)


def i_unit_of(design: CellDesign, m: Measured, v_switch: float) -> float:
    return m.c_m * (design.v0 - v_switch) / design.t_circ


def log_current_at(x: np.ndarray, i: np.ndarray, at: float) -> float:
    """A current between sweep points (interpolated in log I)."""
    return float(np.exp(np.interp(at, x, np.log(np.clip(i, 1e-18, None)))))


def targets(design: CellDesign, nominal: Measured) -> tuple[float, float]:
    """(V_switch, alpha_dis_dc) the design's biases give at the nominal condition."""
    i_dis = log_current_at(*nominal.dis, design.v_b_dis)
    return nominal.v_switch, i_dis / i_unit_of(design, nominal, nominal.v_switch)


def _rounded(v: float) -> float:
    return round(round(v / BIAS_STEP) * BIAS_STEP, 6)


def solve_trim(design: CellDesign, m: Measured, sense_plot: Plot, v_switch: float, alpha_dis: float,
               where: str) -> Trim:
    """The biases at one condition: v_b_sense where v(sense) at the target V_switch crosses vdd/2 (above it the
    bias PMOS passes less and V_switch falls), v_b_dis where the discharger carries alpha_dis i_unit at V0."""
    vbs = crossing(sense_plot.sweep, sense_plot.voltage("sense"), design.vdd / 2,
                   f"trim at {where}: the sensing stage at V_switch {v_switch:.4f} V over its bias")
    return Trim(v_switch, alpha_dis, dis_bias(design, m, v_switch, alpha_dis, where), _rounded(vbs),
                design.v_b_dis, design.v_b_sense)


def dis_bias(design: CellDesign, m: Measured, v_switch: float, alpha_dis: float, where: str) -> float:
    """v_b_dis where the discharger carries alpha_dis i_unit at V0, i_unit that of a cell switching at v_switch."""
    i_dis = alpha_dis * i_unit_of(design, m, v_switch)
    vb, i = m.dis
    if not i.min() < i_dis < i.max():
        raise ExtractionError(f"trim at {where}: the discharger's {i_dis * 1e9:.1f} nA lies outside its sweep "
                              f"({i.min() * 1e9:.3g} to {i.max() * 1e9:.3g} nA over {DIS_SWEEP[0]}..{DIS_SWEEP[1]} V)")
    return _rounded(crossing(vb, np.log(np.clip(i, 1e-18, None)), float(np.log(i_dis)), f"trim at {where}: discharger"))


def switch_point(design: CellDesign, sense_plot: Plot) -> float:
    """V_switch from the sensing stage's transfer (``sense_job``): where v(sense) crosses vdd/2."""
    return crossing(sense_plot.sweep, sense_plot.voltage("sense"), design.vdd / 2, "sensing stage output v(sense)")


def drive_job(design: CellDesign, lib_line: str, temp: float, post_layout: PostLayoutPlan | None = None) -> SimJob:
    """The sensing stage's drive over its bias: the current an overdriven input pushes into the set NAND's input
    at vdd/2 (``sense_drive_tb``)."""
    sweep = Dc("vbs", *SENSE_SWEEP)
    return JobSet(temp, post_layout)("trim:drive", "trim_drive", sense_drive_tb(design, lib_line).text, [sweep],
                                     (sweep.scale, Current("vout")))


@dataclass(frozen=True)
class DriveFloor:
    """The sensing stage's drive where holding V_switch would starve it: the bias that gives the floor instead,
    and the V_switch the cell then has (its v_th and i_unit follow; v_b_dis holds alpha_dis_dc against them)."""

    held_v_b_sense: float    # what holding V_switch would have needed (V)
    held_v_switch: float     # the V_switch it would have held (V)
    held_drive: float        # its drive, a fraction of the nominal condition's
    drive: float             # the floor's bias's drive, the same fraction (DRIVE_FLOOR up to the bias step)

    def what(self) -> str:
        return (f"holding V_switch {self.held_v_switch:.4f} V at v_b_sense {self.held_v_b_sense:.4f} V gives "
                f"{self.held_drive:.3f} of the nominal drive, floored to {self.drive:.3f}")

    def line(self) -> str:
        return f"[drive floor: {self.what()}]"


def drive_at(plot: Plot, vbs: float) -> float:
    """The drive (A) at one sensing bias, interpolated in log I."""
    return log_current_at(plot.sweep, plot.current("vout"), vbs)


def floor_bias(plot: Plot, floor: float, where: str) -> float:
    """The sensing bias whose drive is ``floor`` (A): the drive falls as the bias rises (the PMOS turns off)."""
    vbs, i = plot.sweep, plot.current("vout")
    if not i.min() < floor < i.max():
        raise ExtractionError(f"trim at {where}: the sensing stage's drive floor {floor * 1e9:.1f} nA lies outside "
                              f"its sweep ({i.min() * 1e9:.3g} to {i.max() * 1e9:.3g} nA)")
    return _rounded(crossing(vbs, np.log(np.clip(i, 1e-18, None)), float(np.log(floor)),
                             f"trim at {where}: sensing stage drive"))


def floored(design: CellDesign, m: Measured, held: Trim, vbs: float, v_switch: float, drives: tuple[Plot, float],
            where: str) -> Trim:
    """The trim of a condition whose sensing stage the held V_switch would starve: v_b_sense ``vbs`` (the floor's,
    ``floor_bias``), the ``v_switch`` the stage has there, and v_b_dis holding alpha_dis_dc in its units;
    ``drives``: the condition's drive sweep and the nominal drive (A)."""
    plot, nominal = drives
    floor = DriveFloor(held.v_b_sense, held.v_switch, drive_at(plot, held.v_b_sense) / nominal,
                       drive_at(plot, vbs) / nominal)
    return Trim(v_switch, held.alpha_dis, dis_bias(design, m, v_switch, held.alpha_dis, where), vbs,
                design.v_b_dis, design.v_b_sense, floor=floor)


def gate_for(table: tuple[np.ndarray, np.ndarray], current: float) -> float:
    """The gate bias that gives ``current`` (A) at V0: the inverse of the dense sweep's monotone part (linear in
    log I), clamped to its ends (a test then sits at the weight its gate gives, which is what is tabulated)."""
    vg, i = monotone_table(*table, 1e-15, np.inf)
    if len(vg) < 2:
        raise ExtractionError("dense gate sweep has no monotone part to invert")
    order = np.argsort(i)
    return float(np.interp(np.log(current), np.log(i[order]), vg[order]))


def condition_points(design: CellDesign, m: Measured, v_switch: float, nominal: Measured,
                     late: FiringDelay | None = None) -> Stimuli:
    """The plan's stimuli at one condition, for a cell whose V_switch will be ``v_switch``: the I(V) curves' gates
    move by as much as the gate for one unit moved from the nominal condition (rounded to 1 mV, so none there)."""
    i_unit = i_unit_of(design, m, v_switch)
    i_nom = i_unit_of(design, nominal, nominal.v_switch)
    shift = tuple((br, round(round((gate_for(m.tables[br], i_unit) - gate_for(nominal.tables[br], i_nom)) / GATE_STEP)
                             * GATE_STEP, 6)) for br in ("n", "p"))
    late = late or FiringDelay()
    gates = KickGates.for_weights(lambda br, w: gate_for(m.tables[br], w * i_unit), late.driver_weight(),
                                  late.driven_weight())
    return Stimuli(i_unit, gates, shift, late.arrivals())


@dataclass(frozen=True)
class FiringDelay:
    """How much later the condition's firing law fires than the nominal condition's at the same potentials (T), and
    the nominal law's |dt/dv| (T per unit): the neuron-driven kick layer's drivers make it up (none at the nominal
    condition, where the delay is exactly 0)."""

    delay: float = 0.0
    per_v: float = 1.0
    t_background: float = 0.37   # when the nominal law fires BACKGROUND_WEIGHT (the background driver's spike)

    def arrivals(self) -> tuple[float, ...]:
        """The test-line driver's input (BACKGROUND_WEIGHT units) brings it weight (1 - arrival) below V0: earlier by
        delay / (weight |dt/dv|), in ARRIVAL_STEP steps (a faster law keeps them: later arrivals would leave the
        driver no room before its phase ends)."""
        shift = max(0, round(self.delay / (BACKGROUND_WEIGHT * self.per_v) / ARRIVAL_STEP)) * ARRIVAL_STEP
        if shift >= min(DRIVER_ARRIVALS):
            raise ExtractionError(f"driver arrivals: the firing law's {self.delay:.3f} T delay leaves the driver no "
                                  "input arrival within its accumulation")
        return tuple(round(a - shift, 6) for a in DRIVER_ARRIVALS)

    def driver_weight(self) -> float:
        """The background line's driver (input at 0, it cannot arrive earlier) gets delay / |dt/dv| more weight, so
        the background spike reaches the kick layer as early as at the nominal condition."""
        return self._more(self.delay / self.per_v)

    def driven_weight(self) -> float:
        """The kick layer behind the drivers fires late itself: its background synapse (on from t_background) gets
        delay / (|dt/dv| (1 - t_background)) more weight, so its neurons fire as at the nominal condition."""
        return self._more(self.delay / (self.per_v * (1.0 - self.t_background)))

    def _more(self, extra: float) -> float:
        return round(BACKGROUND_WEIGHT + max(0, round(extra / ARRIVAL_STEP)) * ARRIVAL_STEP, 6)


def firing_delay(points: list[tuple[float, float | None]], nominal: list[tuple[float, float | None]]) -> FiringDelay:
    """The delay from the firing transients at the condition and at the nominal condition ((v, spike time or None)
    each, ``firing_points``): the mean of the condition's ramp-fired spike times less the nominal law's at the same
    potentials (interpolated), and the nominal points' linear |dt/dv|."""
    ramp, ref = ramp_fired(points), sorted(ramp_fired(nominal))
    # the injections aim at the same potentials everywhere: a point a little outside the nominal ones still pairs
    common = [(v, ts) for v, ts in ramp if ref[0][0] - V_PAIR <= v <= ref[-1][0] + V_PAIR] if len(ref) >= 2 else []
    if len(common) < 2:
        raise ExtractionError(f"driver arrivals: {len(common)} ramp-fired firing points within the nominal "
                              f"condition's (need 2): the comparator fires too late to place the driver's input")
    rv, rt = np.array(ref).T
    delay = float(np.mean([ts - np.interp(v, rv, rt) for v, ts in common]))
    return FiringDelay(delay, -float(np.polyfit(rv, rt, 1)[0]), float(np.interp(BACKGROUND_WEIGHT, rv, rt)))
