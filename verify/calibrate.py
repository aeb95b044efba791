"""Fitting the current scale(s) that map model weights onto circuit currents, with the circuit in the loop.

Bottom-up: one global factor. Top-down: one factor per branch (started from the global optimum, then each branch). The objective is the RMSE of every layer's spike times between SPICE and the model on the
calibration samples, which come from the training split and are never the evaluated ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from scipy.optimize import minimize

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
    if mode not in ("global", "per-branch"):
        raise ValueError(f"unknown calibration mode {mode!r}")
    # Each evaluation is a SPICE run, so the search is a bracketed parabolic line search (about 5 evaluations per
    # direction) rather than a generic optimiser: RMSE(scale) is smooth and convex near its minimum.
    g, e = line_search(lambda x: objective(Scales.global_(x)), 1.0, 0.04 if mode == "global" else 0.1)
    best = Scales.global_(g)
    if mode == "global":
        return Calibration(best, e, evals)
    # The two branch scales compensate each other (a narrow valley): Nelder-Mead follows it, coordinate searches
    # do not. Started from the global optimum with a 6 % simplex.
    g = best.pos
    res = minimize(lambda x: objective(Scales(x[0], x[1])), x0=[g, g], method="Nelder-Mead",
                   options={"xatol": 3e-3, "fatol": 1e-6, "maxfev": 16,
                            "initial_simplex": [[g, g], [g * 1.06, g], [g, g * 0.94]]})
    if res.fun < e:
        return Calibration(Scales(float(np.clip(res.x[0], *BOUNDS)), float(np.clip(res.x[1], *BOUNDS))),
                           float(res.fun), evals)
    return Calibration(best, e, evals)


def line_search(f: Callable[[float], float], x0: float, step: float, f0: float | None = None,
                tol: float = 2e-3, max_evals: int = 7) -> tuple[float, float]:
    """Minimise f near x0 within BOUNDS: bracket the minimum with steps of `step`, then parabolic refinement."""
    lo_b, hi_b = BOUNDS
    pts: dict[float, float] = {}

    def ev(x: float) -> float:
        x = float(np.clip(round(x, 6), lo_b, hi_b))
        if x not in pts:
            pts[x] = f(x)
        return pts[x]

    if f0 is not None:
        pts[float(x0)] = f0
    ev(x0), ev(x0 - step), ev(x0 + step)
    while len(pts) < max_evals:
        xs = sorted(pts)
        xb = min(pts, key=pts.get)
        if xb == xs[0] and xb > lo_b:
            ev(xb - 2 * step)
            continue
        if xb == xs[-1] and xb < hi_b:
            ev(xb + 2 * step)
            continue
        i = xs.index(xb)
        a, b, c = xs[max(0, i - 1)], xb, xs[min(len(xs) - 1, i + 1)]
        fa, fb, fc = pts[a], pts[b], pts[c]
        den = (b - a) * (fb - fc) - (b - c) * (fb - fa)
        x_new = b if den == 0 else b - 0.5 * ((b - a) ** 2 * (fb - fc) - (b - c) ** 2 * (fb - fa)) / den
        x_new = float(np.clip(x_new, a, c))
        if min(abs(x_new - x) for x in pts) < tol:
            break
        ev(x_new)
    xb = min(pts, key=pts.get)
    return xb, pts[xb]
