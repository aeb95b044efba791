"""TTFS layers (models/ttfs.py): gradients, exact vs DSTD, the App. C initialisation, Q."""
import math

import numpy as np
import pytest
import torch

from imcpnn.models import functional as Fn
from imcpnn.models.ttfs import TTFSLinear, make_ttfs_mlp, ttfs_q, ttfs_w_max
from imcpnn.neuron import LayerModel

D = torch.float64


def _layer(E=4.0, n_in=30, n_out=8, **kw):
    return TTFSLinear(n_in, n_out, LayerModel(e_plus=E, e_minus=-E), dtype=D, **kw)


@pytest.mark.parametrize("solver", ["exact", "dstd"])
def test_gradients_flow_through_a_two_layer_ttfs_net(solver):
    torch.manual_seed(0)
    net = make_ttfs_mlp([12, 9, 4], LayerModel(e_plus=3.0, e_minus=-3.0), t_ref=2.0, t_max=3.0, solver=solver,
                        steps=20, dtype=D)
    with torch.no_grad():  # some inhibition, so both branches (beta+ and beta-) are exercised
        net.layers[0].weight[:, :3].neg_()
    x = torch.rand(6, 12, dtype=D, requires_grad=True)
    t = net(x)
    assert bool((t < 3.0).all()), "every output neuron fires at this init"
    Fn.spike_ce_loss(t, torch.arange(6) % 4).backward()
    for layer in net.layers:  # a hidden spike after every output spike has no effect, so not every row has one
        assert torch.isfinite(layer.weight.grad).all() and bool((layer.weight.grad != 0).any())
    assert bool((net.layers[1].weight.grad != 0).any(dim=1).all())
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_exact_and_dstd_agree_to_the_m2_bound():
    """Mean |t_DSTD - t_exact| over fired neurons shrinks as M^-2 (Theorem 1's order in the grid step) and stays
    below 0.25 dt^2, dt = t_max/M (measured ~0.11 dt^2 at |E| = 2, 4, 10)."""
    torch.manual_seed(0)
    lay = _layer(E=2.0, t_max=3.0, offset="fixed").init_(1, 1.0)
    with torch.no_grad():
        lay.weight.add_(0.02 * torch.randn_like(lay.weight))
    t = torch.rand(50, 30, dtype=D)
    lay.solver = "exact"
    te = lay(t)
    fired = te < 3.0
    assert fired.float().mean() > 0.9
    lay.solver = "dstd"
    ms = (20, 40, 80)
    errs = []
    for m in ms:
        lay.steps = m
        errs.append(float((lay(t) - te).detach()[fired].abs().mean()))
        assert errs[-1] < 0.25 * (3.0 / m) ** 2
    slope = np.polyfit(np.log(ms), np.log(errs), 1)[0]
    assert -2.3 < slope < -1.7


def test_silent_neurons_fire_at_t_max_in_both_solvers():
    lay = _layer(E=4.0, n_in=5, n_out=3, t_max=2.0)
    with torch.no_grad():
        lay.weight.fill_(-0.5)
    t = torch.rand(4, 5, dtype=D)
    for solver in ("exact", "dstd"):
        lay.solver = solver
        assert torch.equal(lay(t), torch.full((4, 3), 2.0, dtype=D))


@pytest.mark.parametrize("E", [4.0, math.inf])
def test_init_puts_the_first_spike_where_app_c_says(E):
    """w ~ U(0, w_max/N): with N inputs U[0, 1] a neuron crosses threshold near t_ref/(L sqrt(w*))."""
    torch.manual_seed(1)
    lay = _layer(E=E, n_in=400, n_out=100, t_max=5.0).init_(n_layers=2, t_ref=2.0, w_star=2.0)
    w_max = ttfs_w_max(E, 2, 2.0, 2.0)
    w = lay.weight.detach()
    assert float(w.min()) >= 0 and float(w.max()) <= w_max / 400
    with torch.no_grad():
        median = float(Fn.ttfs_exact(torch.rand(10, 400, dtype=D), lay.weight, E, -E).median())
    assert abs(median - 2.0 / 2 / math.sqrt(2.0)) < 0.03


def test_w_max_formula_and_its_limits():
    beta = 0.25
    assert ttfs_w_max(4.0, 3, 3.2, 2.0) == pytest.approx(-4 * 2.0 * 9 * math.log(1 - beta) / (beta * 3.2 ** 2))
    assert ttfs_w_max(math.inf, 3, 3.2, 2.0) == pytest.approx(4 * 2.0 * 9 / 3.2 ** 2)
    assert ttfs_w_max(1e9, 1, 1.0) == pytest.approx(ttfs_w_max(math.inf, 1, 1.0))
    with pytest.raises(ValueError, match="E\\+ > 1"):
        ttfs_w_max(1.0, 2, 2.0)


def test_q_sums_the_weights_of_inputs_before_each_spike():
    torch.manual_seed(2)
    net = make_ttfs_mlp([5, 4, 3], LayerModel(e_plus=3.0, e_minus=-3.0), t_ref=2.0, t_max=3.0, solver="exact",
                        dtype=D)
    net.layers[1].bias = torch.nn.Parameter(torch.full((3,), 0.3, dtype=D))  # the bias spike (t = 0) counts too
    x = torch.rand(7, 5, dtype=D)
    times = net(x, return_all=True)
    manual = 0.0
    for b in range(7):
        ins = [x[b], times[0][b]]
        for layer, t_in, t_out in zip(net.layers, ins, (times[0][b], times[1][b])):
            for i in range(layer.n_out):
                manual += sum(float(layer.weight[i, j].detach()) for j in range(layer.n_in) if t_in[j] < t_out[i])
                if layer.bias is not None:
                    manual += float(layer.bias[i].detach())
    assert float(ttfs_q(net, x, times).detach()) == pytest.approx(manual / 7, rel=1e-12)
    # its gradient is the causal indicator, batch-averaged (the spike times are not differentiated)
    q = ttfs_q(net, x, times)
    g, = torch.autograd.grad(q, net.layers[0].weight)
    ind = (x.unsqueeze(1) < times[0].detach().unsqueeze(2)).to(D).mean(0)
    assert torch.allclose(g, ind)


def test_offset_is_drawn_over_the_ttfs_window():
    lay = _layer(t_max=3.0, steps=10)
    lay.train()
    torch.manual_seed(0)
    offs = [lay._offset_value(torch.zeros(1)) for _ in range(200)]
    assert 0.0 <= min(offs) and max(offs) < 0.3 and max(offs) > 0.2  # [0, t_max/M), not [0, 1/M)


def test_refuses_what_ttfs_does_not_model():
    with pytest.raises(ValueError, match="one E per sign"):
        TTFSLinear(3, 2, LayerModel(e_plus=3.0, e_minus=-3.0, leak=0.1))
