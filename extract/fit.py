"""Fits used by the bottom-up extraction (pure numpy, no simulator).

Convention (docs/extraction.md): for each curve the branch current magnitude I(V) over the membrane window
[V_switch, V0] is written with x = s * (V - V0), s = +1 for the NMOS branch and the discharger (current falls as V
falls), s = -1 for the PMOS branch (current rises as V falls), so that

    linear:    I = I0 * (1 + lambda * x)            (lambda > 0 for all three devices)
    quadratic: I = I0q * (1 + lambda_q * x + kappa * x**2)   (kappa: curvature, 1/V^2)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from imcpnn.errors import ImcError
from imcpnn.laws import first_crossing, interp_in_log, interp_of_log

#: a linear CLM fit below this R^2 over the window is an error (names the curve)
R2_FLOOR = 0.98


class ExtractionError(ImcError):
    """The characterisation produced data that cannot be turned into model parameters."""

    exit_code = 4


@dataclass(frozen=True)
class CurveFit:
    label: str
    i0: float            # A, linear-fit current at V0
    lam: float           # 1/V
    kappa: float         # 1/V^2, from the quadratic fit
    i0_quad: float       # A
    lam_quad: float      # 1/V
    r2: float            # of the linear fit
    max_rel_residual: float  # of the linear fit, |I - fit| / I0, max over the window
    n_points: int

    def to_dict(self) -> dict:
        return asdict(self)


def window_mask(v: np.ndarray, lo: float, hi: float, tol: float = 1e-9) -> np.ndarray:
    return (v >= lo - tol) & (v <= hi + tol)


def fit_clm(v: np.ndarray, i: np.ndarray, v0: float, window: tuple[float, float], sign: float, label: str,
            r2_floor: float = R2_FLOOR, check: bool = True) -> CurveFit:
    """Least-squares CLM fit of one I(V) curve over ``window``; ``sign`` is s above (+1: NMOS/discharger, -1: PMOS).

    Raises ExtractionError naming ``label`` if the curve is unusable or the linear fit is below ``r2_floor``."""
    v = np.asarray(v, dtype=float)
    i = np.asarray(i, dtype=float)
    m = window_mask(v, *window)
    if m.sum() < 4:
        raise ExtractionError(f"curve {label}: only {int(m.sum())} points in the window {window} (need >= 4)")
    x = sign * (v[m] - v0)
    y = i[m]
    a1, a0 = np.polyfit(x, y, 1)
    if not a0 > 0:
        raise ExtractionError(f"curve {label}: current at V0 is {a0:.3e} A (not positive); bias outside the range")
    pred = a0 + a1 * x
    ss_res = float(np.sum((y - pred) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    max_rel = float(np.max(np.abs(y - pred)) / a0)
    b2, b1, b0 = np.polyfit(x, y, 2)
    fit = CurveFit(label=label, i0=float(a0), lam=float(a1 / a0), kappa=float(b2 / b0), i0_quad=float(b0),
                   lam_quad=float(b1 / b0), r2=float(r2), max_rel_residual=max_rel, n_points=int(m.sum()))
    if check and r2 < r2_floor:
        raise ExtractionError(f"curve {label}: linear CLM fit R^2 = {r2:.4f} below the floor {r2_floor} over "
                              f"[{window[0]:.3f}, {window[1]:.3f}] V (max residual {max_rel:.1%} of I0)")
    return fit


def weighted_lambda(fits: list[CurveFit], i_lo: float, i_hi: float, what: str) -> tuple[float, float, list[CurveFit]]:
    """Current-weighted mean lambda and kappa over the fits whose I0 lies in [i_lo, i_hi] (A)."""
    used = [f for f in fits if i_lo <= f.i0 <= i_hi]
    if len(used) < 2:
        raise ExtractionError(f"{what}: only {len(used)} bias curve(s) with I0 in [{i_lo:.3e}, {i_hi:.3e}] A; "
                              "widen the bias grid")
    w = np.array([f.i0 for f in used])
    lam = float(np.sum(w * np.array([f.lam for f in used])) / w.sum())
    kap = float(np.sum(w * np.array([f.kappa for f in used])) / w.sum())
    return lam, kap, used


def crossing(x: np.ndarray, y: np.ndarray, level: float, what: str) -> float:
    """First x where y crosses ``level`` (linear interpolation between samples)."""
    at = first_crossing(x, y, level)
    if at is None:
        raise ExtractionError(f"{what}: never crosses {level:.3f} V over [{x[0]:.3f}, {x[-1]:.3f}] V")
    return at


def monotone_table(v_gate: np.ndarray, i: np.ndarray, i_lo: float, i_hi: float) -> tuple[np.ndarray, np.ndarray]:
    """The largest contiguous run of the dense gate sweep that is positive, strictly monotone in current and lies
    within [i_lo, i_hi] (A).  Returned in ascending gate voltage."""
    v_gate = np.asarray(v_gate, dtype=float)
    i = np.asarray(i, dtype=float)
    order = np.argsort(v_gate)
    v_gate, i = v_gate[order], i[order]
    ok = (i >= i_lo) & (i <= i_hi)
    best: tuple[int, int] = (0, 0)
    n = len(i)
    start = 0
    while start < n:
        if not ok[start]:
            start += 1
            continue
        end = start + 1
        direction = 0
        while end < n and ok[end]:
            step = np.sign(i[end] - i[end - 1])
            if step == 0 or (direction and step != direction):
                break
            direction = direction or step
            end += 1
        if end - start > best[1] - best[0]:
            best = (start, end)
        start = end if end > start + 1 else start + 1
    a, b = best
    return v_gate[a:b], i[a:b]


def log_interp_error(v_gate: np.ndarray, i: np.ndarray) -> float:
    """Leave-one-out check of monotone log-current interpolation: drop every odd point, predict it from its even
    neighbours (linear in log I), return the max relative error. Bounds the error of the full table (half the step)."""
    v_gate = np.asarray(v_gate, dtype=float)
    i = np.asarray(i, dtype=float)
    if len(v_gate) < 3:
        return float("nan")
    vo, io = v_gate[1::2], i[1::2]
    keep = vo < v_gate[0::2][-1]
    pred = interp_of_log(vo[keep], v_gate[0::2], i[0::2])
    return float(np.max(np.abs(pred / io[keep] - 1.0))) if keep.any() else float("nan")


def interp_lambda(i_table: np.ndarray, fits: list[CurveFit]) -> np.ndarray:
    """lambda at each table current: linear interpolation of the per-curve lambda in log I0 (clamped at the ends)."""
    pts = sorted((f.i0, f.lam) for f in fits)
    return interp_in_log(i_table, [p[0] for p in pts], [p[1] for p in pts])


def slope(t: np.ndarray, v: np.ndarray, mask: np.ndarray, what: str) -> float:
    if mask.sum() < 5:
        raise ExtractionError(f"{what}: only {int(mask.sum())} transient samples in the linear part")
    return float(np.polyfit(np.asarray(t)[mask], np.asarray(v)[mask], 1)[0])


def column_capacitance(t: np.ndarray, v: np.ndarray, i_inj: float, t_circ: float, t_inj: float,
                       window: tuple[float, float], what: str) -> float:
    """C_eff of a column transient: the injected current over the membrane's slope, fitted from 0.08 T after the
    injection starts to 0.03 T before the accumulation ends, the membrane inside ``window``."""
    T = t_circ
    m = (t > T + t_inj + 0.08 * T) & (t < 2 * T - 0.03 * T) & (v > window[0]) & (v < window[1])
    s = slope(t, v, m, what)
    if not s < 0:
        raise ExtractionError(f"{what}: the membrane does not fall under the injected current")
    return i_inj / (-s)
