"""Fitting the current scale(s) that map model weights onto circuit currents, with the circuit in the loop.

Bottom-up: one global factor (a bounded scalar search). Top-down: one factor per branch (Nelder-Mead started from
the global optimum). The objective is the RMSE of every layer's spike times between SPICE and the model on the
calibration samples, which come from the training split and are never the evaluated ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy.optimize import minimize, minimize_scalar

from imcpnn.verify.mapping import Scales

# The scale corrects the unit current (C_m, the table's currents); a bottom-up extraction lands within a few percent,
# a top-down mapping within tens of percent. The bounded searches below stay inside this range.
BOUNDS = (0.6, 1.6)


@dataclass
class Calibration:
    scales: Scales
    rmse: float  # model units, all layers, calibration samples
    evaluations: list[tuple[float, float, float]] = field(default_factory=list)  # (pos, neg, rmse)


def rmse(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    d = np.concatenate([(x - y).ravel() for x, y in zip(a, b)])
    return float(np.sqrt(np.mean(d ** 2)))


def fit(simulate: Callable[[Scales], list[np.ndarray]], target: list[np.ndarray], mode: str,
        log: Callable[[str], None] = lambda m: None) -> Calibration:
    """mode: 'none' (scale 1), 'global' or 'per-branch'."""
    evals: list[tuple[float, float, float]] = []

    def objective(s: Scales) -> float:
        s = Scales(float(np.clip(s.pos, *BOUNDS)), float(np.clip(s.neg, *BOUNDS)))
        e = rmse(simulate(s), target)
        evals.append((s.pos, s.neg, e))
        log(f"  calibration: scale +{s.pos:.4f} / -{s.neg:.4f} -> RMSE {e:.5f} T_circ")
        return e

    if mode == "none":
        return Calibration(Scales(), objective(Scales()), evals)
    res = minimize_scalar(lambda s: objective(Scales.global_(s)), bounds=BOUNDS, method="bounded",
                          options={"xatol": 3e-3, "maxiter": 14})
    best = Scales.global_(float(res.x))
    if mode == "global":
        return Calibration(best, float(res.fun), evals)
    if mode != "per-branch":
        raise ValueError(f"unknown calibration mode {mode!r}")
    res2 = minimize(lambda x: objective(Scales(x[0], x[1])), x0=[best.pos, best.neg], method="Nelder-Mead",
                    options={"xatol": 2e-3, "fatol": 1e-5, "maxfev": 16,
                             "initial_simplex": [[best.pos, best.neg], [best.pos * 1.05, best.neg],
                                                 [best.pos, best.neg * 1.05]]})
    pos, neg = (float(np.clip(v, *BOUNDS)) for v in res2.x)
    if res2.fun <= res.fun:
        return Calibration(Scales(pos, neg), float(res2.fun), evals)
    return Calibration(best, float(res.fun), evals)
