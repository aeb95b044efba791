"""Pure functional core of the RC-Spike / TTFS physical neural network (docs/paper.md §1 and §4).

Conventions (shared by every function here)
------------------------------------------
* Shapes follow ``torch.nn.Linear``: input spike times ``t_in`` are ``(batch, n_in)``, weights ``w`` are
  ``(n_out, n_in)``, outputs are ``(batch, n_out)``.
* Time is normalised to one phase, the accumulation phase is ``[0, 1]``. A spike at ``t >= 1`` contributes nothing.
* ``beta_ij = 1/e_plus`` for ``w_ij >= 0`` and ``1/e_minus`` for ``w_ij < 0`` so that ``beta_ij * w_ij >= 0``;
  ``e_plus = inf`` / ``e_minus = -inf`` is the ideal limit (``beta = 0``).
* Accumulation ODE: ``dv/dt = -leak * v + sum_j w_ij (1 - beta_ij v) theta(t - t_j)``, ``v(0) = 0``.
  Between two events ``f = leak + sum beta w`` and ``g = sum w`` are constant and
  ``v(t+h) = v(t) exp(-f h) + g * phi(f, h)``, ``phi(f, h) = (1 - exp(-f h)) / f = -expm1(-f h)/f`` (limit ``h`` for
  ``f -> 0``). Both solvers evaluate the recursion in closed form in log space:
  ``v(end) = sum_k g_k phi_k exp(-sum_{q>k} f_q h_q)``; every exponent is ``<= 0`` so nothing overflows, and
  there is no sequential loop over the events.
* Device and dtype follow ``t_in`` / ``w``.

Only torch / math are imported here (docs/architecture.md: models must not import other stages).
"""
from __future__ import annotations

import math
from typing import Callable, Optional, Iterable, Sequence, Union

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

Tensor = torch.Tensor
Number = Union[float, int]

__all__ = [
    "beta_of",
    "CurrentDependentBeta",
    "SpikeLineKick",
    "rcspike_exact",
    "rcspike_dstd",
    "rcspike_trajectory",
    "fire_ramp",
    "dstd_grid",
    "soft_heaviside",
    "fire_time",
    "ttfs_exact",
    "ttfs_dstd",
    "spike_ce_loss",
    "temporal_penalty",
    "weight_l2",
    "early_spike_penalty",
    "predict",
]

# |x| below which phi and log1p(y)/y are evaluated by their Taylor series. With 5 terms the truncation error is
# x^5/720 < 1.4e-13 (relative) at the switch, below float64 gradcheck tolerances and far below float32 eps.
_SERIES_X = 1e-2


# --------------------------------------------------------------------------------------------------------------------
# numerically safe building blocks
# --------------------------------------------------------------------------------------------------------------------
# _phi_value and _dphi_df run outside autograd (inside custom Functions) on the largest tensors of both solvers, so
# they work in place: every avoided temporary is a full (n_out, batch, n_in) or (batch, K-1, n_out) copy. Where x is
# small the closed form may be 0/0; torch.where discards it (non-small x implies f != 0).
def _phi_value(f: Tensor, h: Tensor) -> Tensor:
    x = f * h
    small = x.abs() < _SERIES_X
    ser = x.div(5).neg_().add_(1).mul_(x).div_(4).neg_().add_(1).mul_(x).div_(3).neg_().add_(1)
    ser = ser.mul_(x).div_(2).neg_().add_(1).mul_(h)  # h (1 - x/2 (1 - x/3 (1 - x/4 (1 - x/5))))
    big = x.neg_().expm1_().neg_().div_(f)  # reuses x
    return torch.where(small, ser, big)


def _dphi_df(f: Tensor, h: Tensor, phi: Tensor, e: Optional[Tensor] = None) -> Tensor:
    """d phi / df = (h e - phi) / f with e = exp(-f h) (computed here unless given); series
    h^2 (-1/2 + x/3 - x^2/8 + x^3/30 - x^4/144) near x = f h = 0, where the closed form cancels catastrophically."""
    x = f * h
    small = x.abs() < _SERIES_X
    ser = x.div(-144).add_(1.0 / 30).mul_(x).neg_().add_(1.0 / 8).mul_(x).neg_().add_(1.0 / 3)
    ser = ser.mul_(x).sub_(0.5).mul_(h).mul_(h)
    big = x.neg_().exp_() if e is None else x.copy_(e)  # reuses x
    big.mul_(h).sub_(phi).div_(f)
    return torch.where(small, ser, big)


