"""Spike-line kicks in the model (functional.SpikeLineKick, RCSpikeLinear(kick_fn=...))."""

from __future__ import annotations

import math

import pytest
import torch

from imcpnn.models import functional as Fn
from imcpnn.models.layers import RCSpikeConv2d, RCSpikeLinear
from imcpnn.neuron import KickLaw, LayerModel

TABLE = dict(n_w=[0.01, 0.1, 1.0, 10.0], n_kick=[3e-3, 4e-3, 7e-3, 2.5e-2],
             p_w=[0.01, 0.1, 1.0, 6.0], p_kick=[-2.5e-3, -3.3e-3, -8e-3, -2e-2])


def test_table_points_interpolation_clamp_and_off():
    k = Fn.SpikeLineKick(**TABLE)
    w = torch.tensor([0.1, 1.0, -1.0, -6.0, 100.0, -100.0, 5e-4, -5e-4, 0.0, 0.001], dtype=torch.float64)
    got = k(w)
    expect = [4e-3, 7e-3, -8e-3, -2e-2, 2.5e-2, -2e-2, 0.0, 0.0, 0.0, 3e-3]  # 0.001 < table start: clamped to 0.01
    assert torch.allclose(got, torch.tensor(expect, dtype=torch.float64), atol=1e-15)
    # between table points: linear in log|w| (sqrt(0.1*1) is the geometric midpoint)
    mid = k(torch.tensor([math.sqrt(0.1)], dtype=torch.float64))
    assert mid.item() == pytest.approx((4e-3 + 7e-3) / 2, rel=1e-12)


def test_arrived_sums_only_inputs_that_spiked():
    k = Fn.SpikeLineKick(**TABLE)
    w = torch.tensor([[1.0, -1.0, 0.1], [10.0, 0.0, -0.1]], dtype=torch.float64)
    t = torch.tensor([[0.2, 0.9, 1.0], [1.0, 1.0, 1.0], [0.0, 0.5, 0.99]], dtype=torch.float64)
    got = k.arrived(t, w)
    expect = torch.tensor([[7e-3 - 8e-3, 2.5e-2], [0.0, 0.0], [7e-3 - 8e-3 + 4e-3, 2.5e-2 - 3.3e-3]],
                          dtype=torch.float64)
    assert torch.allclose(got, expect, atol=1e-15)


def test_gradient_flows_to_the_weights():
    k = Fn.SpikeLineKick(**TABLE)
    w = torch.tensor([[0.3, -0.5]], dtype=torch.float64, requires_grad=True)
    t = torch.tensor([[0.1, 0.2]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda ww: k.arrived(t, ww), (w,))


def test_linear_layer_adds_the_kick_before_firing():
    torch.manual_seed(0)
    k = Fn.SpikeLineKick(**TABLE)
    a = RCSpikeLinear(4, 3, LayerModel(3.0, -2.0, kicks=KickLaw(**_tuples(TABLE))), solver="exact").double()
    b = RCSpikeLinear(4, 3, LayerModel(3.0, -2.0), solver="exact").double()
    b.load_state_dict(a.state_dict())
    t = torch.rand(6, 4, dtype=torch.float64) * 0.8
    v = b.membrane(t)
    assert torch.allclose(a(t), Fn.fire_time(v + k.arrived(t, b.weight)), atol=1e-14)
    assert not torch.allclose(a(t), b(t))


def test_conv_layer_refuses_kicks():
    with pytest.raises(ValueError, match="RCSpikeLinear only"):
        RCSpikeConv2d(1, 2, 3, neuron=LayerModel(kicks=KickLaw(**_tuples(TABLE))))


def _tuples(d: dict) -> dict:
    return {k: tuple(v) for k, v in d.items()}
