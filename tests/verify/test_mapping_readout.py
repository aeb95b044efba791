"""Weight -> bias mapping, spike read-out and post-layout substitution (pure Python), plus the SPICE round trip."""

from __future__ import annotations

import numpy as np
import pytest

from imcpnn.errors import ConfigError
from imcpnn.verify.mapping import BiasMapper, Scales
from imcpnn.laws import rising_crossing
from imcpnn.verify.readout import layer_spike_times


def test_crossing_interpolates_and_handles_edges():
    t = np.linspace(0, 10e-6, 10001)
    v = np.where(t > 3.2e-6, 1.8, 0.0)
    v = np.interp(t, [0, 3.2e-6, 3.201e-6, 10e-6], [0, 0, 1.8, 1.8])
    tc = rising_crossing(t, v, 0.9, 3e-6, 4e-6)
    assert tc == pytest.approx(3.2005e-6, abs=1e-12)
    assert rising_crossing(t, v, 0.9, 4e-6, 5e-6) == pytest.approx(4e-6)  # already high: fired at the start
    assert rising_crossing(t, v, 0.9, 1e-6, 2e-6) is None
    out = layer_spike_times(t, {"a": v, "b": np.zeros_like(t)}, ["a", "b"], [(3e-6, 4e-6)], 0.9, 1e-6)
    np.testing.assert_allclose(out, [[0.2005, 1.0]], atol=1e-9)


def test_mapping_errors_and_clipping(tt_cell_fixture_free):
    cell = tt_cell_fixture_free
    m = BiasMapper(cell)
    w = np.array([[0.5, -0.5], [cell.w_max_plus * 2, 0.0]])
    with pytest.raises(ConfigError, match="exceed the exportable current range"):
        m.biases(w)
    vn, vp, n = m.biases(w, clip=True)
    assert n == 1
    assert vn[1, 1] == 0.0 and vp[1, 1] == cell.vdd  # zero weight: both branches off
    assert vn[0, 1] == 0.0 and vp[0, 1] < cell.vdd  # negative: PMOS on, NMOS off
    assert vp[0, 0] == cell.vdd and vn[0, 0] > 0  # positive: NMOS on, PMOS off
    with pytest.raises(ConfigError, match="NaN"):
        m.biases(np.array([[np.nan]]))


def test_gate_for_current_inverts_the_table(tt_cell_fixture_free):
    cell = tt_cell_fixture_free
    m = BiasMapper(cell)
    for br in ("n", "p"):
        t = cell.bias_tables[br]
        v = m.gate_for_current(br, np.asarray(t.i_v0))
        np.testing.assert_allclose(v, t.v_gate, atol=1e-9)
        i = np.geomspace(min(t.i_v0), max(t.i_v0), 50)
        np.testing.assert_allclose(m.current_for_gate(br, m.gate_for_current(br, i)), i, rtol=1e-6)


@pytest.fixture
def tt_cell_fixture_free():
    """The paper fixture: a hand-written but valid cell.json (no simulation needed)."""
    from pathlib import Path

    from imcpnn.cell import load_cell

    return load_cell(Path(__file__).parents[1] / "fixtures" / "cell_paper.json")


@pytest.mark.spice
def test_round_trip_weight_bias_current_within_1_percent(tt_cell):
    """weight -> gate bias (inverted table) -> current measured in ngspice on the synapse testbench -> weight."""
    from imcpnn.netlists import default_design, synapse_branch_tb
    from imcpnn.pdk import lib_line
    from imcpnn.spice import Session

    cell, design = tt_cell, default_design()
    m = BiasMapper(cell)
    ws = np.array([0.05, 0.2, 0.7, 1.0, 2.5, 3.0])
    for branch, sign in (("n", 1.0), ("p", -1.0)):
        w = sign * ws[None, :]
        vn, vp, _ = m.biases(w, Scales())
        gates = vn[0] if branch == "n" else vp[0]
        tb = synapse_branch_tb(design, lib_line(), branch)
        measured = []
        with Session(tb.text) as s:
            for g in gates:
                s.alterparam(vg=float(g), vmem=cell.v0)
                measured.append(tb.sign * float(s.run("op").i("vmem")[0]))
        back = np.asarray(measured) / cell.i_unit
        np.testing.assert_allclose(back, ws, rtol=0.01, err_msg=f"branch {branch}")
