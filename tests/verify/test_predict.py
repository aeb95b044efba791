"""The bottom-up prediction's circuit refinements: turn-on delays (input split per branch) and spike-line kicks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from imcpnn.verify.predict import ModelParams, model_times

KICKS = {"n_w": [0.01, 1.0, 10.0], "n_kick": [3e-3, 7e-3, 2.5e-2], "p_w": [0.01, 1.0, 6.0],
         "p_kick": [-2.5e-3, -8e-3, -2e-2], "n_delay": 0.0, "p_delay": 0.0}


def test_zero_delays_change_nothing_and_the_kick_shifts_v():
    rng = np.random.default_rng(0)
    w = [rng.uniform(-1, 1.2, (4, 5))]
    x = rng.uniform(0, 1, (7, 5))
    x[0, 2] = 1.0  # one input that never arrives
    base = ModelParams(2.9, -1.8)
    with_k = ModelParams(2.9, -1.8, kick_table=KICKS)
    t0, t1 = model_times(w, x, base)[0], model_times(w, x, with_k)[0]
    # ideal ramp (e_dis inf): t = 1 - v, so the time shift is minus the summed kicks of the arrived inputs
    expect = with_k.kick(w[0], x)
    live = (t0 > 0) & (t0 < 1) & (t1 > 0) & (t1 < 1)
    assert np.allclose((t0 - t1)[live], expect[live], atol=1e-12)
    assert with_k.kick(w[0], np.ones((1, 5))).max() == 0.0


def test_delays_equal_shifted_spikes_per_branch():
    """One NMOS and one PMOS synapse: the closed form of the linear ODE with each current starting late."""
    d_n, d_p = 0.01, 0.03
    p = ModelParams(2.0, -1.5, kick_table={**KICKS, "n_kick": [0.0] * 3, "p_kick": [0.0] * 3,
                                           "n_delay": d_n, "p_delay": d_p})
    w = np.array([[0.8, -0.5]])
    x = np.array([[0.2, 0.6]])
    # reference: piecewise exact solution with the NMOS current from 0.21 and the PMOS one from 0.63
    b_n, b_p = 1 / 2.0, -1 / -1.5  # beta * sign so that beta w >= 0
    t1, t2 = 0.2 + d_n, 0.6 + d_p
    g1, f1 = 0.8, b_n * 0.8
    v1 = g1 / f1 * (1 - math.exp(-f1 * (t2 - t1)))
    g2, f2 = 0.8 - 0.5, f1 + b_p * 0.5
    v_end = v1 * math.exp(-f2 * (1 - t2)) + g2 / f2 * (1 - math.exp(-f2 * (1 - t2)))
    t = model_times([w], x, p)[0][0, 0]
    assert t == pytest.approx(1 - v_end, abs=1e-12)
    # an input delayed past the end of accumulation delivers nothing
    wd, xd = p.delayed(w, np.array([[0.99, 0.99]]))
    assert np.all(xd == 1.0)


def test_layers_fed_by_neurons_take_their_own_kicks_and_delays():
    """Layer 1 uses the stimulus table, layer 2 the neuron-driven one: the 2-layer prediction equals layer 2 run on
    its own with the neuron table in the first slot (and differs from using the stimulus table there)."""
    rng = np.random.default_rng(1)
    w = [rng.uniform(-0.6, 1.2, (4, 5)), rng.uniform(-0.6, 1.2, (3, 4))]
    x = rng.uniform(0, 0.8, (6, 5))
    neuron = {**KICKS, "n_kick": [4e-3, 9e-3, 3e-2], "n_delay": 0.002, "p_delay": 0.004}
    p = ModelParams(2.9, -1.8, 6.5, kick_table=KICKS, kick_table_neuron=neuron)
    hidden, out = model_times(w, x, p)
    assert np.array_equal(hidden, model_times(w[:1], x, ModelParams(2.9, -1.8, 6.5, kick_table=KICKS))[0])
    alone = model_times(w[1:], hidden, ModelParams(2.9, -1.8, 6.5, kick_table=neuron))[0]
    assert np.array_equal(out, alone)
    same = model_times(w, x, ModelParams(2.9, -1.8, 6.5, kick_table=KICKS))[1]
    assert np.abs(out - same).max() > 1e-3
    assert p.kicks_of(0) is KICKS and p.kicks_of(3) is neuron
