"""Spike-line kicks: what a synapse does to the firing time when its input spike is switched off (beyond the
paper's model, docs/paper.md).

In the pipelined network an input spike stays on until the firing phase of the layer it drives starts (the layer
before is reset then). The falling spike edge turns the selector off while the memory transistor is biased: charge
injection and a short tail of conduction move the membrane by a few 1e-3 of the threshold swing, in the branch's own
direction and growing with its bias (the measured tables are in cell.json; sizes in docs/verification.md). Every
synapse whose input arrived does it at once, so a neuron with several active inputs fires many ns away from where
its end-of-accumulation potential says. The DC characterisation cannot see this and the firing fit (an ideal current
source, no spike lines) excludes it on purpose.

Measured here in one transient of a real layer at the design fan-in: every neuron has one test synapse (a weight
from a fixed list, both branches; its gate bias from the condition's own bias sweep) and one background synapse that
brings the membrane into the ramp-fired range.
Sample A: the test input arrives late (small charge); sample B: it never arrives. The test synapse's kick is the
difference of the two effective potentials ``law^-1(t_spike) - v_end`` (the firing law fitted in
extract/firing.py), so the background's own kick and any offset of the law cancel. The kick is tabulated against
the weight (|current at V0| / i_unit) per branch; the model adds ``sum_j kick(w_ij)`` over the arrived inputs to the
end-of-accumulation potential before the firing law (verify/predict.py). v_end is read t_edge before the phase ends
(the edge itself moves the membrane), so the difference also holds the test synapse's current over that last t_edge;
the model integrates that current itself (accumulation runs to 1), so it is taken out of the kick.

A layer fed by neurons sees different edges: a neuron's latched output switches much faster than the stimulus
(whose edges last t_spike_edge) and is cleared by its layer's reset. Those kicks (larger) and turn-on delays are
measured the same way with a real driver layer in front of the kick layer (``driven_kick_network``); the model uses
them for every layer after the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from imcpnn.cell import KICK_FAN_OUT
from imcpnn.extract.fit import ExtractionError
from imcpnn.laws import FiringLaw, rising_crossing
from imcpnn.spice.session import Plot

#: test weights (units of i_unit): about 0.01 to 10 units per branch. Their gate biases come from the condition's own
#: dense bias sweeps (``KickGates``), so every corner and temperature tests the same weights; the values are what
#: the fixed gates used before gave at tt, 27 C (NMOS 0.38..0.66 V, PMOS vdd-0.48..vdd-0.85 V), so that tt keeps its
#: test points and cached transients
N_TEST_WEIGHTS = (0.0126, 0.0376, 0.110, 0.312, 0.841, 2.12, 4.97, 10.7)
P_TEST_WEIGHTS = (0.0137, 0.0308, 0.0644, 0.178, 0.462, 1.18, 2.96, 6.13)
#: background synapse (NMOS, it brings the membrane into the ramp-fired range) and its arrival, the test input's
#: arrival (model units)
BACKGROUND_WEIGHT = 0.66
T_BACKGROUND = 0.3
T_TEST = 0.97
#: gate biases are rounded to this step (V): the tests are tabulated at the weight their gate actually gives
GATE_STEP = 1e-3
#: neuron-driven measurement: the driver of the test line gets the background gate and arrivals that make it fire
#: late in its firing phase (= the kick layer's accumulation); the latest spike in DRIVEN_T_RANGE is used. These are
#: tt, 27 C's; where the firing law is slower the trim stage moves them (extract/trim.py ``FiringDelay``)
DRIVER_ARRIVALS = (0.93, 0.88, 0.82)
DRIVEN_T_RANGE = (0.85, 0.99)
#: background synapses of the second stimulus-fed kick layer: the membrane near 0.9 instead of 0.45 at the firing
#: start, where the kicks are smaller (the kick's dependence on the membrane level, docs/verification.md)
HIGH_LEVEL = 2
#: weights kept in the table (units of i_unit)
W_RANGE = (0.005, 12.0)


@dataclass
class KickFit:
    w: dict[str, list[float]]        # per branch: weight magnitudes (ascending)
    kick: dict[str, list[float]]     # per branch: effective kick (model units, signed: + for n, - for p)
    delay: dict[str, float]          # per branch: turn-on delay of the synapse current after its spike (model units)
    charge: dict[str, float]         # per branch: turn-on charge against the branch (model units; reported only)
    points: list[tuple[str, float, float, float]]  # (branch, w, kick, v_end) of every usable test


@dataclass(frozen=True)
class KickGates:
    """The kick layers' gate biases at one condition (V): NMOS and PMOS test gates, the background NMOS gate, and
    the neuron-driven network's background gates: its background driver's and its kick layer's (None: the
    background gate)."""

    n: tuple[float, ...]
    p: tuple[float, ...]
    background: float
    background_driver: float | None = None
    background_driven: float | None = None

    @classmethod
    def for_weights(cls, gate_of: Callable[[str, float], float], driver_weight: float = BACKGROUND_WEIGHT,
                    driven_weight: float = BACKGROUND_WEIGHT) -> "KickGates":
        """``gate_of(branch, w)``: the gate bias giving weight w on that branch at the condition; ``driver_weight``
        and ``driven_weight`` the neuron-driven network's background weights (its driver's, its kick layer's)."""
        def at(br: str, w: float) -> float:
            return round(round(gate_of(br, w) / GATE_STEP) * GATE_STEP, 6)
        return cls(tuple(at("n", w) for w in N_TEST_WEIGHTS), tuple(at("p", w) for w in P_TEST_WEIGHTS),
                   at("n", BACKGROUND_WEIGHT), at("n", driver_weight), at("n", driven_weight))


