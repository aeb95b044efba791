"""The model ladder (imcpnn.neuron.LADDER): each level is the full bottom-up record with the later refinements
switched off, predicted through the one forward pass."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from imcpnn.cell import load_cell
from imcpnn.errors import ConfigError
from imcpnn.laws import FiringLaw
from imcpnn.neuron import LADDER, KickLaw, NeuronModel
from imcpnn.verify.predict import model_times

KICKS = KickLaw(n_w=(0.01, 1.0, 10.0), n_kick=(3e-3, 7e-3, 2.5e-2), p_w=(0.01, 1.0, 6.0),
                p_kick=(-2.5e-3, -8e-3, -2e-2), n_delay=0.01, p_delay=0.03)
C_EFF = ((0, 109.4e-15), (2, 110.6e-15), (5, 112.4e-15), (10, 115.5e-15))
KICKS_NEURON = replace(KICKS, n_kick=(5e-3, 1e-2, 3e-2), p_kick=(-4e-3, -1e-2, -2.5e-2), n_delay=0.005,
                       p_delay=0.02)


@pytest.fixture(scope="module")
def full() -> NeuronModel:
    """A full bottom-up record: the paper fixture's E, E_dis and lambda table, with a measured firing law, kicks,
    delays and C_eff points of the size the tt cell has."""
    base = NeuronModel.from_cell(load_cell("tests/fixtures/cell_paper.json"))
    return replace(base, alpha_dis=1.08, fire_threshold=1.03, t_min=0.02, kicks=KICKS, kicks_neuron=KICKS_NEURON,
                   c_eff=C_EFF, design_fan_in=5)


def _net():
    """A 6-4-3 network (fan-in 6 and 4, both off the design fan-in 5) with weights up to the lambda table's range."""
    rng = np.random.default_rng(3)
    w = [rng.uniform(-1.5, 3.0, (4, 6)), rng.uniform(-1.5, 3.0, (3, 4))]
    return w, rng.uniform(0.0, 0.9, (12, 6))


def test_each_level_differs_from_the_next(full):
    w, x = _net()
    times = {lv: model_times(w, x, full.at_level(lv)) for lv in LADDER}
    for lo, hi in zip(LADDER, LADDER[1:]):
        diff = [float(np.abs(a - b).max()) for a, b in zip(times[lo], times[hi])]
        assert max(diff) > 1e-4, f"{lo} -> {hi} changes nothing: {diff}"  # 0.1 ns of a 1 us phase
    # the neuron-fed table only concerns layers fed by neurons: the first layer is untouched
    assert np.array_equal(times["+kicks"][0], times["+neuron-kicks"][0])
    assert not np.array_equal(times["+kicks"][1], times["+neuron-kicks"][1])


def test_paper_level_is_the_papers_form(full):
    paper = full.at_level("paper")
    assert (paper.lambda_table, paper.kicks, paper.kicks_neuron, paper.c_eff) == (None, None, None, None)
    assert (paper.alpha_dis, paper.fire_threshold, paper.t_min) == (None, 1.0, 0.0)
    assert (paper.e_plus, paper.e_minus, paper.e_dis) == (full.e_plus, full.e_minus, full.e_dis)
    # the paper's firing law: the ramp from v = 0 reaches the threshold exactly at the end of the firing phase
    law = FiringLaw.from_cell(paper.alpha_dis, paper.fire_threshold, paper.t_min, paper.e_dis)
    assert law.fire_time(0.0) == pytest.approx(1.0, abs=1e-12)
    assert law.alpha == pytest.approx(-math.log1p(-1 / full.e_dis) * full.e_dis)
    w, x = _net()
    plain = model_times(w, x, NeuronModel(full.e_plus, full.e_minus, full.e_dis))
    for a, b in zip(model_times(w, x, paper), plain):
        assert np.array_equal(a, b)


def test_levels_switch_on_one_refinement_each(full):
    thr = full.at_level("+threshold")
    assert thr.fire_threshold == full.fire_threshold and thr.alpha_dis is None and thr.lambda_table is None
    law = full.at_level("+firing-law")
    assert (law.alpha_dis, law.t_min) == (full.alpha_dis, full.t_min) and law.kicks is None
    kicks = full.at_level("+kicks")
    assert kicks.kicks_neuron is None and kicks.layer(1).kicks == kicks.layer(0).kicks
    assert not kicks.kicks.has_delays and kicks.kicks.n_kick == KICKS.n_kick
    assert not full.at_level("+neuron-kicks").kicks_neuron.has_delays
    delays = full.at_level("+delays")
    assert delays.kicks == KICKS and delays.kicks_neuron == KICKS_NEURON and delays.c_eff is None


def test_top_level_is_the_full_model(full):
    top = full.at_level(LADDER[-1])
    assert top == full
    w, x = _net()
    for a, b in zip(model_times(w, x, top), model_times(w, x, full)):
        assert np.array_equal(a, b)


def test_one_refinement_left_out_of_the_full_model(full):
    assert full.refined(LADDER[1:]) == full
    no_stimulus = full.refined(set(LADDER[1:]) - {"+kicks"})
    assert no_stimulus.kicks is None and no_stimulus.kicks_neuron == KICKS_NEURON and no_stimulus.c_eff == C_EFF
    no_lambda = full.refined(set(LADDER[1:]) - {"+lambda-table"})
    assert no_lambda == replace(full, lambda_table=None)
    with pytest.raises(ConfigError, match="unknown refinement"):
        full.refined({"+kicks", "kicks"})


def test_unknown_level_is_a_config_error(full):
    with pytest.raises(ConfigError, match="the ladder is paper, \\+threshold"):
        full.at_level("kicks")
