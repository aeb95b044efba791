"""The cell's laws in numpy, shared by extraction (extract/) and verification (verify/); no torch here
(models.functional.fire_time is the differentiable twin of :func:`fire_time` and is tested against it).

- The firing law: in the firing phase the membrane ramps as ``dv/dt = a (1 - b v)`` from its end-of-accumulation
  potential v (model units, b = 1/e_dis) until it reaches the effective threshold theta; the spike comes at
  ``t = [ln(1 - b v) - ln(1 - b theta)] / (a b)`` (``(theta - v) / a`` for b = 0), never before the overdriven
  comparator's latency t_min and never after the phase (1). :func:`fire_potential` inverts the unclipped law.
- Level crossings of sampled waveforms, linearly interpolated between samples.
- Interpolation in log current over bias tables (exact for the exponential sub-threshold law).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FiringLaw:
    """Ramp rate ``alpha`` (a), discharger CLM ``beta`` (b = 1/e_dis, 0 for an ideal ramp), ``threshold`` (theta)
    and ``t_min``."""

    alpha: float
    beta: float = 0.0
    threshold: float = 1.0
    t_min: float = 0.0

    @classmethod
    def from_cell(cls, alpha: float | None, threshold: float, t_min: float, e_dis: float) -> "FiringLaw":
        """The law of a cell.json's firing fields; ``alpha`` None (or 0): the paper's ``-ln(1 - b) / b``."""
        b = 1.0 / e_dis if math.isfinite(e_dis) else 0.0
        if not alpha:
            alpha = -math.log1p(-b) / b if b else 1.0
        return cls(float(alpha), b, float(threshold), float(t_min))

    def ramp_time(self, v):
        """Unclipped time (model units) for the ramp to bring ``v`` to the threshold; v above it gives t < 0."""
        a, b, th = self.alpha, self.beta, self.threshold
        if b == 0:
            return (th - np.asarray(v, float)) / a
        return (np.log1p(-b * np.asarray(v, float)) - math.log1p(-b * th)) / (a * b)

    def fire_time(self, v):
        """Spike time of end-of-accumulation potential(s) ``v``: the ramp time clipped to [max(0, t_min), 1]."""
        t = self.ramp_time(np.minimum(np.asarray(v, float), self.threshold))
        return np.clip(t, max(0.0, self.t_min), 1.0)

    def fire_potential(self, t):
        """The potential whose ramp time is ``t``: the inverse of :meth:`ramp_time` (and of :meth:`fire_time` where
        that is not clipped)."""
        a, b, th = self.alpha, self.beta, self.threshold
        t = np.asarray(t, float)
        if b == 0:
            return th - a * t
        return -np.expm1(math.log1p(-b * th) + a * b * t) / b


def rising_crossing(t: np.ndarray, v: np.ndarray, level: float, t0: float, t1: float) -> float | None:
    """First time in [t0, t1) where ``v`` reaches ``level`` from below (``t`` ascending), linearly interpolated;
    ``t0``'s sample when ``v`` is already there at the window start; None when it never gets there."""
    i0, i1 = np.searchsorted(t, t0), np.searchsorted(t, t1)
    if i1 - i0 < 2:
        return None
    above = v[i0:i1] >= level
    if above[0]:
        return float(t[i0])
    k = int(np.argmax(above))
    if not above[k]:
        return None
    return _between(t, v, i0 + k - 1, level)


def first_crossing(x: np.ndarray, y: np.ndarray, level: float) -> float | None:
    """First ``x`` where ``y`` crosses (or touches) ``level`` in either direction, linearly interpolated; None if
    it never does."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    d = y - level
    k = [j for j in np.where(np.sign(d[:-1]) * np.sign(d[1:]) <= 0)[0] if d[j] != d[j + 1]]
    return _between(x, y, k[0], level) if k else None


def _between(x: np.ndarray, y: np.ndarray, j: int, level: float) -> float:
    return float(x[j] + (level - y[j]) * (x[j + 1] - x[j]) / (y[j + 1] - y[j]))


def interp_in_log(x, xs, ys, extend_low: bool = False):
    """``ys`` at ``x``, piecewise linear in log x over the table ``xs`` (positive, ascending); clamped at the ends,
    or with ``extend_low`` continued below the table along its first segment."""
    lx, lxs = np.log(np.asarray(x, float)), np.log(np.asarray(xs, float))
    ys = np.asarray(ys, float)
    out = np.interp(lx, lxs, ys)
    if extend_low:
        slope = (ys[1] - ys[0]) / (lxs[1] - lxs[0])
        out = np.where(lx < lxs[0], ys[0] + slope * (lx - lxs[0]), out)
    return out


def interp_of_log(x, xs, ys):
    """``ys`` (positive) at ``x``, with log ys piecewise linear in x over ``xs`` (ascending); clamped at the ends."""
    return np.exp(np.interp(np.asarray(x, float), np.asarray(xs, float), np.log(np.asarray(ys, float))))
