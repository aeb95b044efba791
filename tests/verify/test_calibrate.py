"""Scale calibration on a synthetic 'circuit' whose currents are off by known factors per branch."""

from __future__ import annotations

import numpy as np
import pytest

from imcpnn.verify.mapping import Scales
from imcpnn.neuron import NeuronModel
from imcpnn.verify.predict import model_times


def _setup():
    rng = np.random.default_rng(3)
    ws = [rng.uniform(-1, 1.2, (5, 5)), rng.uniform(-1, 1.2, (5, 5))]
    x = rng.uniform(0, 1, (12, 5))
    p = NeuronModel(2.9, -1.8, 6.5)
    return ws, x, p


@pytest.mark.parametrize("mode,true", [("global", (0.93, 0.93)), ("per-branch", (0.9, 1.08)),
                                       ("per-branch", (0.8, 1.2))])
def test_batched_fit_recovers_known_scales(mode, true):
    from imcpnn.verify.calibrate import fit_batched

    ws, x, p = _setup()

    def many(cands):
        return [model_times([np.where(w > 0, w * s.pos * true[0], w * s.neg * true[1]) for w in ws], x, p)
                for s in cands]

    cal = fit_batched(many, model_times(ws, x, p), mode)
    # the synthetic circuit is the model with scaled currents, so Gauss-Newton must land on the inverse factors
    assert cal.scales.pos == pytest.approx(1 / true[0], rel=2e-3)
    assert cal.scales.neg == pytest.approx(1 / true[1], rel=2e-3)
    assert cal.rmse < 1e-4
    # each SPICE candidate costs seconds: the search must stay a handful of batches
    assert len(cal.evaluations) <= (7 if mode == "global" else 16)


def test_calibration_log_is_in_ns_like_the_reports():
    from imcpnn.verify.calibrate import fit_batched

    ws, x, p = _setup()
    target = model_times(ws, x, p)
    lines: list[str] = []
    cal = fit_batched(lambda cands: [model_times([w * 1.01 for w in ws], x, p) for _ in cands], target, "none",
                      lines.append, t_circ_ns=1000.0)
    assert lines == [f"  calibration: scale +1.0000 / -1.0000 -> RMSE {cal.rmse * 1000:.2f} ns"]
    assert cal.rmse > 0
