"""Variation-aware training, the sampled instance (train/variation.py): each mismatch term is applied with the
measured size, the threshold / ramp map is exact, draws are seeded, and the nominal forward pass is left untouched."""

import math
from pathlib import Path

import pytest
import torch

from imcpnn import models as M
from imcpnn.models import functional as Fn
from imcpnn.neuron import LayerModel, NeuronModel
from imcpnn.train import make_config
from imcpnn.train import variation as V
from imcpnn.train.config import VariationConfig
from imcpnn.train.net import build_net, forward_all, rc_layers
from imcpnn.variation import CurrentMismatch

CELL = Path(__file__).resolve().parents[1] / "fixtures" / "cell_paper.json"
# sky130-like sub-threshold mismatch: large at 1 nA, small at 300 nA; PMOS a little worse than NMOS
N_TABLE = {"i": [1e-9, 1e-8, 1e-7, 3e-7], "sigma_rel": [0.3, 0.15, 0.07, 0.05]}
P_TABLE = {"i": [1e-9, 1e-7, 3e-7], "sigma_rel": [0.4, 0.1, 0.08]}


def _sigmas(**kw) -> V.Sigmas:
    return V.Sigmas(**{"current": None, "weight": 0.0, "threshold": 0.0, "c_m": 0.0, "i_unit": None, **kw})


def _iris_net(sets=None):
    cfg, model, cell, _ = make_config("iris-bottomup", cell=CELL, sets=sets or {})
    torch.manual_seed(0)
    net = build_net(cfg, (5,), model)
    return cfg, model, cell, net


def test_vectorised_sigma_equals_the_records_sigma_at():
    table = CurrentMismatch(n=30, **N_TABLE)
    cur = torch.logspace(-10.5, -5.5, 97, dtype=torch.float64)
    got = V.sigma_of_current(table, cur)
    want = torch.tensor([table.sigma_at(float(i)) for i in cur], dtype=torch.float64)
    assert torch.allclose(got, want, atol=1e-12)


def test_weight_factor_std_matches_sigma_at_of_each_synapse_current():
    """Measured std (and mean 1) of every synapse's factor over 4000 instances against sigma_at(|w| i_unit) of its
    branch: n for w > 0, p for w < 0 (tables differ, so a branch mix-up fails)."""
    _, _, cell, net = _iris_net()
    layer = rc_layers(net)[0]
    with torch.no_grad():  # weights spanning the tables' currents, both signs
        mags = torch.logspace(math.log10(2e-9 / cell.i_unit), math.log10(4e-7 / cell.i_unit), 25).reshape(5, 5)
        layer.weight.copy_(mags * torch.tensor([1, -1, 1, -1, 1.0]))
    cn, cp = CurrentMismatch(n=30, **N_TABLE), CurrentMismatch(n=30, **P_TABLE)
    s = _sigmas(current={"n": cn, "p": cp}, i_unit=cell.i_unit)
    recs = [lay.neuron for lay in rc_layers(net)]
    n = 4000
    fs = torch.stack([V.draw(net, s, V.generator(7, i), recs).factors["layers.0.weight"] for i in range(n)])
    w = layer.weight.detach()
    want = torch.tensor([[(cn if x > 0 else cp).sigma_at(abs(float(x)) * cell.i_unit) for x in row] for row in w])
    got = fs.std(0)
    assert torch.all((got / want - 1).abs() < 5 * (want / math.sqrt(2 * n)) / want + 0.02)  # ~5 sigma of the estimate
    assert torch.all((fs.mean(0) - 1).abs() < 5 * want / math.sqrt(n))
    assert float(want.max()) > 0.25 and float(want.min()) < 0.07  # the test spans the table


def test_instance_moves_outputs_by_the_expected_amount():
    """Ideal neuron (E = inf, linear ramp): t = 1 - v, v = sum_j w_j (1 - t_j), so a factor of std sigma on every
    weight moves an unclipped output by sqrt(sum_j (w_j (1 - t_j))^2) sigma."""
    torch.manual_seed(1)
    net = M.make_mlp([6, 4], NeuronModel(), solver="exact", offset="fixed")
    with torch.no_grad():
        net.layers[0].weight.uniform_(0.0, 0.3)
    x = torch.rand(8, 6) * 0.5
    sigma = 0.1
    s = _sigmas(weight=sigma)
    recs = [net.layers[0].neuron]
    t0 = forward_all(net, x)[-1]
    ts = torch.stack([V.draw(net, s, V.generator(3, i), recs).forward(net, x)[-1] for i in range(3000)])
    want = ((net.layers[0].weight[None] * (1 - x[:, None, :])) ** 2).sum(-1).sqrt() * sigma
    inside = (t0 > 0.05) & (t0 < 0.95)
    assert inside.sum() > 10
    ratio = ts.std(0)[inside] / want.detach()[inside]
    assert torch.all((ratio - 1).abs() < 0.1), ratio
    assert torch.equal(V.nominal(recs).forward(net, x)[-1], t0)  # no mismatch: exactly the nominal pass


