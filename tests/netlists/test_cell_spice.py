"""The cell in ngspice (tt, 27 C): characterisation testbenches, unit currents, firing time, reset, no-input silence,
and a synapse in a column against its own testbench."""

import numpy as np
import pytest

from imcpnn.netlists import column_tb, discharger_tb, network_netlist, sensing_tb, synapse_branch_tb

from netlists_helpers import crossings, run_ngspice

pytestmark = pytest.mark.spice


def measure_c_eff(design, lib_line, n_in, i_test=100e-9):
    """Effective membrane capacitance from the slope of V under a known ideal current over the accumulation phase."""
    T = design.t_circ
    tb = column_tb(design, lib_line, n_in, i_inj=i_test, t_inj=0.0)
    a, _ = run_ngspice(tb.text, [tb.analysis.command()], ["v(mem)"])
    t, v = a[:, 0], a[:, 1]
    t1, t2 = T + 0.05 * T, 2 * T - 0.02 * T
    return i_test * (t2 - t1) / (np.interp(t1, t, v) - np.interp(t2, t, v))


@pytest.fixture(scope="module")
def cell(design, lib_line):
    """Measured C_m (5 synapses attached), V_switch (DC, sense = vdd/2) and the linear fit of I_dis(V)."""
    c_m = measure_c_eff(design, lib_line, 5)
    tb = sensing_tb(design, lib_line)
    a, _ = run_ngspice(tb.text, [tb.analysis.command()], ["v(sense)"])
    v_sw = float(np.interp(design.vdd / 2, a[::-1, 1], a[::-1, 0]))
    tb = discharger_tb(design, lib_line)
    a, _ = run_ngspice(tb.text, [tb.analysis.command()], ["i(vmem)"])
    vm, idis = a[:, 0], tb.sign * a[:, 1]
    sel = (vm >= v_sw) & (vm <= design.v0)
    k, i0 = np.polyfit(vm[sel] - design.v0, idis[sel], 1)
    # the membrane at the start of accumulation: V0 plus the reset switch's charge injection
    tb = column_tb(design, lib_line, 5)
    a, _ = run_ngspice(tb.text, [tb.analysis.command()], ["v(mem)"])
    T = design.t_circ
    v_start = float(np.interp(2 * T - 5 * design.t_edge, a[:, 0], a[:, 1]))
    # effective capacitance in the firing configuration (sensing stage enabled): the discharger ramp of the same run,
    # C = integral(I_dis(V) dt) / dV between 0.2 T and 0.8 T of the firing phase
    lam = k / i0
    tt = np.linspace(2.2 * T, 2.8 * T, 601)
    vv = np.interp(tt, a[:, 0], a[:, 1])
    q = np.trapezoid(i0 * (1 + lam * (vv - design.v0)), tt)
    c_fire = q / (vv[0] - vv[-1])
    return {"c_m": c_m, "c_fire": c_fire, "v_sw": v_sw, "i_dis0": i0, "lam_dis": lam, "v_start": v_start}


def test_design_targets(design, cell):
    v_th = design.v0 - cell["v_sw"]
    i_unit = cell["c_m"] * v_th / design.t_circ
    assert 0.40 <= cell["v_sw"] <= 0.46
    assert 90e-9 <= i_unit <= 120e-9
    assert 95e-15 <= cell["c_m"] <= 140e-15
    # a membrane at V0 reaches V_switch at the end of the firing phase within 5 %
    lam, i0 = cell["lam_dis"], cell["i_dis0"]
    t_cross = cell["c_fire"] / (i0 * lam) * np.log(1.0 / (1.0 + lam * (cell["v_sw"] - design.v0)))
    assert abs(t_cross / design.t_circ - 1.0) < 0.05


@pytest.mark.parametrize("branch", ["n", "p"])
def test_unit_currents_reachable(design, lib_line, cell, branch):
    """0.05, 1 and 3 unit currents at V = V0 within the 0..vdd gate range, monotonic in the gate bias."""
    i_unit = cell["c_m"] * (design.v0 - cell["v_sw"]) / design.t_circ
    tb = synapse_branch_tb(design, lib_line, branch)
    src = "vgn" if branch == "n" else "vgp"
    a, _ = run_ngspice(tb.text, [f"dc {src} 0 {design.vdd} 2m"], ["i(vmem)"])
    vg, i = a[:, 0], tb.sign * a[:, 1]
    i_on = i if branch == "n" else i[::-1]
    assert np.all(np.diff(i_on) >= -1e-12)
    for units in (0.05, 1.0, 3.0):
        assert i.min() < units * i_unit < i.max(), units


