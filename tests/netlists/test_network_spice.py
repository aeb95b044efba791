"""A 5-5-5 pipelined network, random valid biases, 10 samples in one transient: one spike or none per neuron and
sample, inside its firing window, cleared by the next reset; no convergence help; generated text parses in ngspice."""

import time

import numpy as np
import pytest

from imcpnn.netlists import network_netlist

from netlists_helpers import crossings, random_biases, run_ngspice

pytestmark = pytest.mark.spice

CONVERGENCE_HELP = ("gmin stepping", "source stepping", "timestep too small", "singular matrix", "doanalyses",
                    "simulation(s) aborted")


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


def _spike_times_ns(design, lib_line, biases, x) -> np.ndarray:
    nb = network_netlist(design, lib_line, biases, x)
    nodes = [n for layer in nb.spike_nodes for n in layer]
    a, _ = run_ngspice(nb.text, ["run"], nodes, timeout=600)
    t = a[:, 0]
    out = np.full((nb.n_layers, nb.n_samples, len(nb.spike_nodes[0])), np.nan)
    for L in range(nb.n_layers):
        for i in range(len(nb.spike_nodes[L])):
            ups = crossings(t, a[:, 1 + L * len(nb.spike_nodes[0]) + i], design.vdd / 2)
            for s in range(nb.n_samples):
                f0, f1 = nb.fire_window(L, s)
                k = ups[(ups >= f0) & (ups < f1)]
                out[L, s, i] = (k[0] - f0) * 1e9 if len(k) else np.nan
    return out


@pytest.mark.slow
@pytest.mark.heavy  # minutes of SPICE: CI runs it in make test-heavy
def test_transient_options_are_converged(design, lib_line):
    """The design's transient options give the spike times of a much tighter simulation (gear, reltol 1e-6, chgtol
    1e-17) to 0.3 ns RMS (0.6 ns at most): small against the 2 ns the model is asked to match (issue 7; ~2 % in
    quadrature at 1 ns). ngspice's own chgtol (1e-14 C, 10 % of the membrane's threshold charge) misses by far more
    (figures: docs/circuit.md "Simulation options", benchmarks/spice_convergence.py)."""
    import dataclasses

    rng = np.random.default_rng(5)
    biases = random_biases(rng, design, [(3, 4), (3, 3)])
    x = rng.uniform(0.0, 0.9, (3, 4))
    got = _spike_times_ns(design, lib_line, biases, x)
    ref = _spike_times_ns(dataclasses.replace(design, reltol=1e-6, chgtol=1e-17, method="gear"), lib_line, biases, x)
    assert np.array_equal(np.isnan(got), np.isnan(ref))
    assert np.isfinite(got).sum() >= 6  # enough spikes to compare
    diff = (got - ref)[np.isfinite(got)]
    rms = float(np.sqrt(np.mean(diff ** 2)))
    assert rms < 0.3 and np.abs(diff).max() < 0.6, f"spike times off the converged ones: RMS {rms:.3f} ns, max " \
                                                    f"{np.abs(diff).max():.3f} ns"
