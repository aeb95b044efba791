"""The early spikes: a membrane at or past the threshold when the firing phase starts fires at the measured points'
time (interpolated in v), not at t_min; the record carries the points through JSON, layers and the ladder."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from imcpnn.errors import ConfigError
from imcpnn.laws import FiringLaw
from imcpnn.models.functional import fire_time
from imcpnn.models.layers import RCSpikeLinear
from imcpnn.neuron import NeuronModel

#: the tt cell's measured points (v_th, t_circ), 2026-11-30
EARLY = ((0.980, 0.0418), (1.001, 0.0221), (1.011, 0.0169), (1.021, 0.0143), (1.042, 0.0114), (1.102, 0.0088),
         (1.304, 0.0066), (1.994, 0.0042))
LAW = dict(e_dis=6.555, alpha_dis=1.085, threshold=1.0177, t_min=0.00415)


def test_fire_time_is_the_later_of_the_ramp_and_the_early_points():
    v = np.linspace(0.5, 2.5, 401)
    ramp = FiringLaw.from_cell(LAW["alpha_dis"], LAW["threshold"], LAW["t_min"], LAW["e_dis"]).fire_time(v)
    ev, et = np.array(EARLY).T
    ref = np.maximum(ramp, np.interp(v, ev, et))
    got = fire_time(torch.as_tensor(v), **LAW, early=EARLY).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-12)
    # at 0.01 v_th past the threshold the spike comes 4x later than t_min, the old answer there
    at = fire_time(torch.tensor([1.011], dtype=torch.float64), **LAW, early=EARLY)
    assert float(at) == pytest.approx(0.0169) and float(at) > 4 * LAW["t_min"]
    x = torch.linspace(0.6, 1.6, 23, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda y: fire_time(y, **LAW, early=EARLY), (x,))


def test_the_record_carries_the_early_points():
    m = NeuronModel(e_plus=3.0, e_minus=-1.8, e_dis=LAW["e_dis"], alpha_dis=LAW["alpha_dis"],
                    fire_threshold=LAW["threshold"], t_min=LAW["t_min"], early=EARLY, c_eff=((0, 1e-13), (64, 1.4e-13)),
                    design_fan_in=5)
    assert NeuronModel.from_dict(m.to_dict()) == m
    assert m.layer(1, 32).early == EARLY and m.at_level("+firing-law").early == EARLY
    assert m.at_level("+threshold").early is None  # the measured firing phase comes with the firing law
    lay = RCSpikeLinear(1, 1, m.layer(0, 1), solver="exact", offset="fixed", dtype=torch.float64)
    with torch.no_grad():
        lay.weight.fill_(1.4)  # from t = 0 the synapse lifts v past the threshold
        v = lay.membrane(torch.zeros(1, 1))
        t = lay(torch.zeros(1, 1))
    assert float(v) > LAW["threshold"] and float(t) == pytest.approx(np.interp(float(v), *np.array(EARLY).T))


@pytest.mark.parametrize("bad", [((1.0, 0.01),), ((1.0, 0.02), (1.0, 0.01)), ((1.0, 0.02), (1.1, 1.5))])
def test_a_bad_early_table_is_one_line(bad):
    with pytest.raises(ConfigError, match="early"):
        NeuronModel(early=bad)