def test_constant_current_firing_time(design, lib_line, cell):
    """Known ideal current from t_inj to the end of accumulation: spike time vs the closed form (linear-CLM
    discharger from the measured I_dis(V0) and lambda_dis, measured C_m, V_switch and post-reset V0), within 2 % T."""
    T, v0 = design.t_circ, design.v0
    c, v_sw, i0, lam = cell["c_m"], cell["v_sw"], cell["i_dis0"], cell["lam_dis"]
    for i_inj, t_inj in ((60e-9, 0.2), (110e-9, 0.5), (150e-9, 0.1)):
        tb = column_tb(design, lib_line, 5, i_inj=i_inj, t_inj=t_inj * T)
        a, _ = run_ngspice(tb.text, [tb.analysis.command()], ["v(spk)"])
        ts = crossings(a[:, 0], a[:, 1], design.vdd / 2)
        v_end = cell["v_start"] - i_inj * (1 - t_inj) * T / c
        if v_end <= v_sw:
            t_pred = 0.0
        else:
            t_pred = cell["c_fire"] / (i0 * lam) * np.log((1 + lam * (v_end - v0)) / (1 + lam * (v_sw - v0))) / T
        assert len(ts) == 1, ts
        t_meas = (ts[0] - 2 * T) / T
        print(f"i_inj={i_inj:.3g} t_inj={t_inj} t_meas={t_meas:.4f} t_pred={t_pred:.4f} cell={cell}")
        assert abs(t_meas - t_pred) < 0.02, (i_inj, t_inj, t_meas, t_pred)


def test_no_input_no_spike_and_reset(design, lib_line):
    T = design.t_circ
    tb = column_tb(design, lib_line, 5, n_cycles=3)
    a, log = run_ngspice(tb.text, [tb.analysis.command()], ["v(mem)", "v(spk)", "v(spkb)"])
    t, mem, spk, spkb = a.T
    assert spk.max() < 0.1 * design.vdd and spkb.min() > 0.9 * design.vdd
    for c in range(3):
        v_reset = np.interp((3 * c + 1) * T - 5 * design.t_edge, t, mem)
        assert abs(v_reset - design.v0) < 5e-3
        # before the firing phase the membrane still sits near V0 (charge injection of the reset switch only)
        assert abs(np.interp((3 * c + 2) * T - 5 * design.t_edge, t, mem) - design.v0) < 10e-3
    # the discharger pulls the membrane down but it stays above V_switch at the end of each firing phase
    assert all(np.interp((3 * c + 3) * T - design.t_edge, t, mem) > 0.40 for c in range(3))


@pytest.mark.parametrize("branch,vg", [("n", 0.55), ("p", 1.10)])
def test_synapse_in_column_matches_testbench(design, lib_line, branch, vg):
    """One synapse driven by a spike at t = 0.2 in a 1x1 layer: the membrane slope times C (measured for one attached
    synapse) equals the testbench current at the same gate bias and membrane voltages (within 3 %)."""
    T = design.t_circ
    c1 = measure_c_eff(design, lib_line, 1)
    vn = np.array([[vg if branch == "n" else 0.0]])
    vp = np.array([[vg if branch == "p" else design.vdd]])
    nb = network_netlist(design, lib_line, [(vn, vp)], np.array([[0.2]]))
    a, _ = run_ngspice(nb.text, ["run"], [nb.mem_nodes[0][0]])
    t, v = a[:, 0], a[:, 1]
    t0, _ = nb.accum_window(0, 0)
    t1, t2 = t0 + 0.3 * T, t0 + 0.9 * T
    v1, v2 = np.interp(t1, t, v), np.interp(t2, t, v)
    i_circ = abs(v2 - v1) * c1 / (t2 - t1)
    tb = synapse_branch_tb(design, lib_line, branch, vg=vg)
    lo, hi = sorted((v1, v2))
    b, _ = run_ngspice(tb.text, [f"dc vmem {lo:.4f} {hi:.4f} 1m"], ["i(vmem)"])
    i_tb = float(np.mean(tb.sign * b[:, 1]))
    assert abs(i_circ / i_tb - 1) < 0.03, (i_circ, i_tb)