@pytest.mark.parametrize("e_dis,alpha,t_min", [(math.inf, None, 0.0), (6.44, None, 0.0), (6.5, 1.08, 0.004)])
def test_potential_map_is_the_shifted_threshold_and_ramp_exactly(e_dis, alpha, t_min):
    rec = LayerModel(e_plus=3.0, e_minus=-2.0, e_dis=e_dis, alpha_dis=alpha, fire_threshold=1.02, t_min=t_min)
    dtheta = torch.tensor([0.03, -0.05, 0.0, 0.01], dtype=torch.float64)
    ramp = torch.tensor([0.98, 1.03, 1.0, 1.01], dtype=torch.float64)
    fn = V.PotentialMap(rec, dtheta, ramp)
    v = torch.linspace(-1.5, 1.2, 55, dtype=torch.float64)[:, None].expand(55, 4)
    got = Fn.fire_time(fn(v), rec.e_dis, rec.ramp_rate, rec.threshold, rec.t_min)
    for k in range(4):
        base = rec.ramp_rate if rec.ramp_rate is not None else (
            1.0 if math.isinf(e_dis) else -math.log1p(-1 / e_dis) * e_dis)
        want = Fn.fire_time(v[:, k].contiguous(), rec.e_dis, base * float(ramp[k]), rec.threshold + float(dtheta[k]),
                            rec.t_min)
        assert torch.allclose(got[:, k], want, atol=1e-9), k


def test_c_eff_spread_scales_a_neurons_synapses_together():
    _, _, _, net = _iris_net()
    recs = [lay.neuron for lay in rc_layers(net)]
    s = _sigmas(c_m=0.02)
    fs = torch.stack([V.draw(net, s, V.generator(5, i), recs).factors["layers.1.weight"] for i in range(2000)])
    assert torch.allclose(fs, fs[..., :1].expand_as(fs))  # one factor per neuron (row)
    c_rel = 1.0 / fs[..., 0]  # C_instance / C_nominal
    assert abs(float(c_rel.std()) / 0.02 - 1) < 0.05
    inst = V.draw(net, s, V.generator(5, 0), recs)
    assert torch.allclose(inst.maps[1].ramp, fs[0, :, 0])  # the firing ramp lands on the same C


def test_ramp_spread_draws_per_neuron_without_touching_the_synapses():
    _, _, _, net = _iris_net()
    recs = [lay.neuron for lay in rc_layers(net)]
    s = _sigmas(ramp=0.12)
    insts = [V.draw(net, s, V.generator(4, i), recs) for i in range(2000)]
    ramps = torch.stack([inst.maps[0].ramp for inst in insts])
    assert abs(float(ramps.std()) / 0.12 - 1) < 0.05 and abs(float(ramps.mean()) - 1) < 0.01
    assert all(torch.equal(f, torch.ones_like(f)) for f in insts[0].factors.values())


def test_threshold_spread_draws_per_neuron_and_is_applied():
    _, _, _, net = _iris_net({"solver": "exact"})
    recs = [lay.neuron for lay in rc_layers(net)]
    s = _sigmas(threshold=0.02)
    shifts = torch.stack([V.draw(net, s, V.generator(9, i), recs).maps[0].shifted for i in range(3000)])
    assert abs(float((shifts - recs[0].threshold).std()) / 0.02 - 1) < 0.05
    x = torch.rand(20, 5)
    t0 = forward_all(net, x)[-1]
    t1 = V.draw(net, s, V.generator(9, 0), recs).forward(net, x)[-1]
    assert not torch.equal(t0, t1)
    assert torch.equal(forward_all(net, x)[-1], t0)  # nothing left behind on the layers


def test_draws_are_seeded():
    _, _, cell, net = _iris_net()
    recs = [lay.neuron for lay in rc_layers(net)]
    s = _sigmas(current={"n": CurrentMismatch(n=9, **N_TABLE), "p": CurrentMismatch(n=9, **P_TABLE)},
                i_unit=cell.i_unit, threshold=0.01, c_m=0.01)
    a, b, c = (V.draw(net, s, V.generator(*k), recs) for k in ((1, 2, 3), (1, 2, 3), (1, 2, 4)))
    for name in a.factors:
        assert torch.equal(a.factors[name], b.factors[name])
        assert not torch.equal(a.factors[name], c.factors[name])
    assert torch.equal(a.maps[0].shifted, b.maps[0].shifted)


def test_sigmas_from_the_cell_and_the_configs_override():
    cfg, _, cell, _ = _iris_net()
    from imcpnn.variation import Spread, Variation

    var = Variation(corner="tt_mm", temperature=27.0, seed=1, n_instances=30,
                    current={"n": CurrentMismatch(n=30, **N_TABLE), "p": CurrentMismatch(n=30, **P_TABLE)},
                    spreads={"c_m": Spread(n=30, mean=cell.c_m, std=0.01 * cell.c_m),
                             "v_switch": Spread(n=30, mean=cell.v_switch, std=0.005),
                             "alpha_dis": Spread(n=30, mean=1.1, std=0.11)})
    cv = cell.model_copy(update={"variation": var})
    s = V.resolve_sigmas(VariationConfig(from_cell=True), cv)
    assert s.current["p"] == var.current["p"] and s.i_unit == cell.i_unit and math.isclose(s.ramp, 0.1)
    assert math.isclose(s.c_m, 0.01) and math.isclose(s.threshold, 0.005 / cell.v_th)
    s2 = V.resolve_sigmas(VariationConfig(from_cell=True, threshold_sigma=0.02, weight_sigma=0.1, sigma_scale=2), cv)
    assert s2.current is None and s2.weight == 0.2 and s2.threshold == 0.04 and math.isclose(s2.c_m, 0.02)
    off = V.resolve_sigmas(VariationConfig(), cv)  # from_cell false: the cell's section is not used
    assert off.current is None and off.weight == off.threshold == off.c_m == 0.0