class _Phi(torch.autograd.Function):
    """phi(f, h) = (1 - exp(-f h)) / f with the f -> 0 limit h; custom backward so that only (f, h, phi) are saved
    (this matters for the memory of the exact solver, whose f is (batch, n_out, n_in))."""

    @staticmethod
    def forward(ctx, f: Tensor, h: Tensor) -> Tensor:
        out = _phi_value(f, h)
        ctx.save_for_backward(f, h, out)
        return out

    @staticmethod
    @once_differentiable  # _dphi_df works in place
    def backward(ctx, grad):
        f, h, out = ctx.saved_tensors
        e = torch.exp(-f * h) if ctx.needs_input_grad[1] else None
        gf = gh = None
        if ctx.needs_input_grad[0]:
            gf = _sum_to(grad * _dphi_df(f, h, out, e), f.shape)
        if ctx.needs_input_grad[1]:
            gh = _sum_to(grad * e, h.shape)  # d phi / dh = exp(-f h)
        return gf, gh


def _sum_to(g: Tensor, shape) -> Tensor:
    """Reduce a broadcast gradient back to ``shape``."""
    if g.shape == shape:
        return g
    nd = g.dim() - len(shape)
    if nd:
        g = g.sum(dim=tuple(range(nd)))
    dims = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    if dims:
        g = g.sum(dim=dims, keepdim=True)
    return g


def _phi(f: Tensor, h: Tensor) -> Tensor:
    return _Phi.apply(f, h)


def _log1p_over(y: Tensor) -> Tensor:
    """log1p(y)/y with the y -> 0 limit 1 (y >= 0 expected)."""
    small = y.abs() < _SERIES_X
    y_safe = torch.where(small, torch.ones_like(y), y)
    ser = 1 - y / 2 * (1 - y * 2 / 3 * (1 - y * 3 / 4 * (1 - y * 4 / 5)))
    return torch.where(small, ser, torch.log1p(y_safe) / y_safe)


def _inv(e: Number) -> float:
    e = float(e)
    if e == 0:
        raise ValueError("a reversal potential of 0 is not physical (beta = 1/E would be infinite)")
    return 0.0 if math.isinf(e) else 1.0 / e


def _beta_pm(e_plus: Number, e_minus: Number):
    if float(e_plus) <= 0:
        raise ValueError(f"e_plus must be > 0 (got {e_plus})")
    if float(e_minus) >= 0:
        raise ValueError(f"e_minus must be < 0 (got {e_minus})")
    return _inv(e_plus), _inv(e_minus)


def beta_of(w: Tensor, e_plus: Number = math.inf, e_minus: Number = -math.inf) -> Tensor:
    """beta_ij = 1/e_plus where w_ij >= 0 else 1/e_minus (0 for infinite E). ``beta * w >= 0`` when e_minus < 0."""
    bp, bm = _beta_pm(e_plus, e_minus)
    return torch.full_like(w, bm).masked_fill_(w >= 0, bp)


def _beta_w(w: Tensor, e_plus: Number, e_minus: Number, beta) -> Tensor:
    """beta * w, with ``beta`` (a callable of w) replacing 1/E+- when given. Without it this is
    ``beta_of(w) * w`` written as a select of two scaled copies, so autograd keeps a boolean mask instead of a full
    beta tensor for backward."""
    if beta is not None:
        return beta(w) * w
    bp, bm = _beta_pm(e_plus, e_minus)
    return torch.where(w >= 0, w * bp, w * bm)


def interp_clamped(x: Tensor, xs: Tensor, ys: Tensor) -> Tensor:
    """Piecewise-linear interpolation of the table (xs increasing, ys) at x, held at the end values; differentiable
    in x (the tables: lambda against log current, kicks against log weight, early spike times against v)."""
    xs, ys = xs.to(x), ys.to(x)
    xc = x.clamp(xs[0], xs[-1])
    i = torch.searchsorted(xs, xc.detach().contiguous()).clamp(1, len(xs) - 1)
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return y0 + (y1 - y0) * (xc - x0) / (x1 - x0)


class CurrentDependentBeta:
    """Per-synapse beta from measured CLM coefficients that depend on the synapse current (bottom-up refinement).

    A single E per sign (docs/paper.md §1.1) averages lambda over currents; a real stack's lambda changes with the bias
    (e.g. the PMOS stack's from 0.78 to 0.58 /V between 0.05 and 3 units, as the series selector takes voltage).
    Here beta_ij = v_th * lambda_n(|w_ij| i_unit) for w >= 0 and -v_th * lambda_p(|w_ij| i_unit) for w < 0, with
    lambda interpolated piecewise-linearly in log current (clamped at the table ends). Differentiable in w.
    Tables: currents (A, increasing) and lambdas (1/V) per branch."""

    def __init__(self, i_unit: float, v_th: float, n_current: Sequence[float], n_lambda: Sequence[float],
                 p_current: Sequence[float], p_lambda: Sequence[float]):
        self.i_unit, self.v_th = float(i_unit), float(v_th)
        self.tables = {k: (torch.log(torch.as_tensor(c, dtype=torch.float64)), torch.as_tensor(l, dtype=torch.float64))
                       for k, c, l in (("n", n_current, n_lambda), ("p", p_current, p_lambda))}
        for k, (x, _) in self.tables.items():
            if len(x) < 2 or not bool(torch.all(torch.diff(x) > 0)):
                raise ValueError(f"lambda table '{k}' needs >= 2 strictly increasing currents")

    def __call__(self, w: Tensor) -> Tensor:
        logi = torch.log(w.abs().clamp_min(1e-6) * self.i_unit)
        lam_n = interp_clamped(logi, *self.tables["n"])
        lam_p = interp_clamped(logi, *self.tables["p"])
        return torch.where(w >= 0, self.v_th * lam_n, -self.v_th * lam_p)


