"""The per-condition trim solver and the test points derived from a condition's measurements (no simulation)."""

import numpy as np
import pytest

from imcpnn.extract.fit import ExtractionError
from imcpnn.extract.kicks import (BACKGROUND_WEIGHT, DRIVER_ARRIVALS, GATE_STEP, N_TEST_WEIGHTS, P_TEST_WEIGHTS, KickGates,
                                  driven_kick_network, kick_layer_biases)
from imcpnn.extract.plan import COLUMN_CURRENT
from imcpnn.extract.trim import (FiringDelay, Measured, condition_points, firing_delay, gate_for, solve_trim,
                                 targets)
from imcpnn.netlists import default_design
from imcpnn.spice.session import Plot

VB = np.arange(0.30, 1.10001, 1e-3)
VG = np.arange(0.25, 0.90001, 5e-3)
VGP = np.arange(0.85, 1.60001, 5e-3)


def _measured(v_switch=0.45, c_m=110e-15, dis_at=0.55, n_at=0.55, p_at=1.07):
    """A condition whose discharger carries 100 nA at ``dis_at`` and whose branches give 100 nA at ``n_at`` /
    ``p_at`` (exponential in the gate, 40 mV per e-fold)."""
    tables = {"n": (VG, 100e-9 * np.exp((VG - n_at) / 0.04)),
              "p": (VGP, 100e-9 * np.exp((p_at - VGP) / 0.04))}
    return Measured(v_switch, c_m, (VB, 100e-9 * np.exp((VB - dis_at) / 0.04)), tables)


def _sense(vbs_at: float) -> Plot:
    """v(sense) over the sensing bias at the target V_switch: high below ``vbs_at``, low above."""
    vbs = np.arange(0.40, 1.75001, 1e-3)
    return Plot("dc", {"v-sweep": vbs, "v(sense)": 0.9 - 0.9 * np.tanh((vbs - vbs_at) / 0.02)})


def test_trim_solves_both_biases():
    d = default_design()
    m = _measured(v_switch=0.47, c_m=110e-15, dis_at=0.61)
    i_unit = 110e-15 * (d.v0 - 0.4443) / d.t_circ
    t = solve_trim(d, m, _sense(1.2345), 0.4443, 1.08, "ss/-40 C")
    assert t.v_b_sense == pytest.approx(1.2345, abs=2e-4)
    # the discharger's current at the trimmed bias is alpha i_unit (exponential: 0.04 V per e-fold)
    assert 100e-9 * np.exp((t.v_b_dis - 0.61) / 0.04) == pytest.approx(1.08 * i_unit, rel=5e-3)
    assert (t.design_v_b_dis, t.design_v_b_sense) == (d.v_b_dis, d.v_b_sense)
    trimmed = t.apply(d)
    assert (trimmed.v_b_dis, trimmed.v_b_sense) == (t.v_b_dis, t.v_b_sense) and trimmed.c_m == d.c_m
    assert round(t.v_b_dis / 1e-4) * 1e-4 == pytest.approx(t.v_b_dis, abs=1e-9)


def test_trim_out_of_reach_is_a_clear_error():
    d = default_design()
    with pytest.raises(ExtractionError, match="discharger.*outside its sweep"):
        solve_trim(d, _measured(dis_at=2.5), _sense(1.2), 0.4443, 1.08, "ss/-40 C")
    flat = Plot("dc", {"v-sweep": np.linspace(0.4, 1.75, 50), "v(sense)": np.full(50, 1.8)})
    with pytest.raises(ExtractionError, match="sensing stage"):
        solve_trim(d, _measured(), flat, 0.4443, 1.08, "ff/85 C")


def test_targets_are_what_the_design_biases_give_at_nominal():
    d = default_design()
    m = _measured(v_switch=0.4443, c_m=112.4e-15, dis_at=d.v_b_dis)
    v_switch, alpha = targets(d, m)
    assert v_switch == 0.4443
    assert alpha == pytest.approx(100e-9 / (112.4e-15 * (d.v0 - 0.4443) / d.t_circ), rel=1e-6)


def test_gate_for_inverts_the_sweep_both_branches():
    m = _measured(n_at=0.55, p_at=1.07)
    assert gate_for(m.tables["n"], 100e-9 * np.e) == pytest.approx(0.59, abs=1e-6)
    assert gate_for(m.tables["p"], 100e-9 * np.e) == pytest.approx(1.03, abs=1e-6)
    # beyond the sweep: its end (the test is tabulated at the weight that gate gives)
    assert gate_for(m.tables["n"], 1.0) == pytest.approx(VG[-1])


