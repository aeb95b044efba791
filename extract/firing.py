"""The firing phase as the circuit does it, measured in transients (bottom-up, beyond the paper's model,
docs/paper.md).

The DC picture (discharger current, V_switch of the sensing stage) misses two dynamic effects that shift every spike
by nanoseconds: the comparator flips only once the ramp has overdriven it by some millivolts (a slow input makes a
slow inverter), and an already-overdriven comparator still needs a few ns (sense stage, NAND latch, buffers). So we
inject known charges into a neuron with the design fan-in, read the membrane at the end of accumulation and the
latched spike time, and fit the model's firing law ``t = [ln(1 - b v) - ln(1 - b theta)] / (a b)`` (b from the DC
discharger fit) for the ramp rate ``a`` and the effective threshold ``theta``; ``t_min`` is the latency of an
overdriven comparator (membrane far below V_switch when the phase starts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from imcpnn.extract.fit import ExtractionError
from imcpnn.laws import FiringLaw, rising_crossing
from imcpnn.spice.session import Plot

#: target end-of-accumulation potentials (model units): ramp-fired ones across the phase, and overdriven ones. The
#: injected currents are these over the condition's measured i_unit (extract/trim.py). Until the trim step the
#: currents came from a fixed estimate of i_unit that was 1.3142 times the one measured at tt, 27 C; the factor keeps
#: the potentials (and the cached transient) that tt has always been fitted on
V_TARGETS = tuple(v * 1.3142 for v in (0.0, 0.1, 0.25, 0.4, 0.55, 0.7, 0.85, 0.95, 1.6, 2.0))
T_INJ = 0.1  # injection starts 0.1 T after the accumulation start
#: potentials of the early-spike transients: at and past the threshold when the firing phase starts, where the
#: comparator has little overdrive and is slow; dense near 1, where its latency changes fastest (docs/verification.md)
EARLY_TARGETS = (0.98, 1.0, 1.01, 1.02, 1.04, 1.07, 1.1, 1.15, 1.22, 1.3, 1.45, 1.7, 2.1)


@dataclass
class FiringFit:
    alpha: float
    threshold: float
    t_min: float
    rmse: float  # model units, ramp-fired points
    points: list[tuple[float, float]]  # (v at end of accumulation, spike time), model units


def injection_currents(i_unit: float, targets: tuple[float, ...] = V_TARGETS) -> list[float]:
    """The injected currents (A) that bring the membrane to ``targets`` at the end of accumulation."""
    return [float(f"{v / (1 - T_INJ) * i_unit:.4g}") for v in targets]


def firing_points(plots: list[Plot], *, v0: float, v_th: float, vdd: float, t_circ: float,
                  t_edge: float) -> list[tuple[float, float | None]]:
    """(potential at the end of accumulation, spike time in the firing phase or None) per firing transient, model
    units."""
    T = t_circ
    pts: list[tuple[float, float | None]] = []
    for pl in plots:
        t, mem, spk = pl.time, pl.voltage("mem"), pl.voltage("spk")
        v_end = float(np.interp(2 * T - t_edge, t, mem))  # just before the firing phase starts
        tc = rising_crossing(t, spk, vdd / 2, 2 * T, 3 * T)
        pts.append(((v0 - v_end) / v_th, None if tc is None else (tc - 2 * T) / T))
    return pts


def ramp_fired(points: list[tuple[float, float | None]]) -> list[tuple[float, float]]:
    """The points the discharger's ramp fired (below threshold at the phase start, not at once)."""
    return [(v, ts) for v, ts in points if ts is not None and v < 1.0 and ts > 0.02]


def fit_firing(plots: list[Plot], *, v0: float, v_th: float, beta_dis: float, vdd: float, t_circ: float,
               t_edge: float) -> FiringFit:
    """plots: one per injected current, each with the membrane 'mem' and the spike 'spk' over reset, accumulation
    and firing."""
    pts = [(v, ts) for v, ts in firing_points(plots, v0=v0, v_th=v_th, vdd=vdd, t_circ=t_circ, t_edge=t_edge)
           if ts is not None]
    ramp = ramp_fired(pts)
    over = [ts for v, ts in pts if v > 1.4]
    # three points for two parameters: at ss and fs, -40 C the trimmed sensing stage (its bias PMOS barely on) adds
    # ~0.2 T of latency and only the three largest ramp-fired charges fire within the phase
    if len(ramp) < 3 or not over:
        raise ExtractionError(f"firing transient: only {len(ramp)} ramp-fired and {len(over)} overdriven spikes "
                              "measured (need >= 3 and >= 1): check the discharger and sensing stage")
    v = np.array([p[0] for p in ramp])
    ts = np.array([p[1] for p in ramp])
    b = beta_dis
    a0 = -math.log1p(-b) / b if b else 1.0
    res = least_squares(lambda x: FiringLaw(x[0], b, x[1]).ramp_time(v) - ts, x0=[a0, 1.0],
                        bounds=([0.2, 0.5], [5.0, 1.0 / b - 1e-6 if b else 3]))
    a, th = (float(x) for x in res.x)
    rmse = float(np.sqrt(np.mean(res.fun ** 2)))
    return FiringFit(a, th, float(np.mean(over)), rmse, pts)


def early_spikes(plots: list[Plot], *, v0: float, v_th: float, vdd: float, t_circ: float,
                 t_edge: float) -> tuple[list[float], list[float]] | None:
    """(potentials, spike times) of the early-spike transients (EARLY_TARGETS), model units, ascending in v: the
    spike time of a membrane at or past the threshold when the firing phase starts. None where a charge did not fire
    in the phase (a condition whose comparator is slower than the phase): the model keeps t_min there."""
    pts = sorted(firing_points(plots, v0=v0, v_th=v_th, vdd=vdd, t_circ=t_circ, t_edge=t_edge),
                 key=lambda p: p[0])
    fired = [(v, t) for v, t in pts if t is not None]
    v = [p[0] for p in fired]
    if len(fired) < len(pts) or any(b <= a for a, b in zip(v, v[1:])):
        return None
    return v, [p[1] for p in fired]
