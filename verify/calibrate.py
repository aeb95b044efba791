"""Fitting the current scale(s) that map model weights onto circuit currents, with the circuit in the loop.

Bottom-up: one global factor. Top-down: one factor per branch, searched from the global optimum. The objective is the
RMSE of every layer's spike times between SPICE and the model on the calibration samples, which come from the
training split and are never the evaluated ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


import numpy as np

from imcpnn.verify.mapping import Scales

# The scale corrects the unit current (C_m, the table's currents); a bottom-up extraction lands within a few percent,
# a top-down mapping within tens of percent. The bounded searches below stay inside this range.
BOUNDS = (0.6, 1.6)


@dataclass
class Calibration:
    scales: Scales
    rmse: float  # model units, all layers, calibration samples
    evaluations: list[tuple[float, float, float]] = field(default_factory=list)  # (pos, neg, rmse)


def fit_batched(simulate_many: Callable[[list[Scales]], list[list[np.ndarray]]], target: list[np.ndarray], mode: str,
                log: Callable[[str], None] = lambda m: None) -> Calibration:
    """Grid-then-refine search where each round is one batch of candidates simulated in one loaded netlist per chunk
    (see simulate.simulate_scales): a few rounds of SPICE instead of one netlist expansion per evaluation."""
    evals: list[tuple[float, float, float]] = []

    def run(cands: list[Scales]) -> list[float]:
        cands = [Scales(float(np.clip(c.pos, *BOUNDS)), float(np.clip(c.neg, *BOUNDS))) for c in cands]
        errs = [rmse(t, target) for t in simulate_many(cands)]
        for c, e in zip(cands, errs):
            evals.append((c.pos, c.neg, e))
            log(f"  calibration: scale +{c.pos:.4f} / -{c.neg:.4f} -> RMSE {e:.5f} T_circ")
        return errs

    if mode == "none":
        e, = run([Scales()])
        return Calibration(Scales(), e, evals)
    if mode not in ("global", "per-branch"):
        raise ValueError(f"unknown calibration mode {mode!r}")
    g = 1.0
    for step, n in ((0.05, 7), (0.012, 5)):  # coarse grid, then a fine one around the best (parabolic vertex)
        xs = [g + step * (k - n // 2) for k in range(n)]
        errs = run([Scales.global_(x) for x in xs])
        k = int(np.argmin(errs))
        g = xs[k]
        if 0 < k < n - 1:
            a, b, c = errs[k - 1], errs[k], errs[k + 1]
            den = a - 2 * b + c
            if den > 0:
                g = xs[k] + 0.5 * step * (a - c) / den
    best_e = min(e for p_, n_, e in evals if p_ == n_)
    best = Scales.global_(min(((e, p_) for p_, n_, e in evals if p_ == n_))[1])
    if mode == "global":
        e, = run([Scales.global_(g)])
        return Calibration(Scales.global_(g), e, evals) if e <= best_e else Calibration(best, best_e, evals)
    center = (best.pos, best.neg)
    # 3x3 pattern search (the two branch scales compensate each other along a valley): move while it improves,
    # then shrink the step; at most 4 batches
    step, rounds, e_center = 0.06, 0, best_e
    while step >= 0.007 and rounds < 4:
        cands = [Scales(center[0] + step * i, center[1] + step * j) for i in (-1, 0, 1) for j in (-1, 0, 1)
                 if (i, j) != (0, 0)]
        errs = run(cands)
        rounds += 1
        k = int(np.argmin(errs))
        if errs[k] < e_center:
            center, e_center = (cands[k].pos, cands[k].neg), errs[k]
        else:
            step /= 2
    e_min = min(e for _, _, e in evals)
    p_, n_, _ = next(t for t in evals if t[2] == e_min)
    return Calibration(Scales(p_, n_), e_min, evals)


def rmse(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    d = np.concatenate([(x - y).ravel() for x, y in zip(a, b)])
    return float(np.sqrt(np.mean(d ** 2)))
