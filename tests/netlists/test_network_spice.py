"""A 5-5-5 pipelined network, random valid biases, 10 samples in one transient: one spike or none per neuron and
sample, inside its firing window, cleared by the next reset; no convergence help; generated text parses in ngspice."""

import time

import numpy as np
import pytest

from imcpnn.netlists import network_netlist

from netlists_helpers import crossings, run_ngspice

pytestmark = pytest.mark.spice

CONVERGENCE_HELP = ("gmin stepping", "source stepping", "timestep too small", "singular matrix", "doanalyses",
                    "simulation(s) aborted")


def random_biases(rng, design, shapes, p_pos=0.6):
    """Random valid biases: each synapse uses one branch (NMOS 0.45..0.56 V or PMOS 1.05..1.25 V), the other off."""
    out = []
    for n_out, n_in in shapes:
        pos = rng.random((n_out, n_in)) < p_pos
        vn = np.where(pos, rng.uniform(0.45, 0.56, (n_out, n_in)), 0.0)
        vp = np.where(pos, design.vdd, rng.uniform(1.05, 1.25, (n_out, n_in)))
        out.append((vn, vp))
    return out


@pytest.mark.slow
def test_555_network_stream(design, lib_line):
    rng = np.random.default_rng(2024)
    biases = random_biases(rng, design, [(5, 5), (5, 5)])
    x = rng.uniform(0.0, 1.2, (10, 5))  # some inputs >= 1: no spike
    nb = network_netlist(design, lib_line, biases, x)
    nodes = [n for layer in nb.spike_nodes for n in layer]
    t0 = time.perf_counter()
    a, log = run_ngspice(nb.text, ["run", "rusage all"], nodes, timeout=600)
    wall = time.perf_counter() - t0
    low = log.lower()
    for msg in CONVERGENCE_HELP:
        assert msg not in low, msg
    t = a[:, 0]
    assert t[-1] == pytest.approx(nb.t_stop, rel=1e-6)
    half = design.vdd / 2
    n_spikes = 0
    for L in range(nb.n_layers):
        for i in range(5):
            v = a[:, 1 + L * 5 + i]
            ups = crossings(t, v, half, rising=True)
            downs = crossings(t, v, half, rising=False)
            for s in range(nb.n_samples):
                f0, f1 = nb.fire_window(L, s)
                r0, r1 = f1, f1 + nb.t_circ  # the following reset phase
                k = ups[(ups >= f0 - design.t_edge) & (ups < f1)]
                assert len(k) <= 1, (L, i, s, k)
                n_spikes += len(k)
                if len(k) and r1 <= nb.t_stop:  # latched until the reset, then cleared in the reset phase
                    assert np.interp(f1 - 2 * design.t_edge, t, v) > 0.95 * design.vdd
                    d = downs[(downs > k[0]) & (downs < r1)]
                    assert len(d) == 1 and r0 - design.t_edge <= d[0] < r0 + 0.05 * nb.t_circ, (L, i, s, d)
            # no rising edge outside the firing windows
            wins = [nb.fire_window(L, s) for s in range(nb.n_samples)]
            for u in ups:
                assert any(w0 - design.t_edge <= u < w1 for w0, w1 in wins), (L, i, u / nb.t_circ)
    assert n_spikes > 10  # the random network is active
    print(f"5-5-5, 10 samples: {wall:.1f} s wall, {n_spikes} spikes")


def test_network_parses(design, lib_line):
    """The generated network text (with its own .tran line) parses and runs a tiny 2-2 network in ngspice."""
    rng = np.random.default_rng(0)
    nb = network_netlist(design, lib_line, random_biases(rng, design, [(2, 2)]), np.array([[0.3, 1.0]]))
    a, log = run_ngspice(nb.text, ["run"], [nb.spike_nodes[0][0], nb.mem_nodes[0][0]])
    assert a.shape[0] > 10 and a[-1, 0] == pytest.approx(nb.t_stop, rel=1e-6)
    assert "error" not in log.lower().replace("errors", "")
