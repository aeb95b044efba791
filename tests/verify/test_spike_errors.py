"""Error figures that count pairs honestly: silent pairs do not flatter the fired-pair RMSE."""

import math

import numpy as np

from imcpnn.verify.spike_errors import fmt_ns, pair_errors


def test_fired_pair_rmse_ignores_pairs_where_neither_fires():
    circuit = np.array([[0.5, 1.0, 1.0, 0.2]])
    model = np.array([[0.502, 1.0, 0.9, 1.0]])
    e = pair_errors(circuit, model, 1000.0)
    assert (e["both_fired"], e["both_silent"], e["only_model_fired"], e["only_circuit_fired"]) == (1, 1, 1, 1)
    d = np.array([-2.0, 0.0, 100.0, -800.0])
    assert math.isclose(e["rmse_ns"], float(np.sqrt(np.mean(d ** 2))), rel_tol=1e-12)
    assert math.isclose(e["rmse_ns_fired"], float(np.sqrt(np.mean(d[[0, 2, 3]] ** 2))), rel_tol=1e-12)
    assert e["rmse_ns_fired"] > e["rmse_ns"] and e["max_abs_error_ns"] == 800.0


def test_no_fired_pair_is_no_figure_not_a_perfect_one():
    silent = np.ones((4, 1))
    e = pair_errors(silent, silent, 1000.0)
    assert e["rmse_ns"] == 0.0 and e["rmse_ns_fired"] is None and e["both_silent"] == 4
    assert fmt_ns(e["rmse_ns_fired"]) == "n/a" and fmt_ns(1.234) == "1.23"
