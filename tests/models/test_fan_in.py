"""The fan-in law: every synapse adds capacitance to the membrane, so at another fan-in the same currents and kick
charges move v less; the layer scales its weights, firing ramp and kicks by C_eff(design) / C_eff(fan-in)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from imcpnn.cell import CellParams, load_cell
from imcpnn.models import functional as Fn
from imcpnn.models.layers import RCSpikeLinear, make_mlp
from imcpnn.neuron import KickLaw, NeuronModel, c_eff_at

#: measured on the tt cell by imc-extract's column transients (64, 256 and 1024 in the flat device form)
C_EFF = ((0, 109.37e-15), (1, 109.98e-15), (2, 110.59e-15), (5, 112.42e-15), (10, 115.48e-15), (20, 121.58e-15),
         (64, 148.33e-15), (256, 265.22e-15), (1024, 732.78e-15))
KICKS = KickLaw(n_w=(0.01, 1.0, 10.0), n_kick=(3e-3, 7e-3, 2.5e-2), p_w=(0.01, 1.0, 6.0),
                p_kick=(-2.5e-3, -8e-3, -2e-2))


def test_law_is_one_at_the_design_fan_in_and_predicts_points_it_was_not_fitted_on():
    m = NeuronModel(2.9, -1.8, 6.5, c_eff=C_EFF, design_fan_in=5)
    assert m.scale_at(5) == 1.0
    assert m.layer(0, 5).charge_scale == 1.0 and m.layer(0).charge_scale == 1.0
    # each measured point left out in turn: its neighbours predict it to 0.1 %
    for k in range(1, len(C_EFF) - 1):
        rest = C_EFF[:k] + C_EFF[k + 1:]
        assert c_eff_at(rest, C_EFF[k][0]) == pytest.approx(C_EFF[k][1], rel=1e-3)
    assert m.scale_at(20) == pytest.approx(112.42 / 121.58, rel=1e-12)
    assert m.scale_at(1) > 1.0 > m.scale_at(64)
    # beyond the last point: continued along the last segment
    assert c_eff_at(C_EFF, 2048) == pytest.approx(265.22e-15 + (732.78e-15 - 265.22e-15) * 1024 / 768)


def test_a_line_through_small_fan_ins_misses_the_large_ones():
    """Why the law interpolates: a line through fan-ins 0..20 is 0.17 % off at 256, 0.24 % at 1024 (~4 ns at 256)."""
    small = tuple(p for p in C_EFF if p[0] <= 20)
    k = (small[-1][1] - small[0][1]) / small[-1][0]
    for n, c in C_EFF[-2:]:
        assert abs((small[0][1] + k * n) / c - 1) > 1.5e-3


def test_scaled_layer_equals_the_unscaled_forward_with_scaled_charges():
    """Independent reference: the functional core with weights, ramp rate and kicks multiplied by the scale."""
    torch.manual_seed(0)
    cell = load_cell("tests/fixtures/cell_paper.json")
    lam = NeuronModel.from_cell(cell).lambda_table
    base = NeuronModel(2.9, -1.8, 6.5, alpha_dis=1.08, fire_threshold=1.02, lambda_table=lam, kicks=KICKS,
                       c_eff=C_EFF, design_fan_in=5)
    n_in, s = 16, base.scale_at(16)
    layer = RCSpikeLinear(n_in, 3, base.layer(0, n_in), solver="exact").double()
    x = torch.rand(7, n_in, dtype=torch.float64) * 0.9
    w = layer.weight.detach()
    beta = Fn.CurrentDependentBeta(**lam.table())
    v = Fn.rcspike_exact(x, w * s, 2.9, -1.8, beta=lambda ws: beta(ws / s))
    v = v + s * Fn.SpikeLineKick(**KICKS.table()).arrived(x, w)
    ref = Fn.fire_time(v, 6.5, 1.08 * s, 1.0 + 0.02 * s, 0.0)
    assert s < 0.96
    assert torch.allclose(layer(x), ref, atol=1e-13)
    # the model without the law differs by more than a ns-scale error (1e-3 of the phase)
    plain = RCSpikeLinear(n_in, 3, replace(base, c_eff=None).layer(0, n_in), solver="exact").double()
    plain.load_state_dict(layer.state_dict())
    assert (plain(x) - layer(x)).abs().max() > 1e-3


def test_make_mlp_gives_each_layer_the_scale_of_its_fan_in():
    m = NeuronModel(2.9, -1.8, 6.5, c_eff=C_EFF, design_fan_in=5)
    net = make_mlp([5, 20, 3], m)
    assert [lay.neuron.charge_scale for lay in net.layers] == [1.0, pytest.approx(m.scale_at(20))]


def test_threshold_follows_the_ramp_and_the_reset_charge():
    """Measured at fan-in 64, 256 and 1024 (docs/verification.md): the overshoot past 1 scales with the ramp, and
    the reset level's offset from V0 with the charge scale; the model's v starts at the design fan-in's reset level."""
    m = NeuronModel(2.9, -1.8, 6.5, alpha_dis=1.08, fire_threshold=1.02, c_eff=C_EFF, design_fan_in=5,
                    reset_offset=2.4e-3)
    assert m.layer(0, 5).threshold == 1.02
    s = m.scale_at(64)
    assert m.layer(0, 64).threshold == pytest.approx(1.0 + 0.02 * s - 2.4e-3 * (1.0 - s), rel=1e-12)
    layer = RCSpikeLinear(64, 2, m.layer(1, 64), solver="exact").double()
    x = torch.rand(5, 64, dtype=torch.float64)
    v = layer.membrane(x)
    assert torch.allclose(layer(x), Fn.fire_time(v, 6.5, 1.08 * s, 1.0 + 0.02 * s - 2.4e-3 * (1 - s), 0.0),
                          atol=1e-13)
    with pytest.raises(Exception, match="reset_offset"):
        replace(m, reset_offset=float("nan"))