class SpikeLineKick:
    """Per-synapse potential added at the firing start by a synapse whose input spike arrived (bottom-up, beyond
    the paper's model, docs/paper.md; measured by imc-extract, extract/kicks.py): the falling spike edge switches the
    selector off while the memory transistor is biased, which moves the membrane in the branch's direction by more as
    the bias grows.

    ``kick(w)`` is interpolated piecewise-linearly in log|w| per branch (NMOS table for w > 0, PMOS for w < 0),
    clamped at the table ends, and 0 for |w| < ``off`` (a synapse exported as biased off). Differentiable in w.
    :meth:`arrived` gives the (batch, n_out) sum over the inputs with t < 1."""

    def __init__(self, n_w: Sequence[float], n_kick: Sequence[float], p_w: Sequence[float],
                 p_kick: Sequence[float], off: float = 1e-3):
        self.off = float(off)
        self.tables = {k: (torch.log(torch.as_tensor(w, dtype=torch.float64)), torch.as_tensor(y, dtype=torch.float64))
                       for k, w, y in (("n", n_w, n_kick), ("p", p_w, p_kick))}
        for k, (x, _) in self.tables.items():
            if len(x) < 2 or not bool(torch.all(torch.diff(x) > 0)):
                raise ValueError(f"kick table '{k}' needs >= 2 strictly increasing weights")

    @classmethod
    def from_table(cls, t: dict) -> "SpikeLineKick":
        """From a cell's kick table (CellParams.kicks / kicks_neuron as a dict; the delays are not used here)."""
        return cls(t["n_w"], t["n_kick"], t["p_w"], t["p_kick"])

    def __call__(self, w: Tensor) -> Tensor:
        a = w.abs()
        la = torch.log(a.clamp_min(self.off))
        kn = interp_clamped(la, *self.tables["n"])
        kp = interp_clamped(la, *self.tables["p"])
        return torch.where(a < self.off, torch.zeros_like(w), torch.where(w > 0, kn, kp))

    def arrived(self, t_in: Tensor, w: Tensor) -> Tensor:
        return torch.matmul((t_in < 1.0).to(w.dtype), self(w).transpose(0, 1))


def _scan_end(g: Tensor, f: Tensor, h: Tensor, dim: int) -> Tensor:
    """v at the end of a sequence of intervals with constant (f, g) and widths h along ``dim``, v(start) = 0:
    v = sum_k g_k phi(f_k, h_k) exp(-sum_{q>k} f_q h_q) (all exponents <= 0)."""
    x = f * h
    c = torch.cumsum(x, dim=dim)
    r_excl = c.narrow(dim, c.shape[dim] - 1, 1) - c  # sum over q > k
    r_excl = r_excl.clamp_min(0.0)  # round-off of the subtraction must not create exp(+eps) > 1 terms
    return (g * _phi(f, h) * torch.exp(-r_excl)).sum(dim)


# --------------------------------------------------------------------------------------------------------------------
# exact event-ordered solver (docs/paper.md §1.2)
# --------------------------------------------------------------------------------------------------------------------
def _check_shapes(t_in: Tensor, w: Tensor) -> None:
    if t_in.dim() != 2 or w.dim() != 2 or t_in.shape[1] != w.shape[1]:
        raise ValueError(
            f"expected t_in (batch, n_in) and w (n_out, n_in); got t_in {tuple(t_in.shape)}, w {tuple(w.shape)}"
        )


def _exact_end(t_in: Tensor, w: Tensor, bw: Tensor, leak: float, t_end: float) -> Tensor:
    ts, idx = torch.sort(t_in.clamp(max=t_end), dim=1)  # spikes after t_end contribute nothing
    wb = torch.stack((w, bw))  # (2, n_out, n_in)
    gf = torch.cumsum(wb[:, :, idx], dim=-1)  # (2, n_out, batch, n_in): cumulative g and f in spike order
    g, f = gf[0], gf[1]
    if leak:
        f = f + leak
    h = torch.diff(ts, dim=1, append=torch.full_like(ts[:, :1], t_end))  # (batch, n_in), >= 0
    v = _scan_end(g, f, h, dim=-1)  # (n_out, batch)
    return v.transpose(0, 1)