def kick_layer_biases(gates: KickGates, vdd: float, fan_in: int, backgrounds: int = 1) -> tuple[
        list[tuple[str, float]], np.ndarray, np.ndarray, np.ndarray]:
    """The test neurons ((branch, gate) each), their gate-bias matrices (vn, vp) and the two samples' inputs;
    ``backgrounds`` background synapses per neuron (2: the kicks at a membrane level twice as high, HIGH_LEVEL)."""
    tests = [("n", g) for g in gates.n] + [("p", g) for g in gates.p]
    n = len(tests)
    vn = np.zeros((n, fan_in))
    vp = np.full((n, fan_in), vdd)
    for i, (br, g) in enumerate(tests):
        (vn if br == "n" else vp)[i, 0] = g
        vn[i, 1:1 + backgrounds] = gates.background
    x = np.ones((2, fan_in))
    x[:, 1:1 + backgrounds] = T_BACKGROUND
    x[0, 0] = T_TEST
    return tests, vn, vp, x


def fan_out_fits(fan_in: int, fan_out: int) -> bool:
    """Whether ``driven_kick_network`` can build a test line of ``fan_out`` synapse gates: the 16 tests repeated on
    one line above 16, split into 16 / fan_out transients of fan_out tests below (never several test lines in one
    transient: the other lines' zero-weight synapses would kick the test neurons too)."""
    n_tests = len(N_TEST_WEIGHTS) + len(P_TEST_WEIGHTS)
    return fan_in >= 2 and (fan_out >= n_tests or n_tests % fan_out == 0)


