"""Model-vs-circuit spike-time errors, honestly counted: a pair where neither side fires is an exact 0 that says
nothing about the model, so the errors are given over all pairs and over the pairs where at least one side fires,
with the counts of each kind of pair."""

from __future__ import annotations

from typing import Any

import numpy as np


def pair_errors(circuit: np.ndarray, model: np.ndarray, t_ns: float) -> dict[str, Any]:
    """RMSE (ns) over all pairs and over the pairs where model or circuit fires (t < 1; None when no pair fires: there
    is nothing to measure, and 0 would claim a perfect model), the max |error| and the counts of both-fired,
    both-silent and fired-in-only-one pairs, for one layer's (samples, neurons) times."""
    c, m = np.asarray(circuit, float), np.asarray(model, float)
    fc, fm = c < 1.0, m < 1.0
    d = (c - m) * t_ns
    fired = fc | fm
    return {"rmse_ns": float(np.sqrt(np.mean(d ** 2))),
            "rmse_ns_fired": float(np.sqrt(np.mean(d[fired] ** 2))) if fired.any() else None,
            "max_abs_error_ns": float(np.abs(d).max()),
            "both_fired": int((fc & fm).sum()), "both_silent": int((~fc & ~fm).sum()),
            "only_circuit_fired": int((fc & ~fm).sum()), "only_model_fired": int((~fc & fm).sum())}


def fmt_ns(x: float | None) -> str:
    """A figure in ns for reports: two decimals, or n/a when there was nothing to measure."""
    return "n/a" if x is None else f"{x:.2f}"


def layer_errors(circuit: list[np.ndarray], model: list[np.ndarray], t_ns: float) -> list[dict[str, Any]]:
    return [pair_errors(c, m, t_ns) for c, m in zip(circuit, model)]