def rcspike_exact(t_in: Tensor, w: Tensor, e_plus: Number = math.inf, e_minus: Number = -math.inf,
                  leak: float = 0.0, beta: Optional[Callable[[Tensor], Tensor]] = None) -> Tensor:
    """Exact membrane potential at the end of the accumulation phase, ``(batch, n_out)``.

    Event-ordered solution of docs/paper.md §1.2 (sort, cumulative f and g, per-interval exact update), evaluated as
    the log-space closed form described in the module docstring: O(batch * n_out * n_in) time and memory, no loop.
    ``leak`` (alpha >= 0) is added to f. Inputs ``> 1`` are treated as "no spike"; inputs < 0 start integrating at
    their own time (v is 0 before the first spike). Differentiable in ``t_in`` and ``w`` (away from ties / w = 0).
    ``beta`` (optional) maps w to per-synapse beta (e.g. :class:`CurrentDependentBeta`), replacing 1/E+-.
    """
    _check_shapes(t_in, w)
    bw = _beta_w(w, e_plus, e_minus, beta)
    return _exact_end(t_in, w, bw, float(leak), 1.0)


def rcspike_trajectory(t_in: Tensor, w: Tensor, e_plus: Number = math.inf, e_minus: Number = -math.inf,
                       times: Union[Sequence[float], Tensor] = (1.0,), leak: float = 0.0,
                       beta: Optional[Callable[[Tensor], Tensor]] = None) -> Tensor:
    """Exact membrane potential v(t) during accumulation at each of ``times``: ``(batch, n_out, len(times))``.
    v(tau) is the exact solution with every spike later than tau removed (clamped to tau, i.e. zero-length)."""
    _check_shapes(t_in, w)
    bw = _beta_w(w, e_plus, e_minus, beta)
    if isinstance(times, Tensor):
        times = times.detach().cpu().reshape(-1).tolist()
    outs = [_exact_end(t_in, w, bw, float(leak), float(tau)) for tau in times]
    return torch.stack(outs, dim=-1)


# --------------------------------------------------------------------------------------------------------------------
# DSTD (docs/paper.md §4.2)
# --------------------------------------------------------------------------------------------------------------------
def dstd_grid(steps: int, offset: Union[float, Tensor] = 0.0, t_end: float = 1.0, *, dtype=None,
              device=None) -> Tensor:
    """The DSTD grid. GRID CONVENTION (docs/paper.md §4.2, "Grid ambiguity", resolved as follows):

    ``dt = t_end/M``; regular points ``T_m = m*dt - offset`` for ``m = 0..M`` (spanning ``[-offset, t_end-offset]``),
    then one more point at ``t_end`` so the grid always ends at the end of accumulation; the last interval has width
    ``offset``. With a python ``offset == 0`` that point would coincide with ``T_M`` and is dropped (M intervals);
    otherwise there are M+1 intervals. ``offset`` may be a float in ``[0, dt)``, a 0-d tensor, or a ``(batch,)``
    tensor (one grid per sample) -> result ``(M+1 or M+2,)`` or ``(batch, M+2)``. A zero-width last interval (tensor
    offset 0) is harmless: it contributes exactly nothing.
    """
    dt = float(t_end) / int(steps)
    m = torch.arange(int(steps) + 1, dtype=dtype, device=device) * dt
    if not isinstance(offset, Tensor):
        off = float(offset)
        if not (0.0 <= off < dt):
            raise ValueError(f"offset must lie in [0, {dt}) for steps={steps}; got {off}")
        if off == 0.0:
            return m
        return torch.cat((m - off, m.new_full((1,), t_end)))
    off = offset.to(dtype=dtype if dtype is not None else offset.dtype, device=device if device is not None else offset.device)
    if off.dim() == 0:
        return torch.cat((m - off, m.new_full((1,), t_end)))
    off = off.reshape(-1, 1)
    return torch.cat((m.unsqueeze(0) - off, m.new_full((off.shape[0], 1), t_end)), dim=1)


def _hat_ramp(t_in: Tensor, grid: Tensor):
    """Unclamped ramp ``(T_{m+1} - t)/h_m``, (batch, K-1, n_in), and the safe widths ``h_m``, (1|B, K-1, 1)."""
    if grid.dim() == 1:
        grid = grid.unsqueeze(0)
    h = grid[:, 1:] - grid[:, :-1]  # (1|B, K-1)
    h_safe = h.clamp_min(torch.finfo(h.dtype).tiny ** 0.5).unsqueeze(-1)
    return (grid[:, 1:].unsqueeze(-1) - t_in.unsqueeze(1)).div_(h_safe), h_safe


def soft_heaviside(t_in: Tensor, grid: Tensor) -> Tensor:
    """Cumulative hat-kernel masses S_jm = sum_{q<=m} s_jq for the intervals m = 0..K-2 of ``grid`` (K points):
    ``(batch, K-1, n_in)``. For a spike in [T_k, T_k+1] the hat kernel (Eq. 46, each hat using its own neighbour
    spacing so the masses sum to 1 on a non-uniform grid) puts (T_k+1 - t)/h_k on T_k and the rest on T_k+1, so
    ``S_m = clamp((T_{m+1} - t)/h_m, 0, 1)``: a linear ramp, derivative -1/h_m. Spikes before T_0 count fully from
    T_0; spikes at or after the last point contribute nothing."""
    return _hat_ramp(t_in, grid)[0].clamp(0.0, 1.0)