def test_from_cell_takes_the_reset_offset_with_the_fan_in_law():
    cell = load_cell("tests/fixtures/cell_paper.json")
    if cell.v_reset is None:
        cell = cell.model_copy(update={"v_reset": cell.v0 + 2e-3})
    m = NeuronModel.from_cell(cell)
    assert m.reset_offset == pytest.approx((cell.v_reset - cell.v0) / cell.v_th)
    assert NeuronModel.from_cell(cell, fan_in=False).reset_offset == 0.0


KICKS_64 = KickLaw(n_w=(0.01, 1.0, 10.0), n_kick=(2e-3, 6e-3, 2e-2), p_w=(0.02, 1.0, 6.0),
                   p_kick=(-1.5e-3, -6e-3, -1.6e-2), n_delay=1e-4, p_delay=5e-4)


def test_neuron_fed_kicks_follow_the_fan_out_of_their_lines():
    m = NeuronModel(2.9, -1.8, 6.5, kicks=KICKS, kicks_neuron=KICKS,
                    kicks_neuron_fan_out=((4, KICKS_64), (16, KICKS), (64, KICKS_64)))
    assert m.layer(1, 5, 16).kicks == KICKS and m.layer(1, 5, 64).kicks == KICKS_64
    assert m.layer(1, 5, 2).kicks == KICKS_64 and m.layer(1, 5, 500).kicks == KICKS_64  # held outside
    assert m.layer(0, 5, 64).kicks == KICKS and m.layer(1, 5).kicks == KICKS  # stimulus-fed; no fan-out given
    mid = m.layer(1, 5, 32).kicks  # half-way in log fan-out between 16 and 64
    fk = Fn.SpikeLineKick(**mid.table())
    w = torch.tensor([0.01, 0.3, 1.0, 4.0, -0.02, -0.5, -3.0], dtype=torch.float64)
    ref = 0.5 * Fn.SpikeLineKick(**KICKS.table())(w) + 0.5 * Fn.SpikeLineKick(**KICKS_64.table())(w)
    assert torch.allclose(fk(w), ref, atol=1e-15)
    assert mid.p_delay == pytest.approx(0.5 * 5e-4)
    net = make_mlp([5, 8, 64, 3], m)
    assert [lay.neuron.kicks for lay in net.layers] == [KICKS, KICKS_64, KICKS_64]  # fan-outs -, 64, 3
    assert NeuronModel.from_dict(m.to_dict()) == m


def test_from_cell_orders_the_measured_fan_outs_around_the_design_one():
    data = json.loads(Path("tests/fixtures/cell_paper.json").read_text())
    table = {"n_w": [0.01, 1.0], "n_kick": [4e-3, 7e-3], "p_w": [0.01, 1.0], "p_kick": [-3e-3, -6e-3]}
    data["kicks_neuron"] = table
    data["kicks_neuron_fan_out"] = [{"fan_out": 64, "kicks": {**table, "p_kick": [-2e-3, -5e-3]}}]
    cell = CellParams.model_validate(data)
    assert cell.kick_fan_outs() == [16, 64]
    m = NeuronModel.from_cell(cell)
    assert [f for f, _ in m.kicks_neuron_fan_out] == [16, 64]
    assert m.layer(1, 5, 64).kicks.p_kick == (-2e-3, -5e-3) and m.layer(1, 5, 8).kicks == m.kicks_neuron
    assert NeuronModel.from_cell(cell, kicks=False).kicks_neuron_fan_out is None
