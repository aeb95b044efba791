"""Energy per inference (verify/energy.py): splitting the supplies leaves the circuit as it was, the split adds up to
the single supply, and the reset rail's charge is the membrane capacitor's C x dV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imcpnn.cell import load_cell
from imcpnn.errors import ConfigError
from imcpnn.netlists import load_design
from imcpnn.pdk import lib_line
from imcpnn.spice.analyses import Current
from imcpnn.spice.jobs import SimJob
from imcpnn.spice.pool import run_jobs
from imcpnn.verify.energy import buffer_current, energy_summary, window_charges
from imcpnn.verify.mapping import Scales
from imcpnn.verify.simulate import simulate

CELL = Path(__file__).resolve().parents[1] / "fixtures" / "cell_paper.json"
RNG = np.random.default_rng(5)
WEIGHTS = [RNG.uniform(-0.6, 1.4, (2, 2)), RNG.uniform(-0.6, 1.4, (1, 2))]
INPUTS = np.array([[0.1, 0.3], [0.5, 1.0]])


def test_window_charges_of_a_known_current():
    # i = 2 mA for t in [0, 1 us), then a ramp 2 -> 0 mA over 1 us: 2 nC, then 1 nC; split at 0.5 us: 1 nC each
    t = np.array([0.0, 1e-6, 2e-6])
    i = np.array([2e-3, 2e-3, 0.0])
    q = window_charges(t, i, np.array([0.0, 0.5e-6, 1e-6, 2e-6]))
    np.testing.assert_allclose(q, [1e-9, 1e-9, 1e-9], rtol=1e-12)


def test_a_buffer_pays_each_rising_edge_once():
    # a 10 fF line: rise 0 -> 1.8 V in 2 ns, high with ringing, fall, low with ringing; the pull-up delivers C x VDD
    # per rising edge (18 fC), whatever rings on the flat levels
    t = np.linspace(0.0, 100e-9, 10001)
    v = np.interp(t, [0, 10e-9, 12e-9, 50e-9, 52e-9, 100e-9], [0, 0, 1.8, 1.8, 0, 0])
    ring = 1e-6 * np.sin(2 * np.pi * t / 0.3e-9)
    i = 10e-15 * np.gradient(v, t) + ring
    q = window_charges(t, buffer_current(i, v, 1.8), np.array([0.0, 100e-9]))[0]
    assert q == pytest.approx(10e-15 * 1.8, rel=0.01)
    # rectified, the ringing alone would be counted as charge
    assert window_charges(t, np.maximum(i, 0.0), np.array([0.0, 100e-9]))[0] > 2 * q


def _run(energy: bool, tmp_cache):
    cell = load_cell(CELL)
    return simulate(WEIGHTS, INPUTS, cell, load_design(cell.design), lib_line("tt"), Scales(), clip=True, chunks=1,
                    workers=1, cache=tmp_cache, keep_waves=True, progress=False, energy=energy), cell


@pytest.mark.spice
def test_split_supplies_change_nothing_and_add_up(tmp_cache):
    whole, _ = _run(False, tmp_cache)
    split, cell = _run(True, tmp_cache)
    # the same circuit: spike times as without the split
    for a, b in zip(whole.times, split.times):
        np.testing.assert_allclose(a, b, atol=1e-4)
    assert (split.times[0] < 1).sum() >= 2  # some neurons fire, so the neuron supplies did work
    wb, sb = whole.bundles[0], split.bundles[0]
    assert "vdds_1" in sb.text and "vdds_1" not in wb.text
    # the one Vdd of the plain netlist delivers what the per-layer synapse and neuron supplies deliver together
    w = run_jobs([SimJob(wb.text, (wb.tran,), ("time", "vdd#branch"), "plain")], workers=1, cache=tmp_cache,
                 progress=False)[0].unwrap()[0]
    s = split.waves[0]
    full = np.array([0.0, wb.t_stop])
    q_whole = window_charges(w["time"], -w["vdd#branch"], full)[0]
    q_split = sum(window_charges(s["time"], -s[Current(src).vector], full)[0]
                  for l in (1, 2) for src in (f"vdd_{l}", f"vdds_{l}"))
    assert q_whole > 0
    assert abs(q_split - q_whole) < 0.01 * q_whole


def _mim_capacitance(design) -> float:
    """The membrane MIM alone, charged by a known 1 uA for 100 ns from 0 V: C = I t / V (its PDK model)."""
    text = "\n".join(["* membrane MIM alone", lib_line("tt"), design.c_m.instance("CM", "top", "0"),
                      "Iq 0 top DC 1e-6", ".tran 1n 100n uic", ".end"]) + "\n"
    plot = run_jobs([SimJob(text, ("tran 1n 100n uic",), ("time", "top"), "mim")], workers=1,
                    cache=None, progress=False)[0].unwrap()[0]
    return 1e-6 * 100e-9 / float(np.interp(100e-9, plot["time"], plot["top"]))


@pytest.mark.spice
def test_reset_charge_is_the_membrane_cv(tmp_cache):
    split, cell = _run(True, tmp_cache)
    c_mim = _mim_capacitance(load_design(cell.design))
    b, w = split.bundles[0], split.waves[0]
    t = w["time"]
    e = energy_summary(split, INPUTS)
    checked = 0
    for l in (1, 2):
        for s in range(b.n_samples):
            # the reset that follows sample s (phase 3s+l+2) refills what the sample drew from each membrane
            t_reset = (3 * s + l + 2) * b.t_circ
            dv = sum(cell.v0 - np.interp(t_reset - 0.02 * b.t_circ, t, w[n]) for n in b.mem_nodes[l - 1])
            q = window_charges(t, -w[f"vv0_{l}#branch"], np.array([t_reset - 0.01 * b.t_circ, t_reset + b.t_circ]))[0]
            if dv > 0.3:
                # measured: 1.12x-1.14x; the rest is the junction and gate capacitance on the membrane besides the MIM
                assert c_mim * dv < q < 1.2 * c_mim * dv
                checked += 1
            # and the report's reset energy of this sample is V0 x that charge, give or take the boundary edge
            assert e["per_sample_domains"]["reset"][s][l - 1] == pytest.approx(cell.v0 * q, rel=0.05, abs=1e-15)
    assert checked >= 3


def test_energy_needs_split_supplies():
    class Plain:
        waves = []
        bundles = []
    with pytest.raises(ConfigError, match="split-supply"):
        energy_summary(Plain(), INPUTS)