def _resolve_grid(t_in: Tensor, steps: int, offset, t_end: float) -> Tensor:
    if isinstance(offset, Tensor) and offset.dim() == 1 and offset.shape[0] != t_in.shape[0]:
        raise ValueError(f"per-sample offset has {offset.shape[0]} entries for a batch of {t_in.shape[0]}")
    return dstd_grid(steps, offset, t_end, dtype=t_in.dtype, device=t_in.device)


def _dstd_fg(t_in: Tensor, w: Tensor, bw: Tensor, grid: Tensor):
    """f~ and g~ on the grid intervals: two (batch, K-1, n_out) tensors, via one matmul with the grid folded into
    the batch."""
    S = soft_heaviside(t_in, grid)  # (B, K-1, n_in)
    n_out = w.shape[0]
    gf = torch.matmul(S, torch.cat((w, bw), 0).transpose(0, 1))  # (B, K-1, 2 n_out)
    return gf[..., :n_out], gf[..., n_out:]


def _widths(grid: Tensor) -> Tensor:
    """Grid interval widths as (1|B, K-1, 1); a zero-width last interval (offset 0 as a tensor) contributes nothing."""
    if grid.dim() == 1:
        grid = grid.unsqueeze(0)
    return (grid[:, 1:] - grid[:, :-1]).clamp_min(0.0).unsqueeze(-1)


def _dstd_end(g: Tensor, f: Tensor, grid: Tensor, leak: float) -> Tensor:
    if leak:
        f = f + leak
    return _scan_end(g, f, _widths(grid), dim=1)


def _grid_decay(f: Tensor, h: Tensor):
    """exp(-r_k), r_k = sum_{q>k} f_q h_q along dim 1 (see :func:`_scan_end`), and the mask r_k >= 0 where the
    round-off clamp of r is inactive (the clamp passes no gradient elsewhere, as in the composite)."""
    r = torch.mul(f, h).cumsum_(dim=1)
    total = r[:, -1:].clone()
    r.neg_().add_(total)
    live = r >= 0
    return r.clamp_min_(0.0).neg_().exp_(), live


class _DSTDEnd(torch.autograd.Function):
    """Fused DSTD v(end) = scan(S @ w^T, S @ bw^T + leak) for one layer.

    Autograd through the composite (soft Heaviside, matmul, scan) keeps S (batch, K-1, n_in) and about six
    (batch, K-1, n_out) intermediates alive until backward. Here only the inputs and g~, f~ are saved; S, phi and the
    decays are recomputed in backward (one extra elementwise pass, no extra matmul). ``w`` and ``bw`` are separate
    inputs so that autograd carries the bw gradient into w through whatever produced bw (beta_of or a per-synapse
    beta callable). The grid is a constant (offsets are sampled, never learned)."""

    @staticmethod
    def forward(ctx, t_in: Tensor, w: Tensor, bw: Tensor, grid: Tensor, leak: float) -> Tensor:
        S = _hat_ramp(t_in, grid)[0].clamp_(0.0, 1.0)
        g = torch.matmul(S, w.t())  # (B, K-1, n_out)
        f = torch.matmul(S, bw.t())
        del S
        if leak:
            f.add_(leak)
        h = _widths(grid)
        terms = _phi_value(f, h).mul_(g)
        terms.mul_(_grid_decay(f, h)[0])
        ctx.save_for_backward(t_in, w, bw, grid, g, f)
        return terms.sum(1)

    # The order below keeps at most ~6 tensors of size (B, K-1, n_out) or (B, K-1, n_in) alive at a time.
    @staticmethod
    @once_differentiable
    def backward(ctx, dv: Tensor):
        t_in, w, bw, grid, g, f = ctx.saved_tensors
        h = _widths(grid)
        dv = dv.unsqueeze(1)  # (B, 1, n_out)
        # v = sum_k g_k phi_k decay_k; f_k enters phi_k and the decay of every earlier interval j < k
        phi = _phi_value(f, h)
        df = _dphi_df(f, h, phi)
        decay, live = _grid_decay(f, h)
        df.mul_(g).mul_(decay).mul_(dv)
        dg = phi.mul_(decay).mul_(dv)
        del phi, decay
        term = torch.mul(g, dg).mul_(live).cumsum_(dim=1)
        del live
        df[:, 1:].sub_(term[:, :-1].mul_(h[:, 1:]))  # - h_k sum_{j<k} g_j phi_j decay_j dv
        del term
        need_t, need_w, need_bw = ctx.needs_input_grad[:3]
        gt = gw = gbw = None
        if need_t or need_w or need_bw:
            n_out, n_in = w.shape
            ramp, h_safe = _hat_ramp(t_in, grid)
            if need_t:
                # clamp passes the gradient where 0 <= ramp <= 1 (inclusive, as torch.clamp does)
                inside = (ramp >= 0) & (ramp <= 1)
                dS = torch.matmul(dg, w)
                dS.view(-1, n_in).addmm_(df.view(-1, n_out), bw)  # += df @ bw without a temporary
                gt = dS.mul_(inside).div_(h_safe).sum(1).neg_()
                del dS, inside
            S = ramp.clamp_(0.0, 1.0).view(-1, n_in)  # (B (K-1), n_in)
            if need_bw:
                gbw = df.view(-1, n_out).t().matmul(S)
            del df
            if need_w:
                gw = dg.view(-1, n_out).t().matmul(S)
        return gt, gw, gbw, None, None


