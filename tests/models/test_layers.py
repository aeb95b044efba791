"""Layer-level tests for imcpnn.models (issue 5)."""
import math

import pytest
import torch
import torch.nn.functional as F

import imcpnn.models as M
from imcpnn.neuron import LayerModel, NeuronModel
from imcpnn.models import functional as Fn

D = torch.float64


@pytest.mark.parametrize("solver", ["dstd", "exact"])
@pytest.mark.parametrize("bias", [False, True])
def test_conv_equals_linear_on_unfolded_patches(gen, solver, bias):
    conv = M.RCSpikeConv2d(2, 3, 3, stride=2, padding=1, neuron=LayerModel(2.0, -1.5), solver=solver, steps=5,
                           offset=0.07, bias=bias, dtype=D)
    with torch.no_grad():
        conv.bias is not None and conv.bias.normal_(0, 0.3, generator=gen)
    x = torch.rand(2, 2, 7, 6, generator=gen, dtype=D)
    v = conv.membrane(x)
    cols = F.unfold(F.pad(x, (1, 1, 1, 1), value=1.0), 3, stride=2)  # padding = "no spike" (t = 1)
    pt = cols.transpose(1, 2).reshape(-1, cols.shape[1])
    wf = conv.weight.reshape(3, -1)
    if bias:
        pt = torch.cat((torch.zeros(pt.shape[0], 1, dtype=D), pt), 1)
        wf = torch.cat((conv.bias[:, None], wf), 1)
    ref = (Fn.rcspike_exact(pt, wf, 2.0, -1.5) if solver == "exact"
           else Fn.rcspike_dstd(pt, wf, 2.0, -1.5, 5, 0.07))
    ref = ref.reshape(2, -1, 3).transpose(1, 2).reshape(v.shape)
    assert torch.allclose(v, ref, atol=1e-12)  # same arithmetic up to summation order


def test_gradcheck_conv(gen):
    conv = M.RCSpikeConv2d(2, 2, 2, padding=1, neuron=LayerModel(2.0, -2.0), steps=4, offset=0.11, dtype=D)
    x = torch.rand(1, 2, 3, 3, generator=gen, dtype=D).requires_grad_(True)
    w = conv.weight.detach().clone().requires_grad_(True)

    conv.train()
    assert torch.autograd.gradcheck(lambda a, b: torch.func.functional_call(conv, {"weight": b}, (a,)), (x, w))


def test_linear_layer_behaviour(gen):
    torch.manual_seed(0)
    lay = M.RCSpikeLinear(30, 6, LayerModel(3.0, -3.0), sigma=0.05, w_min=-0.2, w_max=0.2)
    assert lay.weight.shape == (6, 30)
    x = torch.rand(8, 30)
    lay.train()
    t1, t2 = lay(x), lay(x)
    assert ((t1 >= 0) & (t1 <= 1)).all() and not torch.equal(t1, t2)  # noise + random offset in training
    lay.eval()
    e1, e2 = lay(x), lay(x)
    assert torch.equal(e1, e2)  # eval: offset 0, no noise -> deterministic
    assert torch.allclose(e1, Fn.fire_time(Fn.rcspike_dstd(x, lay.weight, 3.0, -3.0, 10, 0.0)))
    lay.solver = "exact"  # switch the solver at eval time
    assert torch.allclose(lay.membrane(x), Fn.rcspike_exact(x, lay.weight, 3.0, -3.0))
    lay.solver, lay.steps = "dstd", 200
    assert torch.allclose(lay.membrane(x), Fn.rcspike_exact(x, lay.weight, 3.0, -3.0), atol=1e-4)
    with torch.no_grad():
        lay.weight.mul_(10)
    lay.constrain_()
    assert lay.weight.abs().max() <= 0.2 + 1e-7
    lay.solver = "bogus"
    with pytest.raises(ValueError):
        lay(x)


def test_init_spread():
    torch.manual_seed(0)
    lay = M.RCSpikeLinear(784, 400, solver="exact")
    v = lay.membrane(torch.rand(64, 784))
    assert 0.4 < v.std().item() < 0.75  # documented: std ~ 1/sqrt(3) = 0.58 for U[0,1] inputs and E = inf
    assert abs(v.mean().item()) < 0.1


def test_spikenet_pool_flatten_and_training():
    torch.manual_seed(0)
    net = M.SpikeNet([
        M.RCSpikeConv2d(1, 4, 3, padding=1, neuron=LayerModel(3.0, -3.0), steps=4),
        M.SpikeMinPool2d(2), M.SpikeFlatten(),
        M.RCSpikeLinear(4 * 4 * 4, 3, LayerModel(3.0, -3.0), steps=4),
    ])
    x = torch.rand(16, 1, 8, 8)
    outs = net(x, return_all=True)
    assert [tuple(o.shape) for o in outs] == [(16, 4, 8, 8), (16, 4, 4, 4), (16, 64), (16, 3)]
    assert torch.equal(outs[1], -F.max_pool2d(-outs[0], 2))
    # a tiny learnable task: class = which third of the image is brightest; the loss must go down
    y = torch.randint(0, 3, (16,))
    for i in range(16):
        x[i, 0, :, (y[i] * 3):(y[i] * 3 + 2)] *= 0.2  # early spikes (bright) in the class columns
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    losses = []
    for _ in range(40):
        t = net(x)
        loss = Fn.spike_ce_loss(t, y, 0.07) + 0.1 * Fn.temporal_penalty(t, 0.9)
        opt.zero_grad()
        loss.backward()
        opt.step()
        net.constrain_()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses[::8]
    net.set(solver="exact", steps=30)
    assert all(m.solver == "exact" for m in net.spiking_layers())


def test_make_mlp_dtype_and_cuda():
    net = M.make_mlp([10, 8, 3], NeuronModel(2.0, -2.0), bias=True, dtype=D)
    assert net(torch.rand(5, 10, dtype=D)).dtype == D
    if torch.cuda.is_available():
        net = net.cuda()
        assert net(torch.rand(5, 10, dtype=D, device="cuda")).is_cuda
