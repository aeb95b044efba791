"""Fitting the current scale(s) that map model weights onto circuit currents, with the circuit in the loop.

Bottom-up: one global factor. Top-down: one factor per branch. The objective is the RMSE of every layer's spike times
between SPICE and the model on the calibration samples, which come from the training split and are never the
evaluated ones.
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
                log: Callable[[str], None] = lambda m: None, *, max_iter: int = 5, h: float = 0.01,
                tol: float = 2e-3, t_circ_ns: float | None = None) -> Calibration:
    """Damped Gauss-Newton on the spike-time residuals (circuit minus model, every layer): spike times are smooth in
    the current scale, so each iteration needs one batch of 1 + n_params candidates (the centre and a forward
    difference per parameter), simulated in one loaded netlist per chunk (see simulate.simulate_scales). The step
    is bounded (0.15 per parameter per iteration) and the result stays inside BOUNDS; the best evaluated point is
    returned. Global: one factor for both branches; per-branch: (pos, neg). With t_circ_ns the log gives the RMSE in
    ns, like the reports."""
    evals: list[tuple[float, float, float]] = []
    tgt = _flat(target)

    def clip(c: Scales) -> Scales:
        return Scales(float(np.clip(c.pos, *BOUNDS)), float(np.clip(c.neg, *BOUNDS)))

    def run(cands: list[Scales]) -> list[np.ndarray]:
        cands = [clip(c) for c in cands]
        res = [_flat(t) - tgt for t in simulate_many(cands)]
        for c, r in zip(cands, res):
            e = float(np.sqrt(np.mean(r ** 2)))
            evals.append((c.pos, c.neg, e))
            err = f"{e:.5f} T_circ" if t_circ_ns is None else f"{e * t_circ_ns:.2f} ns"
            log(f"  calibration: scale +{c.pos:.4f} / -{c.neg:.4f} -> RMSE {err}")
        return res

    if mode == "none":
        run([Scales()])
        return Calibration(Scales(), evals[0][2], evals)
    if mode not in ("global", "per-branch"):
        raise ValueError(f"unknown calibration mode {mode!r}")

    def as_scales(x: np.ndarray) -> Scales:
        return Scales.global_(float(x[0])) if mode == "global" else Scales(float(x[0]), float(x[1]))

    x = np.ones(1 if mode == "global" else 2)
    for _ in range(max_iter):
        probes = [x] + [x + h * e for e in np.eye(len(x))]
        res = run([as_scales(p) for p in probes])
        r0 = res[0]
        J = np.stack([(r - r0) / h for r in res[1:]], axis=1)  # d residual / d scale
        JtJ = J.T @ J
        damp = 1e-6 * max(float(np.trace(JtJ)), 1e-12)
        step = -np.linalg.solve(JtJ + damp * np.eye(len(x)), J.T @ r0)
        step = np.clip(step, -0.15, 0.15)
        x = np.clip(x + step, *BOUNDS)
        if np.max(np.abs(step)) < tol:
            break
    run([as_scales(x)])
    p_, n_, e_min = min(evals, key=lambda t: t[2])
    return Calibration(Scales(p_, n_), e_min, evals)


def _flat(times: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([np.asarray(t, float).ravel() for t in times])


def rmse(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    d = np.concatenate([(x - y).ravel() for x, y in zip(a, b)])
    return float(np.sqrt(np.mean(d ** 2)))