def rcspike_dstd(t_in: Tensor, w: Tensor, e_plus: Number = math.inf, e_minus: Number = -math.inf,
                 steps: int = 10, offset: Union[float, Tensor] = 0.0, leak: float = 0.0,
                 beta: Optional[Callable[[Tensor], Tensor]] = None) -> Tensor:
    """Membrane potential at the end of accumulation by differentiable spike-time discretisation (Algorithm 3),
    ``(batch, n_out)``.

    Grid: see :func:`dstd_grid` (``T_m = m/M - offset``, m = 0..M, plus a final point at 1; integration starts at
    ``T_0 = -offset`` with v = 0). Spikes become cumulative hat masses (:func:`soft_heaviside`), f~ and g~ come from
    the matmuls ``S @ w^T`` and ``S @ (beta w)^T`` with the M grid intervals folded into the batch, and v(1) is the
    exact solution of the piecewise-constant ODE on the grid. Time O(B M n_in n_out), memory O(B M (n_in + n_out));
    no sort. One fused autograd Function does all of this and keeps only the inputs and g~, f~ for backward
    (everything else is recomputed). Differentiable in ``t_in`` and ``w`` (also through a ``beta`` callable); the
    offset is a constant. Once differentiable (no double backward).
    In the ideal limit (E = inf, leak = 0) the result equals ``(1 - t) @ w.T`` exactly for every M and offset,
    because the hat kernel interpolates linear functions exactly. The error is O(M^-2 |E|^-1) (docs/paper.md §4.4).
    """
    _check_shapes(t_in, w)
    bw = _beta_w(w, e_plus, e_minus, beta)
    grid = _resolve_grid(t_in, steps, offset, 1.0)
    return _DSTDEnd.apply(t_in, w, bw, grid.detach(), float(leak))


# --------------------------------------------------------------------------------------------------------------------
# firing phase (docs/paper.md §1.3)
# --------------------------------------------------------------------------------------------------------------------
def fire_time(v_end: Tensor, e_dis: Number = math.inf, alpha_dis: Optional[float] = None, threshold: float = 1.0,
              t_min: float = 0.0, early: Optional[Sequence[Sequence[float]]] = None) -> Tensor:
    """Output spike time from the end-of-accumulation potential.

    Ideal ramp (``e_dis = inf``): ``clip(1 - v, 0, 1)``. Finite discharger reversal potential
    (``dv/dt = a (1 - b v)``, ``b = 1/e_dis``, ``a = -ln(1-b)/b``): ``t = 1 - ln(1 - b v)/ln(1 - b)`` clipped to
    [0, 1]; ``e_dis`` must satisfy ``1/e_dis < 1`` (i.e. e_dis > 1 or e_dis < 0). ``v >= 1`` fires at 0; v is clamped
    to <= 1 first, so ``1 - b v <= 0`` never reaches the log and gradients stay finite (0 where clipped).

    Circuit-measured firing phase (bottom-up, beyond the paper): ``alpha_dis`` (the ramp rate a, measured instead of
    the paper's ``-ln(1-b)/b``), ``threshold`` (the level theta the ramp must reach, 1 + the comparator's dynamic
    offset) and ``t_min`` (the latency of an overdriven comparator: no spike earlier than this). Then
    ``t = [ln(1 - b v) - ln(1 - b theta)] / (a b)`` (``(theta - v)/a`` for b = 0), clipped to [t_min, 1].
    With the defaults this is exactly the paper's form above.

    ``early``: measured (v, t) points of a membrane at or past the threshold when the phase starts (a comparator
    with little overdrive is slow: 17 ns at 0.01 v_th over, t_min only at ~1 v_th over). The time is the larger of
    the ramp's and these points', interpolated piecewise-linearly in v and held at the end values.
    """
    if early is not None:
        ev, et = (torch.as_tensor(c, dtype=v_end.dtype, device=v_end.device) for c in zip(*early))
        t = fire_time(v_end, e_dis, alpha_dis, threshold, t_min)
        return torch.maximum(t, interp_clamped(v_end, ev, et))
    if alpha_dis is None and threshold == 1.0 and t_min == 0.0:
        return _paper_fire_time(v_end, e_dis)
    b = 0.0 if math.isinf(float(e_dis)) else 1.0 / float(e_dis)
    if b * threshold >= 1.0:
        raise ValueError(f"e_dis={e_dis} with threshold {threshold}: the ramp would never reach threshold")
    if alpha_dis is None:
        alpha_dis = 1.0 if b == 0.0 else -math.log1p(-b) / b
    if alpha_dis <= 0:
        raise ValueError("alpha_dis must be positive")
    v = v_end.clamp(max=threshold)
    if b == 0.0:
        t = (threshold - v) / alpha_dis
    else:
        x = -b * v
        if b < 0:
            x = x.clamp_min(-1.0 + torch.finfo(v.dtype).eps)
        t = (torch.log1p(x) - math.log1p(-b * threshold)) / (alpha_dis * b)
    return t.clamp(min=max(0.0, float(t_min)), max=1.0)


