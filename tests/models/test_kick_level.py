"""The kicks' dependence on the membrane level: each synapse's kick scaled by 1 + slope(w) (v - level(w)), v the
end-of-accumulation potential; the law from the stimulus-fed kicks at two levels (extract/kicks.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from imcpnn.cell import CellParams
from imcpnn.extract.kicks import KickFit, kick_level_law
from imcpnn.models.functional import SpikeLineKick
from imcpnn.models.layers import RCSpikeLinear
from imcpnn.neuron import KickLaw, KickLevelLaw, NeuronModel

KICKS = KickLaw((0.01, 0.1, 1.0, 10.0), (3e-3, 4e-3, 5.5e-3, 8e-3), (0.01, 0.1, 1.0, 6.0), (-2.4e-3, -3e-3, -4e-3, -6e-3))
LEVEL = KickLevelLaw((0.01, 1.0, 5.0), (-0.28, -0.27, -0.6), (0.43, 0.45, 0.54),
                     (0.01, 1.0, 6.0), (0.03, -0.1, -0.6), (0.42, 0.39, 0.23))
CELL = Path(__file__).resolve().parents[1] / "fixtures" / "cell_paper.json"


def _layer(level, scale_fan_in=None):
    m = NeuronModel(e_plus=3.0, e_minus=-1.8, kicks=KICKS, kick_level=level, c_eff=((0, 1e-13), (64, 1.4e-13)),
                    design_fan_in=6)
    lay = RCSpikeLinear(6, 3, m.layer(0, scale_fan_in), solver="exact", offset="fixed", dtype=torch.float64)
    with torch.no_grad():
        lay.weight.copy_(torch.linspace(-1.2, 1.6, 18, dtype=torch.float64).reshape(3, 6))
    return lay


@pytest.mark.parametrize("fan_in", [None, 32])
def test_each_kick_is_scaled_by_the_membrane_level(fan_in):
    t = torch.tensor([[0.1, 0.5, 1.0, 0.2, 0.9, 0.3], [1.0, 0.0, 0.4, 1.0, 0.6, 0.05]], dtype=torch.float64)
    flat, lay = _layer(None, fan_in), _layer(LEVEL, fan_in)
    s = lay.neuron.charge_scale
    with torch.no_grad():
        v = lay.membrane(t)
        w = lay.weight
        kick = SpikeLineKick(**KICKS.table())(w) * s
        slope, level = (SpikeLineKick(**tb)(w) for tb in LEVEL.tables())
        arrived = (t < 1).double()
        ref = torch.stack([torch.stack([sum(float(arrived[b, j]) * kick[i, j] * (1 + slope[i, j] * (v[b, i] - level[i, j]))
                                            for j in range(6)) for i in range(3)]) for b in range(2)])
        torch.testing.assert_close(lay.kick(t, v), ref, atol=1e-15, rtol=0)
        torch.testing.assert_close(flat.kick(t, v), arrived @ kick.T, atol=1e-15, rtol=0)
        assert not torch.allclose(ref, arrived @ kick.T, atol=1e-5)
        torch.testing.assert_close(lay(t), lay._fire(v + ref), atol=1e-14, rtol=0)


def test_the_record_keeps_the_law_and_drops_it_with_the_kicks():
    m = NeuronModel(kicks=KICKS, kick_level=LEVEL)
    assert NeuronModel.from_dict(json.loads(json.dumps(m.to_dict()))) == m and m.layer(1, 5).kick_level == LEVEL
    assert m.at_level("+firing-law").kick_level is None and m.at_level("+kicks").kick_level == LEVEL


def test_the_law_from_kicks_at_two_levels_and_through_the_cell():
    low = KickFit({}, {}, {}, {}, [("n", 0.1, 4e-3, 0.43), ("n", 1.0, 5.5e-3, 0.45), ("p", 0.1, -3e-3, 0.42),
                                   ("p", 1.0, -4e-3, 0.40)])
    high = KickFit({}, {}, {}, {}, [("n", 0.1, 3.6e-3, 0.83), ("n", 1.0, 4.4e-3, 0.85), ("p", 0.1, -3.06e-3, 0.82),
                                    ("p", 1.0, -4e-3, 0.80)])
    law = kick_level_law(low, high)
    assert law["n_slope"] == pytest.approx([-0.25, -0.5]) and law["p_slope"] == pytest.approx([0.05, 0.0])
    assert law["n_v"] == [0.43, 0.45] and law["p_w"] == [0.1, 1.0]
    base = json.loads(CELL.read_text())
    base["kicks"] = {k: list(v) for k, v in KICKS.table().items()}
    m = NeuronModel.from_cell(CellParams(**{**base, "kick_level": law}))
    assert m.kick_level.n_slope == pytest.approx((-0.25, -0.5)) and m.kick_level.p_v == (0.42, 0.40)
    assert NeuronModel.from_cell(CellParams(**base)).kick_level is None
    assert NeuronModel.from_cell(CellParams(**{**base, "kick_level": law}), kicks=False).kick_level is None


def test_no_law_where_a_branch_fired_at_one_level_only():
    low = KickFit({}, {}, {}, {}, [("n", 0.1, 4e-3, 0.43), ("n", 1.0, 5.5e-3, 0.45), ("p", 0.1, -3e-3, 0.42)])
    high = KickFit({}, {}, {}, {}, [("n", 0.1, 3.6e-3, 0.83), ("n", 1.0, 4.4e-3, 0.85), ("p", 0.1, -3e-3, 0.82)])
    assert kick_level_law(low, high) is None
