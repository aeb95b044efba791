"""The bottom-up prediction's circuit refinements (turn-on delays: the input split per branch; spike-line kicks), and
that the verification prediction is the trained network's own forward pass."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from imcpnn.cell import load_cell
from imcpnn.models import mlp_from_weights
from imcpnn.neuron import KickLaw, NeuronModel
from imcpnn.train import layer_weights, load_run, run
from imcpnn.verify.predict import model_times

KICKS = KickLaw(n_w=(0.01, 1.0, 10.0), n_kick=(3e-3, 7e-3, 2.5e-2), p_w=(0.01, 1.0, 6.0),
                p_kick=(-2.5e-3, -8e-3, -2e-2))
CELL = "tests/fixtures/cell_paper.json"


def test_zero_delays_change_nothing_and_the_kick_shifts_v():
    rng = np.random.default_rng(0)
    w = [rng.uniform(-1, 1.2, (4, 5))]
    x = rng.uniform(0, 1, (7, 5))
    x[0, 2] = 1.0  # one input that never arrives
    base = NeuronModel(2.9, -1.8)
    with_k = NeuronModel(2.9, -1.8, kicks=KICKS)
    t0, t1 = model_times(w, x, base)[0], model_times(w, x, with_k)[0]
    # ideal ramp (e_dis inf): t = 1 - v, so the time shift is minus the summed kicks of the arrived inputs
    layer = mlp_from_weights(w, with_k).layers[0]
    expect = layer.kick(torch.as_tensor(x)).numpy()
    live = (t0 > 0) & (t0 < 1) & (t1 > 0) & (t1 < 1)
    assert np.allclose((t0 - t1)[live], expect[live], atol=1e-12)
    assert layer.kick(torch.ones(1, 5, dtype=torch.float64)).max() == 0.0


def test_delays_equal_shifted_spikes_per_branch():
    """One NMOS and one PMOS synapse: the closed form of the linear ODE with each current starting late."""
    d_n, d_p = 0.01, 0.03
    zero = replace(KICKS, n_kick=(0.0,) * 3, p_kick=(0.0,) * 3, n_delay=d_n, p_delay=d_p)
    p = NeuronModel(2.0, -1.5, kicks=zero)
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
    # inputs delayed past the end of accumulation deliver nothing: the neuron stays at v = 0
    assert model_times([w], np.array([[0.995, 0.98]]), p)[0][0, 0] == pytest.approx(1.0, abs=1e-15)


def test_layers_fed_by_neurons_take_their_own_kicks_and_delays():
    """Layer 1 uses the stimulus table, layer 2 the neuron-driven one: the 2-layer prediction equals layer 2 run on
    its own with the neuron table in the first slot (and differs from using the stimulus table there)."""
    rng = np.random.default_rng(1)
    w = [rng.uniform(-0.6, 1.2, (4, 5)), rng.uniform(-0.6, 1.2, (3, 4))]
    x = rng.uniform(0, 0.8, (6, 5))
    neuron = replace(KICKS, n_kick=(4e-3, 9e-3, 3e-2), n_delay=0.002, p_delay=0.004)
    p = NeuronModel(2.9, -1.8, 6.5, kicks=KICKS, kicks_neuron=neuron)
    hidden, out = model_times(w, x, p)
    assert np.array_equal(hidden, model_times(w[:1], x, NeuronModel(2.9, -1.8, 6.5, kicks=KICKS))[0])
    alone = model_times(w[1:], hidden, NeuronModel(2.9, -1.8, 6.5, kicks=neuron))[0]
    assert np.array_equal(out, alone)
    same = model_times(w, x, NeuronModel(2.9, -1.8, 6.5, kicks=KICKS))[1]
    assert np.abs(out - same).max() > 1e-3
    assert p.layer(0).kicks is KICKS and p.layer(3).kicks is neuron


def test_model_record_round_trips_through_json(tmp_path):
    lam = NeuronModel.from_cell(load_cell(CELL)).lambda_table
    m = NeuronModel(2.9, -1.8, 6.5, alpha_dis=1.08, fire_threshold=1.02, t_min=0.004, lambda_table=lam,
                    kicks=KICKS, kicks_neuron=replace(KICKS, n_delay=0.01), w_min=-4.0, w_max=4.0, source="x")
    assert NeuronModel.load(m.save(tmp_path / "model.json")) == m
    assert NeuronModel.load(NeuronModel().save(tmp_path / "ideal.json")) == NeuronModel()


def test_verification_prediction_is_the_trained_networks_forward(tmp_path):
    """The run's network, rebuilt by training from its model.json and checkpoint, switched to the exact solver in
    float64: its forward equals what verification predicts from the exported weights and the same record."""
    rd, _ = run("iris-bottomup", out=tmp_path / "r", cell=CELL,
                sets=["optim.epochs=3", "neuron.spike_kicks=true", "neuron.solver=dstd"], progress=False)
    trained = load_run(rd)
    assert trained.model == NeuronModel.load(rd / "model.json")
    net = trained.net.double().eval()
    net.set(solver="exact")
    x = np.random.default_rng(0).uniform(0, 1, (20, 5))
    with torch.no_grad():
        direct = [t.numpy() for t in net(torch.as_tensor(x), return_all=True)]
    weights = [w.numpy().astype(np.float64) for w in layer_weights(trained.net)]
    predicted = model_times(weights, x, trained.model)
    for a, b in zip(direct, predicted):
        assert np.abs(a - b).max() <= 1e-12
    # and the prediction does depend on the record (a different model gives different times)
    other = model_times(weights, x, trained.model.with_reversal(100.0))
    assert max(np.abs(a - b).max() for a, b in zip(other, predicted)) > 1e-3