def fire_ramp(v_start: Tensor, tau: Tensor, e_dis: Number = math.inf, alpha_dis: Optional[float] = None) -> Tensor:
    """The membrane during the firing phase, ``tau`` in [0, 1] after its start at ``v_start`` (broadcast): the ramp
    ``dv/dt = a (1 - b v)``, ``b = 1/e_dis``, solved in closed form; ``a`` as in :func:`fire_time`."""
    tau = torch.as_tensor(tau, dtype=v_start.dtype, device=v_start.device)
    if math.isinf(float(e_dis)):
        return v_start + (1.0 if alpha_dis is None else alpha_dis) * tau
    b = 1.0 / float(e_dis)
    a = -math.log1p(-b) / b if alpha_dis is None else alpha_dis
    return (1.0 - (1.0 - b * v_start) * torch.exp(-a * b * tau)) / b


def _paper_fire_time(v_end: Tensor, e_dis: Number) -> Tensor:
    if math.isinf(float(e_dis)):
        return (1.0 - v_end).clamp(0.0, 1.0)
    b = 1.0 / float(e_dis)
    if b >= 1.0:
        raise ValueError(f"e_dis must be > 1 or negative (got {e_dis}): the ramp would never reach threshold")
    v = v_end.clamp(max=1.0)
    x = -b * v  # ln(1 - b v) = log1p(x): accurate for tiny b (large e_dis)
    if b < 0:  # very negative v: 1 - b v could be <= 0 (no physical meaning, the time clips to 1 anyway)
        x = x.clamp_min(-1.0 + torch.finfo(v.dtype).eps)
    t = 1.0 - torch.log1p(x) / math.log1p(-b)
    return t.clamp(0.0, 1.0)


# --------------------------------------------------------------------------------------------------------------------
# TTFS variant (docs/paper.md §1.4, §4.3)
# --------------------------------------------------------------------------------------------------------------------
def _cross_time(v: Tensor, g: Tensor, f: Tensor, t0: Tensor, v_th: float = 1.0):
    """Time at which v(t) (starting at v at t0, constant f, g) reaches v_th, and whether it ever does.
    t = t0 + (1/f) ln((g/f - v)/(g/f - v_th)) = t0 + (v_th - v)/(g - f v_th) * log1p(y)/y, y = f (v_th - v)/(g - f v_th)."""
    den = g - f * v_th
    ok = (den > 0) & (v < v_th)
    den_safe = torch.where(ok, den, torch.ones_like(den))
    num = torch.where(ok, v_th - v, torch.zeros_like(v))
    y = f * num / den_safe
    return t0 + num / den_safe * _log1p_over(y), ok


def ttfs_exact(t_in: Tensor, w: Tensor, e_plus: Number = math.inf, e_minus: Number = -math.inf,
               t_max: float = math.inf) -> Tensor:
    """Exact TTFS first-spike times (docs/paper.md §1.4), ``(batch, n_out)``: no phases, threshold 1, at most one
    spike. Candidate crossing time per inter-spike interval (the last interval extends to infinity); the output is the
    earliest valid candidate, or ``t_max`` (default inf) when the neuron never fires. Non-finite input times are
    "no spike". Sequential over the sorted input spikes (n_in steps of (n_out, batch) work)."""
    _check_shapes(t_in, w)
    bw = _beta_w(w, e_plus, e_minus, None)
    finite = torch.isfinite(t_in)
    cap = (t_in[finite].max().detach() + 1.0) if finite.any() else t_in.new_tensor(0.0)
    tc = torch.where(finite, t_in, cap.expand_as(t_in))
    ts, idx = torch.sort(tc, dim=1)
    live = torch.gather(finite, 1, idx).to(t_in.dtype)  # (B, n)
    wb = torch.stack((w, bw))[:, :, idx] * live  # (2, O, B, n)
    gf = torch.cumsum(wb, dim=-1)
    g, f = gf[0], gf[1]
    n = ts.shape[1]
    v = torch.zeros_like(g[..., 0])
    best = torch.full_like(v, math.inf)
    for k in range(n):
        t0 = ts[:, k]
        t1 = ts[:, k + 1] if k + 1 < n else torch.full_like(t0, math.inf)
        c, ok = _cross_time(v, g[..., k], f[..., k], t0)
        ok = ok & (c <= t1)
        best = torch.where(ok & (c < best), c, best)
        if k + 1 < n:
            h = t1 - t0
            v = v * torch.exp(-f[..., k] * h) + g[..., k] * _phi(f[..., k], h.expand_as(v))
    out = best.transpose(0, 1)
    return out.clamp(max=t_max) if not math.isinf(t_max) else out


