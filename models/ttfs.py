"""TTFS layers (docs/paper.md §1.4, §4.3, §5.1; App. C): no phases, a neuron fires once when v reaches 1.

Decisions the paper leaves open (docs/models.md, "TTFS networks"):

* **Time window** ``t_max``: a neuron that has not fired by ``t_max`` counts as firing at ``t_max`` (gradient 0),
  and an input at ``t_max`` delivers nothing before it; both solvers agree on this. The DSTD grid spans
  ``[-offset, t_max]`` with ``M`` intervals, a random offset is drawn from ``[0, t_max/M)``.
* **Initialisation** (App. C): weights ``U(0, w_max/N)``, all excitatory as printed, with
  ``w_max = -4 w* L^2 ln(1 - beta)/(beta t_ref^2)``, ``beta = 1/E+`` (limit ``4 w* L^2/t_ref^2`` as E+ -> inf), so
  that with inputs U[0, 1] a neuron reaches threshold near ``t_ref/(L sqrt(w*))``; it needs ``E+ > 1`` (the threshold),
  below which a neuron cannot fire at all. The bias starts at 0.
* **Q** (docs/paper.md §1.6): ``Q = sum_l sum_i sum_{j in Gamma_i} w_ij``, Gamma_i the inputs (bias included) that
  arrive strictly before neuron i fires (all inputs before t_max for a silent neuron), batch mean. The loss adds
  ``-gamma_q Q``: the sign that encourages firing (raising the weights of causal inputs moves a spike earlier and
  wakes a silent neuron). The indicator is not differentiated: Q's gradient goes to the weights only.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from imcpnn.neuron import LayerModel

from . import functional as Fn
from .layers import SpikeNet, _RCSpikeBase, with_bias

Tensor = torch.Tensor

__all__ = ["TTFSLinear", "make_ttfs_mlp", "ttfs_w_max", "ttfs_q"]


def ttfs_w_max(e_plus: float, n_layers: int, t_ref: float, w_star: float = 2.0) -> float:
    """App. C's w_max: ``-4 w* L^2 ln(1 - beta)/(beta t_ref^2)`` with beta = 1/e_plus (its beta -> 0 limit for
    e_plus = inf). Raises ValueError for e_plus <= 1, where no neuron can reach the threshold."""
    if not e_plus > 1.0:
        raise ValueError(f"TTFS needs E+ > 1 (the threshold): a membrane bounded by E+ = {e_plus} never fires")
    if t_ref <= 0 or n_layers < 1 or w_star <= 0:
        raise ValueError("TTFS init needs t_ref > 0, n_layers >= 1 and w_star > 0")
    beta = 0.0 if math.isinf(e_plus) else 1.0 / e_plus
    gain = 1.0 if beta == 0.0 else -math.log1p(-beta) / beta
    return 4.0 * w_star * n_layers ** 2 * gain / t_ref ** 2


class TTFSLinear(_RCSpikeBase):
    """Fully connected TTFS layer: input spike times (batch, n_in) -> first-spike times (batch, n_out) in
    [0, t_max]. ``weight`` is (n_out, n_in); ``bias=True`` adds a weight on an extra input spike at t = 0. ``solver``
    "exact" (event-ordered, docs/paper.md §1.4) or "dstd" (Algorithm 4, ``steps`` intervals over [0, t_max]).
    The record's e_plus / e_minus are used; firing-phase fields (e_dis, ...) do not apply, and per-synapse lambda,
    kicks, a leak and a charge scale are refused (not modelled for TTFS)."""

    def __init__(self, n_in: int, n_out: int, neuron: LayerModel | None = None, *, t_max: float = 4.0,
                 bias: bool = False, device=None, dtype=None, **kw):
        super().__init__(neuron, **kw)
        n = self.neuron
        if n.lambda_table is not None or n.kicks is not None or n.leak or n.charge_scale != 1.0:
            raise ValueError("TTFS layers model one E per sign only (no lambda table, kicks, leak or charge scale)")
        if not t_max > 0:
            raise ValueError(f"t_max must be > 0, got {t_max}")
        self.t_max = float(t_max)
        self.n_in, self.n_out = int(n_in), int(n_out)
        fk = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.zeros(n_out, n_in, **fk))
        self.bias = nn.Parameter(torch.zeros(n_out, **fk)) if bias else None

    @property
    def window(self) -> float:
        return self.t_max

    @torch.no_grad()
    def init_(self, n_layers: int, t_ref: float, w_star: float = 2.0) -> "TTFSLinear":
        """App. C initialisation (module docstring); the bias is set to 0."""
        w_max = ttfs_w_max(self.e_plus, n_layers, t_ref, w_star)
        nn.init.uniform_(self.weight, 0.0, w_max / self.n_in)
        if self.bias is not None:
            nn.init.zeros_(self.bias)
        return self

    def forward(self, t_in: Tensor) -> Tensor:
        self._check_solver()
        t, w = with_bias(t_in, self.weight, self.bias)
        if self.solver == "exact":
            out = Fn.ttfs_exact(t, w, self.e_plus, self.e_minus, t_max=self.t_max)
        else:
            out = Fn.ttfs_dstd(t, w, self.e_plus, self.e_minus, self.steps, self._offset_value(t), self.t_max)
        if self.sigma > 0 and (self.training or self.eval_noise):
            out = (out + self.sigma * torch.randn_like(out)).clamp(0.0, self.t_max)
        return out

    def causal_weight(self, t_in: Tensor, t_out: Tensor) -> Tensor:
        """Per sample, sum_i sum_{j: t_j < t_i} w_ij (bias included), (batch,); the indicator is not differentiated."""
        t, w = with_bias(t_in, self.weight, self.bias)
        before = (t.detach().unsqueeze(1) < t_out.detach().unsqueeze(2)).to(w.dtype)  # (batch, n_out, n_in)
        return (before * w).sum((1, 2))

    def extra_repr(self) -> str:
        return (f"n_in={self.n_in}, n_out={self.n_out}, e_plus={self.e_plus}, e_minus={self.e_minus}, "
                f"t_max={self.t_max}, solver={self.solver}, steps={self.steps}, offset={self.offset}, "
                f"sigma={self.sigma}")


def ttfs_q(net: SpikeNet, t_in: Tensor, times: list[Tensor]) -> Tensor:
    """Q of docs/paper.md §1.6 (module docstring) over the TTFS layers of ``net``, batch mean; ``times`` are every
    layer's output times (``net(t_in, return_all=True)``)."""
    total = t_in.new_zeros(())
    prev = t_in
    for layer, out in zip(net.layers, times):
        if isinstance(layer, TTFSLinear):
            total = total + layer.causal_weight(prev, out).mean()
        prev = out
    return total


def make_ttfs_mlp(sizes: list[int], neuron: LayerModel, *, t_ref: float, w_star: float = 2.0, **knobs) -> SpikeNet:
    """SpikeNet of TTFSLinear layers ``sizes[0] -> ... -> sizes[-1]``, each initialised as in App. C with
    L = the number of layers."""
    if len(sizes) < 2:
        raise ValueError("make_ttfs_mlp needs at least an input and an output size")
    n_layers = len(sizes) - 1
    return SpikeNet(TTFSLinear(a, b, neuron, **knobs).init_(n_layers, t_ref, w_star)
                    for a, b in zip(sizes[:-1], sizes[1:]))