def test_test_points_follow_the_condition():
    """A condition with 60 mV stronger NMOS and 60 mV weaker PMOS gets its kick gates moved by as much; i_unit and
    the injected currents scale with its C_m and V_switch."""
    d = default_design()
    a = condition_points(d, _measured(), 0.45, _measured())
    b = condition_points(d, _measured(c_m=2 * 110e-15, n_at=0.49, p_at=1.01), 0.45, _measured())
    assert a.i_unit == pytest.approx(110e-15 * (d.v0 - 0.45) / d.t_circ)
    assert b.i_unit == pytest.approx(2 * a.i_unit)
    assert a.column_current == pytest.approx(COLUMN_CURRENT * a.i_unit, rel=1e-3)
    # twice the unit current is 0.04 ln 2 more gate; rounded to GATE_STEP
    shift = -0.06 + 0.04 * np.log(2)
    for ga, gb in zip(a.gates.n + (a.gates.background,), b.gates.n + (b.gates.background,)):
        assert gb - ga == pytest.approx(shift, abs=GATE_STEP)
    for ga, gb in zip(a.gates.p, b.gates.p):
        assert gb - ga == pytest.approx(-0.06 - 0.04 * np.log(2), abs=GATE_STEP)
    # the I(V) curves follow the gate for one unit; none at the nominal condition itself
    assert dict(a.curve_shift) == {"n": 0.0, "p": 0.0}
    assert dict(b.curve_shift)["n"] == pytest.approx(shift, abs=GATE_STEP)
    assert dict(b.curve_shift)["p"] == pytest.approx(-0.06 - 0.04 * np.log(2), abs=GATE_STEP)
    assert len(a.gates.n) == len(N_TEST_WEIGHTS) and len(a.gates.p) == len(P_TEST_WEIGHTS)
    assert all(round(g / GATE_STEP) * GATE_STEP == pytest.approx(g, abs=1e-9) for g in a.gates.n + a.gates.p)


def test_kick_layers_use_the_condition_gates():
    d = default_design()
    gates = KickGates((0.4, 0.5), (1.3, 1.2), 0.52)
    tests, vn, vp, _ = kick_layer_biases(gates, d.vdd, 5)
    assert tests == [("n", 0.4), ("n", 0.5), ("p", 1.3), ("p", 1.2)]
    assert list(vn[:, 1]) == [0.52] * 4 and vn[0, 0] == 0.4 and vp[2, 0] == 1.3
    _, biases, _, _ = driven_kick_network(KickGates.for_weights(
        lambda br, w: gate_for(_measured().tables[br], w * 1e-7)), d.vdd, 5)
    background = gate_for(_measured().tables["n"], BACKGROUND_WEIGHT * 1e-7)
    assert biases[0][0][0, 0] == biases[0][0][1, 1] == pytest.approx(background, abs=GATE_STEP)


#: firing transients as measured at tt, 27 C and ss, -40 C (v at the end of accumulation, spike time; model units)
TT_FIRED = [(-0.002, None), (0.128, 0.898), (0.325, 0.709), (0.522, 0.515), (0.719, 0.314), (0.918, 0.106),
            (1.117, 0.008), (1.992, 0.004)]
SS_FIRED = [(-0.002, None), (0.129, None), (0.326, None), (0.523, 0.808), (0.72, 0.603), (0.919, 0.391),
            (1.119, 0.302), (1.968, 0.202)]


def test_firing_delay_moves_the_drivers():
    # the nominal condition keeps the constants exactly (its kick transients stay cache hits)
    same = firing_delay(TT_FIRED, TT_FIRED)
    assert same.delay == 0.0 and same.arrivals() == DRIVER_ARRIVALS
    assert same.driver_weight() == same.driven_weight() == BACKGROUND_WEIGHT
    late = firing_delay(SS_FIRED, TT_FIRED)
    assert late.delay == pytest.approx(0.289, abs=3e-3) and late.per_v == pytest.approx(1.0, abs=0.01)
    # 0.289 T / (0.66 units x ~1.0 T per unit) = 0.44 earlier: the driver is 0.29 units lower and fires as at tt;
    # the background driver (input at 0) gets 0.29 units more
    assert late.arrivals() == tuple(round(a - 0.44, 6) for a in DRIVER_ARRIVALS)
    assert late.driver_weight() == pytest.approx(0.95)
    # the kick layer's own background (on from the background spike at ~0.37 T) makes up 0.29 units: 0.46 more
    assert late.t_background == pytest.approx(0.374, abs=2e-3) and late.driven_weight() == pytest.approx(1.12)
    faster = firing_delay([(v, None if t is None else t - 0.05) for v, t in TT_FIRED], TT_FIRED)
    assert faster.arrivals() == DRIVER_ARRIVALS and faster.driver_weight() == BACKGROUND_WEIGHT
    with pytest.raises(ExtractionError, match="ramp-fired"):
        firing_delay([(v, t if v > 1 else None) for v, t in SS_FIRED], TT_FIRED)
    with pytest.raises(ExtractionError, match="no input arrival"):
        firing_delay([(v, None if t is None else t + 0.6) for v, t in TT_FIRED], TT_FIRED).arrivals()
    gates = KickGates((0.4,) * 8, (1.3,) * 8, 0.52, 0.6, 0.7)
    _, biases, x, _ = driven_kick_network(gates, default_design().vdd, 5, arrivals=late.arrivals())
    assert list(x[:-1, 0]) == [0.49, 0.44, 0.38] and x[-1, 0] == 1.0
    assert biases[0][0][0, 0] == 0.52 and biases[0][0][1, 1] == 0.6 and set(biases[1][0][:, 1]) == {0.7}


def test_condition_points_carry_the_delay():
    d = default_design()
    base = condition_points(d, _measured(), 0.45, _measured())
    assert base.arrivals == DRIVER_ARRIVALS
    assert base.gates.background_driver == base.gates.background_driven == base.gates.background
    late = condition_points(d, _measured(), 0.45, _measured(), FiringDelay(0.289, 1.0))
    assert late.arrivals == tuple(round(a - 0.44, 6) for a in DRIVER_ARRIVALS)
    assert late.gates.background_driver > late.gates.background
    assert late.gates.background_driver == pytest.approx(
        gate_for(_measured().tables["n"], 0.95 * late.i_unit), abs=GATE_STEP)