def ttfs_dstd(t_in: Tensor, w: Tensor, e_plus: Number = math.inf, e_minus: Number = -math.inf,
              steps: int = 20, offset: Union[float, Tensor] = 0.0, t_max: float = 4.0) -> Tensor:
    """TTFS first-spike times with DSTD (Algorithm 4, Eq. 41 with the corrected Eq. 44), ``(batch, n_out)``.
    The grid is :func:`dstd_grid` over ``[-offset, t_max]`` (``dt = t_max/M``, offset in ``[0, dt)``). The
    potential is advanced exactly over each grid interval; in the first interval where it reaches 1 the crossing time
    is the closed form of docs/paper.md §4.3. Neurons that do not fire by ``t_max`` return ``t_max`` (gradient 0);
    input spikes at or after ``t_max`` are ignored."""
    _check_shapes(t_in, w)
    bw = _beta_w(w, e_plus, e_minus, None)
    grid = _resolve_grid(t_in, steps, offset, float(t_max))
    g, f = _dstd_fg(t_in.clamp(max=float(t_max)), w, bw, grid)  # (B, K-1, O)
    gr = grid if grid.dim() == 2 else grid.unsqueeze(0)
    h = (gr[:, 1:] - gr[:, :-1]).clamp_min(0.0)  # (1|B, K-1)
    v = torch.zeros_like(g[:, 0])
    best = torch.full_like(v, float(t_max))
    fired = torch.zeros_like(v, dtype=torch.bool)
    for m in range(g.shape[1]):
        hm = h[:, m:m + 1].expand_as(v)
        c, ok = _cross_time(v, g[:, m], f[:, m], gr[:, m:m + 1].expand_as(v))
        ok = ok & (c <= gr[:, m + 1:m + 2]) & ~fired
        best = torch.where(ok, c, best)
        fired = fired | ok
        v = v * torch.exp(-f[:, m] * hm) + g[:, m] * _phi(f[:, m], hm)
    return best.clamp(max=float(t_max))


# --------------------------------------------------------------------------------------------------------------------
# losses (docs/paper.md §1.6, sign-repaired TTFS convention: earliest output spike = predicted class)
# --------------------------------------------------------------------------------------------------------------------
def spike_ce_loss(t_out: Tensor, labels: Tensor, tau_soft: float = 0.07, reduction: str = "mean") -> Tensor:
    """Cross-entropy on softmax(-t/tau_soft): ``-sum_i kappa_i ln S_i``; mean over the batch by default."""
    return F.cross_entropy(-t_out / float(tau_soft), labels, reduction=reduction)


def temporal_penalty(t_out: Tensor, t_ref: float = 0.9, reduction: str = "mean") -> Tensor:
    """Temp = sum_i (t_i - t_ref)^2 over output neurons (non-finite times count as t_ref: no penalty),
    mean over the batch by default."""
    d = torch.where(torch.isfinite(t_out), t_out - float(t_ref), torch.zeros_like(t_out))
    per = (d * d).sum(dim=-1)
    return per.mean() if reduction == "mean" else per.sum() if reduction == "sum" else per


def weight_l2(weights: Union[Tensor, Iterable[Tensor], torch.nn.Module]) -> Tensor:
    """P = sum_l ||w^(l)||_2^2 (squared Frobenius norm). Accepts a tensor, an iterable of tensors, or a module
    (then every parameter whose name ends in 'weight' is used)."""
    if isinstance(weights, torch.nn.Module):
        weights = [p for n, p in weights.named_parameters() if n.endswith("weight")]
    elif isinstance(weights, Tensor):
        weights = [weights]
    total = None
    for wt in weights:
        s = (wt * wt).sum()
        total = s if total is None else total + s
    if total is None:
        raise ValueError("weight_l2 got no weights")
    return total


def early_spike_penalty(times_list: Union[Tensor, Sequence[Tensor]], reduction: str = "mean") -> Tensor:
    """V = sum over layers and neurons of (t_i - 1)^2 (penalises early spikes); mean over the batch by default.
    ``times_list`` is one tensor or the list returned by ``SpikeNet(..., return_all=True)``."""
    if isinstance(times_list, Tensor):
        times_list = [times_list]
    per = None
    for t in times_list:
        p = ((t - 1.0) ** 2).flatten(1).sum(1)
        per = p if per is None else per + p
    if per is None:
        raise ValueError("early_spike_penalty got no spike times")
    return per.mean() if reduction == "mean" else per.sum() if reduction == "sum" else per


def predict(t_out: Tensor) -> Tensor:
    """Predicted class = the earliest output spike (argmin t)."""
    return torch.argmin(t_out, dim=-1)