def kick_parts(fan_out: int) -> int:
    """How many transients the tests take at this fan-out (one at 16 and above)."""
    return max(1, (len(N_TEST_WEIGHTS) + len(P_TEST_WEIGHTS)) // fan_out)


def driven_kick_network(gates: KickGates, vdd: float, fan_in: int, fan_out: int = KICK_FAN_OUT, part: int = 0,
                        arrivals: tuple[float, ...] = DRIVER_ARRIVALS) -> tuple[
        list[tuple[str, float]], list[tuple[np.ndarray, np.ndarray]], np.ndarray, int]:
    """The kick layer of ``kick_layer_biases`` behind a driver layer of fan_in neurons, the test spike line driving
    ``fan_out`` test synapses (its edge, and so the kicks, depend on that load): the 16 tests repeated above 16;
    below, transient ``part`` of ``kick_parts(fan_out)`` holds every kick_parts-th test from ``part`` (NMOS and
    PMOS alike). Driver 0 drives the test line (its input arrives at each of ``arrivals`` in samples 0.., never
    in the last sample), driver 1 the background line (input at 0: it fires early in every sample). Returns (tests,
    [(vn, vp) per layer], inputs, the test line's driver)."""
    base, vn2, vp2, _ = kick_layer_biases(gates, vdd, fan_in)
    if not fan_out_fits(fan_in, fan_out):
        raise ExtractionError(f"neuron-driven kicks: fan-out {fan_out} does not divide the {len(base)} tests")
    step = kick_parts(fan_out)
    rows = [i % len(base) for i in range(fan_out)] if step == 1 else list(range(part, len(base), step))
    vn1 = np.zeros((fan_in, fan_in))
    vp1 = np.full((fan_in, fan_in), vdd)
    vn1[0, 0] = gates.background
    vn1[1, 1] = gates.background if gates.background_driver is None else gates.background_driver
    if gates.background_driven is not None:
        vn2[:, 1] = gates.background_driven
    x = np.ones((len(arrivals) + 1, fan_in))
    x[:-1, 0] = arrivals
    x[:, 1] = 0.0
    return [base[i] for i in rows], [(vn1, vp1), (vn2[rows], vp2[rows])], x, 0


def fit_kicks(plot: Plot, tests: list[tuple[str, float]], mem_nodes: list[str],
              spike_nodes: list[str], accum_windows: list[tuple[float, float]], *, weight_of, beta_of, v_reset: float,
              v_th: float, vdd: float, t_circ: float, t_edge: float, law: FiringLaw, t_test: float = T_TEST) -> KickFit:
    """``weight_of(branch, gate)``: weight magnitude of a gate bias (bias table at V0 / i_unit); ``beta_of(branch,
    w)``: its CLM beta (model units); ``law``: the fitted firing law (end-of-accumulation potentials
    measured from v_reset); ``t_test``: the test input's arrival in sample A.

    The same transient gives what the arrival itself does: the test synapse's charge over [t_test, 1] is
    ``q (1 - t_test - delay) - c`` with ``q = w (1 - beta v_mean)``: the current starts ``delay`` after the spike's
    50 % point, and the selector's turn-on injects a charge ``c`` against the branch. The charge is the difference
    of the two samples' end potentials, v_mean comes from the waveform; (delay, c) per branch by least squares over
    the tests. The delay goes into the model; ``c`` (a few 1e-4) is reported but not used: adding it to the kicks
    made the Iris prediction worse (docs/verification.md), so it is not a transferable effect at this accuracy.
    """
    points, arrival = kick_points(plot, tests, mem_nodes, spike_nodes, accum_windows, weight_of=weight_of,
                                  beta_of=beta_of, v_reset=v_reset, v_th=v_th, vdd=vdd, t_circ=t_circ, t_edge=t_edge,
                                  law=law, t_test=t_test)
    return fit_points(points, arrival)


def fit_points(points: list[tuple[str, float, float, float]],
               arrival: dict[str, list[tuple[float, float]]]) -> KickFit:
    """The kick tables and turn-on delays of the tests of one or more transients (:func:`kick_points`)."""
    delay, charge = _turn_on(arrival)
    out_w, out_k = _tabulate(points)
    return KickFit(out_w, out_k, delay, charge, points)


def kick_points(plot: Plot, tests: list[tuple[str, float]], mem_nodes: list[str], spike_nodes: list[str],
                accum_windows: list[tuple[float, float]], *, weight_of, beta_of, v_reset: float, v_th: float,
                vdd: float, t_circ: float, t_edge: float, law: FiringLaw, t_test: float = T_TEST
                ) -> tuple[list[tuple[str, float, float, float]], dict[str, list[tuple[float, float]]]]:
    """Each usable test's (branch, w, kick, v_end) and each branch's (q, residual charge) arrivals (fit_kicks)."""
    ramp = (max(0.0, law.t_min) + 0.02, 0.98)  # spike times (model units) that say which potential fired them
    if not ramp[0] < ramp[1]:
        raise ExtractionError("kick fit: the firing law has no ramp-fired range")
    t = plot.time
    points = []
    arrival: dict[str, list[tuple[float, float]]] = {"n": [], "p": []}  # (q, residual charge) per test
    for i, (br, g) in enumerate(tests):
        w = float(weight_of(br, g))
        mem = plot.voltage(mem_nodes[i])
        (start_a, end_a), (_, end_b) = accum_windows
        dv = (float(np.interp(end_b - t_edge, t, mem)) - float(np.interp(end_a - t_edge, t, mem))) / v_th  # A - B
        tt = np.linspace(start_a + t_test * t_circ, end_a, 50)
        v_mean = float(np.mean((v_reset - np.interp(tt, t, mem)) / v_th))
        sign = 1.0 if br == "n" else -1.0
        q = w * (1.0 - beta_of(br, w) * sign * v_mean)
        if 0.03 <= w <= W_RANGE[1]:
            window = (1.0 - t_test) - t_edge / t_circ  # v_end is read t_edge before the accumulation ends
            arrival[br].append((q, sign * dv - q * window))
        eff = []
        for _, end in accum_windows:
            v_end = (v_reset - float(np.interp(end - t_edge, t, mem))) / v_th
            tc = rising_crossing(t, plot.voltage(spike_nodes[i]), vdd / 2, end, end + t_circ)
            ts = None if tc is None else (tc - end) / t_circ
            if ts is None or not (ramp[0] < ts < ramp[1]):
                eff = None
                break
            eff.append((float(law.fire_potential(ts)) - v_end, v_end))
        if eff is None or not (W_RANGE[0] <= w <= W_RANGE[1]):
            continue  # not ramp-fired in one of the samples, or outside the table: no information
        # the test current over the last t_edge is in the difference; the model's accumulation has it already
        points.append((br, w, eff[0][0] - eff[1][0] - sign * q * t_edge / t_circ, eff[0][1]))
    return points, arrival


def _turn_on(arrival: dict[str, list[tuple[float, float]]]) -> tuple[dict[str, float], dict[str, float]]:
    """(delay, charge) per branch: the line ``residual charge = -delay * q - c`` through the tests' arrivals."""
    delay, charge = {}, {}
    for br, pts in arrival.items():
        if len(pts) < 3:
            raise ExtractionError(f"kick fit: {len(pts)} {br.upper()}-branch tests of >= 0.03 units for the turn-on "
                                  "delay (need >= 3)")
        q, r = np.array(pts).T
        slope, icpt = np.polyfit(q, r, 1)
        delay[br], charge[br] = float(-slope), float(-icpt)
    return delay, charge


def _tabulate(points: list[tuple[str, float, float, float]]) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per branch: the usable tests' weights (ascending) and kicks (the mean of a weight's repeats), checked for
    number and sign."""
    out_w: dict[str, list[float]] = {}
    out_k: dict[str, list[float]] = {}
    for br in ("n", "p"):
        by_w: dict[float, list[float]] = {}
        for b, w, k, _ in points:
            if b == br:
                by_w.setdefault(w, []).append(k)
        pts = sorted((w, float(np.mean(ks))) for w, ks in by_w.items())
        if len(pts) < 4:
            raise ExtractionError(f"kick fit: only {len(pts)} usable {br.upper()}-branch tests (need >= 4); "
                                  "check the test gate biases against the bias table")
        sign = 1.0 if br == "n" else -1.0
        # the kick grows with the bias in the branch's direction; with a large memory transistor the smallest
        # weights' kicks change sign (docs/extraction.md, "A matched design"), the strongest one may not
        if sign * pts[-1][1] <= 0:
            raise ExtractionError(f"kick fit: the {br.upper()}-branch kick at the largest weight has the wrong sign: "
                                  f"{pts}")
        out_w[br] = [float(w) for w, _ in pts]
        out_k[br] = [float(k) for _, k in pts]
    return out_w, out_k


def kick_level_law(low: KickFit, high: KickFit) -> dict[str, list[float]] | None:
    """Per branch and test weight measured in both transients: the relative change of the kick per v_th of membrane
    level, (k_high / k_low - 1) / (v_high - v_low), and the level of the low one (the kick tables' own). None where
    fewer than two tests of a branch fired on the ramp at both levels: the kicks stay independent of v."""
    out: dict[str, list[float]] = {}
    for br in ("n", "p"):
        lo = {w: (k, v) for b, w, k, v in low.points if b == br}
        rows = sorted((w, (k / lo[w][0] - 1.0) / (v - lo[w][1]), lo[w][1]) for b, w, k, v in high.points
                      if b == br and w in lo and abs(v - lo[w][1]) > 0.1)
        if len(rows) < 2:
            return None
        out[f"{br}_w"], out[f"{br}_slope"], out[f"{br}_v"] = (list(map(float, c)) for c in zip(*rows))
    return out


def driven_test_sample(plot: Plot, driver_spk: str, fire_windows: list[tuple[float, float]],
                       vdd: float, t_circ: float) -> tuple[int, float]:
    """(sample, arrival) of the neuron-driven measurement: the sample whose test-line driver fired latest within
    DRIVEN_T_RANGE (arrival in model units of the kick layer's accumulation); the last sample must have none."""
    t = plot.time
    spikes = [rising_crossing(t, plot.voltage(driver_spk), vdd / 2, a, b) for a, b in fire_windows]
    if spikes[-1] is not None:
        raise ExtractionError("neuron-driven kicks: the test-line driver fired without its input")
    ok = [(float((x - a) / t_circ), k) for k, (x, (a, _)) in enumerate(zip(spikes[:-1], fire_windows))
          if x is not None and DRIVEN_T_RANGE[0] <= (x - a) / t_circ <= DRIVEN_T_RANGE[1]]
    if not ok:
        got = [None if x is None else round(float((x - a) / t_circ), 4) for x, (a, _) in zip(spikes, fire_windows)]
        raise ExtractionError(f"neuron-driven kicks: no test-line spike within {DRIVEN_T_RANGE} (got {got}); adjust "
                              "extract.kicks.DRIVER_ARRIVALS for this design")
    t_test, k = max(ok)
    return k, t_test

