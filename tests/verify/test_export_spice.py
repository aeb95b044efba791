"""A 1-layer network exported to sky130 netlists: SPICE spike times against the bottom-up model, with no fitted scale
(the extraction alone must get it right).

Tolerance: issue 7 asks for 3 ns on random networks; this design measures 5.9 ns here (a neuron whose membrane swings
far below V_switch during accumulation fires ~23 ns early: the linear CLM model under-predicts the charge at large
swings). The test pins what is achieved today (8 ns, regression guard) and that the bottom-up model beats the ideal
top-down one by at least 2x; tightening it to the 3 ns floor is the open part of issue 7."""

from __future__ import annotations

import numpy as np
import pytest

from imcpnn.netlists import default_design
from imcpnn.pdk import lib_line
from imcpnn.verify.mapping import Scales
from imcpnn.verify.predict import ModelParams, model_times
from imcpnn.verify.simulate import simulate

pytestmark = [pytest.mark.spice, pytest.mark.slow]


def test_one_layer_export_matches_bottom_up_model(tt_cell):
    rng = np.random.default_rng(7)
    w = [rng.uniform(-1.0, 1.0, (5, 5)) * 1.1]
    x = rng.uniform(0, 1, (8, 5))
    circ = simulate(w, x, tt_cell, default_design(), lib_line(), Scales(), chunks=2, progress=False)
    model = model_times(w, x, ModelParams.from_cell(tt_cell))
    err_ns = (circ.times[0] - model[0]) * tt_cell.t_circ * 1e9
    rmse = float(np.sqrt(np.mean(err_ns ** 2)))
    assert rmse < 8.0, f"1-layer RMSE {rmse:.2f} ns; errors (ns):\n{np.round(err_ns, 1)}"
    # silent neurons agree exactly (no spike = 1 on both sides)
    assert np.array_equal(circ.times[0] == 1.0, model[0] == 1.0)
    # the ideal (top-down) model misses the circuit by much more
    ideal = model_times(w, x, ModelParams())
    assert np.sqrt(np.mean(((circ.times[0] - ideal[0]) * 1e3) ** 2)) > 2 * rmse
