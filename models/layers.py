"""nn.Module layers of the RC-Spike physical neural network (thin wrappers over :mod:`.functional`).

Decisions the paper leaves open (docs/paper.md §5.1, §1.7, §4.2) and that other stages rely on:

* **Weight init** (not in the paper): ``w ~ U(-a, a)`` with ``a = init_scale * sqrt(3 / fan_in)`` (var(w) =
  init_scale^2/fan_in). For inputs U[0,1] and E = inf, v = sum_j w_j (1 - t_j) then has mean 0 and std
  ``init_scale * sqrt(E[(1-t)^2]) = init_scale/sqrt(3) ~ 0.58``: an O(1) spread across the firing window.
  ``init_scale`` defaults to 1. The optional bias (a weight on an extra input spike at t = 0, like the Iris bias
  spike of docs/paper.md §1.5) starts at 0.
* **Weight range** (``w_min`` / ``w_max``, the exportable current range): NOT clamped in ``forward`` (that would zero
  the gradient of out-of-range weights). Call ``layer.constrain_()`` (or ``SpikeNet.constrain_()``) after each
  optimiser step; it clamps the weights (and bias) in place.
* **DSTD offset**: ``offset="random"`` draws one offset U(0, 1/M) per forward call and per layer in training mode.
  In eval mode the offset is ``eval_offset`` (default 0.0, i.e. the fixed grid T_m = m/M); set
  ``layer.eval_offset = "random"`` to keep drawing at test time (docs/paper.md §5.1 suggests the paper did). ``offset=
  "fixed"`` always uses 0. A float ``offset`` uses that value always.
* **Spike-time noise**: N(0, sigma^2) is added to the output times in training mode only, then clipped to [0, 1];
  set ``layer.eval_noise = True`` to also add it in eval (docs/paper.md §1.7 adds it at inference too).
* **Physics** comes from one record, ``neuron`` (:class:`imcpnn.neuron.LayerModel`: reversal potentials, firing law,
  leak, per-synapse lambda, spike-line kicks and turn-on delays). ``solver`` ("dstd" | "exact"), ``steps``,
  ``sigma`` and the offsets are plain attributes and may be changed at any time (e.g. ``layer.solver = "exact"``).
"""
from __future__ import annotations

import math
from typing import Iterable, List, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from imcpnn.neuron import LayerModel, NeuronModel

from . import functional as Fn

Tensor = torch.Tensor

__all__ = ["RCSpikeLinear", "RCSpikeConv2d", "SpikeMinPool2d", "SpikeFlatten", "SpikeNet", "make_mlp",
           "mlp_from_weights"]


class _RCSpikeBase(nn.Module):
    """Physics from one record (``neuron``, an :class:`imcpnn.neuron.LayerModel`); the other arguments are how the
    layer is trained and evaluated. Replace ``layer.neuron`` to change the physics (e.g. a symmetric |E| in a
    robustness study); ``e_plus``, ``e_minus``, ``e_dis`` and ``leak`` read through to it."""

    #: the span of the DSTD grid, [0, window]: one phase for RC-Spike (a random offset is drawn from [0, window/M))
    window = 1.0

    def __init__(self, neuron: LayerModel | None = None, *, solver: str = "dstd", steps: int = 10,
                 offset: Union[str, float] = "random", sigma: float = 0.0, w_min: float | None = None,
                 w_max: float | None = None, eval_offset: Union[str, float] = 0.0, eval_noise: bool = False):
        super().__init__()
        self.neuron = neuron if neuron is not None else LayerModel()
        self.solver = solver
        self.steps = int(steps)
        self.offset = offset
        self.eval_offset = eval_offset
        self.sigma = float(sigma)
        self.eval_noise = bool(eval_noise)
        self.w_min = None if w_min is None else float(w_min)
        self.w_max = None if w_max is None else float(w_max)
        #: per-neuron map of the end-of-accumulation potential before firing (None: none); how a sampled mismatch
        #: instance (imcpnn/train/variation.py) gives each neuron its own threshold and ramp without another forward
        self.potential_map = None
        if offset not in ("random", "fixed") and not isinstance(offset, (int, float)):
            raise ValueError(f"offset must be 'random', 'fixed' or a number, got {offset!r}")

    @property
    def neuron(self) -> LayerModel:
        return self._neuron

    @neuron.setter
    def neuron(self, model: LayerModel) -> None:
        # the callables are built once per record, not per forward call
        self._neuron = model
        lt, k, sc = model.lambda_table, model.kicks, model.charge_scale
        beta = None if lt is None else Fn.CurrentDependentBeta(**lt.table())
        kick = None if k is None else Fn.SpikeLineKick(**k.table())
        if sc != 1.0:  # the layer's weights are scaled by sc; lambda and the kick belong to the unscaled current
            beta = None if beta is None else _Rescaled(beta, 1.0 / sc, 1.0)
            kick = None if kick is None else _ScaledKick(kick, sc)
        self.beta_fn, self.kick_fn = beta, kick
        lv = model.kick_level
        self.level_fns = None if lv is None or kick is None else tuple(Fn.SpikeLineKick(**t) for t in lv.tables())

    e_plus = property(lambda self: self._neuron.e_plus)
    e_minus = property(lambda self: self._neuron.e_minus)
    e_dis = property(lambda self: self._neuron.e_dis)
    leak = property(lambda self: self._neuron.leak)

    # -- helpers ---------------------------------------------------------------------------------------------------
    def _offset_value(self, ref: Tensor):
        mode = self.offset
        if mode == "fixed":
            return 0.0
        if mode == "random":
            mode = "random" if self.training else self.eval_offset
        if mode == "random":
            return float(torch.rand(()).item()) * self.window / self.steps
        return float(mode)

    def _check_solver(self):
        if self.solver not in ("dstd", "exact"):
            raise ValueError(f"solver must be 'dstd' or 'exact', got {self.solver!r}")

    def _fire(self, v: Tensor) -> Tensor:
        n = self._neuron
        if self.potential_map is not None:
            v = self.potential_map(v)
        t = Fn.fire_time(v, n.e_dis, n.ramp_rate, n.threshold, n.t_min, n.early)
        if self.sigma > 0 and (self.training or self.eval_noise):
            t = (t + self.sigma * torch.randn_like(t)).clamp(0.0, 1.0)
        return t

    @torch.no_grad()
    def constrain_(self) -> "_RCSpikeBase":
        """Clamp the weights (and bias) in place to [w_min, w_max]; call after each optimiser step."""
        if self.w_min is not None or self.w_max is not None:
            for p in (self.weight, self.bias):
                if p is not None:
                    p.clamp_(min=self.w_min, max=self.w_max)
        return self

    def _init(self, fan_in: int, init_scale: float):
        a = init_scale * math.sqrt(3.0 / fan_in)
        nn.init.uniform_(self.weight, -a, a)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def extra_repr(self) -> str:
        return (f"e_plus={self.e_plus}, e_minus={self.e_minus}, e_dis={self.e_dis}, leak={self.leak}, "
                f"lambda_table={self.beta_fn is not None}, kicks={self.kick_fn is not None}, solver={self.solver}, "
                f"steps={self.steps}, offset={self.offset}, sigma={self.sigma}")


class RCSpikeLinear(_RCSpikeBase):
    """Fully connected RC-Spike layer: input spike times (batch, n_in) in [0,1] -> output times (batch, n_out).
    ``weight`` is (n_out, n_in). With ``bias=True`` a learnable weight on an extra input spike at t = 0 is added.
    See the module docstring for init, weight range, offset and noise conventions."""

    def __init__(self, n_in: int, n_out: int, neuron: LayerModel | None = None, *, bias: bool = False,
                 init_scale: float = 1.0, device=None, dtype=None, **kw):
        super().__init__(neuron, **kw)
        self.n_in, self.n_out = int(n_in), int(n_out)
        fk = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(n_out, n_in, **fk))
        self.bias = nn.Parameter(torch.empty(n_out, **fk)) if bias else None
        self._init(n_in + (1 if bias else 0), init_scale)

    def _inputs(self, t_in: Tensor):
        return with_bias(t_in, self.weight, self.bias)

    def _synapses(self, t_in: Tensor) -> tuple[Tensor, Tensor]:
        """(times, weights) of the synapses as the circuit sees them: weights times the layer's charge scale; with
        turn-on delays every input is split into its NMOS and PMOS synapse, (batch, 2 n_in) times [t + d_n, t + d_p]
        and (n_out, 2 n_in) weights [w+, w-]; a spike delayed past the end of accumulation delivers nothing, as in
        the circuit."""
        t, w = self._inputs(t_in)
        if self._neuron.charge_scale != 1.0:
            w = w * self._neuron.charge_scale
        k = self._neuron.kicks
        if k is None or not k.has_delays:
            return t, w
        arrived = t < 1.0
        one = torch.ones_like(t)
        tn = torch.where(arrived, (t + k.n_delay).clamp(max=1.0), one)
        tp = torch.where(arrived, (t + k.p_delay).clamp(max=1.0), one)
        return torch.cat((tn, tp), 1), torch.cat((w.clamp(min=0.0), w.clamp(max=0.0)), 1)

    def membrane(self, t_in: Tensor) -> Tensor:
        """End-of-accumulation potential v(1), (batch, n_out), with the current solver settings (no kicks)."""
        self._check_solver()
        t, w = self._synapses(t_in)
        if self.solver == "exact":
            return Fn.rcspike_exact(t, w, self.e_plus, self.e_minus, self.leak, beta=self.beta_fn)
        return Fn.rcspike_dstd(t, w, self.e_plus, self.e_minus, self.steps, self._offset_value(t), self.leak,
                               beta=self.beta_fn)

    def kick(self, t_in: Tensor, v: Tensor | None = None) -> Tensor:
        """(batch, n_out) potential the arrived inputs' spike lines add at the firing start (0 without kicks); with
        the end-of-accumulation potential ``v`` and a record with a ``kick_level`` law, each kick scaled by
        1 + slope(w) (v - level(w)): an NMOS kick is smaller on a membrane nearer the threshold (LayerModel)."""
        if self.kick_fn is None:
            return torch.zeros(t_in.shape[0], self.n_out, dtype=self.weight.dtype, device=self.weight.device)
        t, w = self._inputs(t_in)
        if self.level_fns is None or v is None:
            return self.kick_fn.arrived(t, w)
        slope, level = (f(w) for f in self.level_fns)
        per = self.kick_fn(w)
        arrived = (t < 1.0).to(w.dtype)
        # sum_j kick_j (1 + slope_j (v - level_j)), the sums over the arrived inputs as matrix products
        return (arrived @ per.transpose(0, 1) + v * (arrived @ (per * slope).transpose(0, 1))
                - arrived @ (per * slope * level).transpose(0, 1))

    def forward(self, t_in: Tensor) -> Tensor:
        v = self.membrane(t_in)
        if self.kick_fn is not None:
            v = v + self.kick(t_in, v)
        return self._fire(v)

    @torch.no_grad()
    def trajectory(self, t_in: Tensor, n_points: int = 200) -> tuple[Tensor, Tensor]:
        """Membrane potential of every neuron over accumulation [0, 1] and firing [1, 2] (exact solver, no noise):
        (times (2 n_points,), v (batch, n_out, 2 n_points)). The firing phase is the record's ramp from v(1) plus
        the kicks."""
        tau = torch.linspace(0.0, 1.0, n_points, dtype=t_in.dtype)
        t, w = self._synapses(t_in)
        v_acc = Fn.rcspike_trajectory(t, w, self.e_plus, self.e_minus, tau.tolist(), self.leak, beta=self.beta_fn)
        v1 = v_acc[..., -1] + self.kick(t_in, v_acc[..., -1])
        n = self._neuron
        v_fire = Fn.fire_ramp(v1.unsqueeze(-1), tau, n.e_dis, n.ramp_rate)
        return torch.cat((tau, 1.0 + tau)), torch.cat((v_acc, v_fire), -1)


class RCSpikeConv2d(_RCSpikeBase):
    """2-D convolutional RC-Spike layer on spike-time maps (batch, C, H, W) in [0,1].

    DSTD: the soft Heaviside S (batch, K-1, C, H, W) is computed per input element, the K-1 grid intervals are folded
    into the batch and ONE conv2d with the stacked kernel [w; beta w] gives f~ and g~. Zero padding of S is exactly
    "no spike" padding (a padded input behaves like a spike at t = 1). The exact solver unfolds patches (padding
    value t = 1) and calls :func:`rcspike_exact` (memory O(B L C k^2 out); for checks, not training)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size, stride=1, padding=0, *, neuron: LayerModel | None = None,
                 bias: bool = False, init_scale: float = 1.0, device=None, dtype=None, **kw):
        super().__init__(neuron, **kw)
        if self.neuron.kicks is not None:
            raise ValueError("spike-line kicks are modelled for RCSpikeLinear only")
        k = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        self.in_ch, self.out_ch, self.kernel_size = int(in_ch), int(out_ch), k
        self.stride = stride
        self.padding = padding
        fk = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(out_ch, in_ch, *k, **fk))
        self.bias = nn.Parameter(torch.empty(out_ch, **fk)) if bias else None
        self._init(in_ch * k[0] * k[1] + (1 if bias else 0), init_scale)

    def _pad4(self):
        p = self.padding
        ph, pw = (p, p) if isinstance(p, int) else tuple(p)
        return (pw, pw, ph, ph)

    def _beta_w(self, w):
        fn = self.beta_fn
        return (Fn.beta_of(w, self.e_plus, self.e_minus) if fn is None else fn(w)) * w

    def membrane(self, t_in: Tensor) -> Tensor:
        self._check_solver()
        if t_in.dim() != 4:
            raise ValueError(f"RCSpikeConv2d expects (batch, C, H, W), got {tuple(t_in.shape)}")
        B = t_in.shape[0]
        w = self.weight
        if self.solver == "exact":
            x = F.pad(t_in, self._pad4(), value=1.0)
            Ho = (x.shape[2] - self.kernel_size[0]) // _pair(self.stride)[0] + 1
            Wo = (x.shape[3] - self.kernel_size[1]) // _pair(self.stride)[1] + 1
            cols = F.unfold(x, self.kernel_size, stride=self.stride)  # (B, C k k, L)
            pt = cols.transpose(1, 2).reshape(-1, cols.shape[1])
            wf = w.reshape(w.shape[0], -1)
            if self.bias is not None:
                pt = torch.cat((pt.new_zeros(pt.shape[0], 1), pt), 1)
                wf = torch.cat((self.bias.unsqueeze(1), wf), 1)
            v = Fn.rcspike_exact(pt, wf, self.e_plus, self.e_minus, self.leak, beta=self.beta_fn)  # (B L, out)
            return v.reshape(B, Ho * Wo, -1).transpose(1, 2).reshape(B, -1, Ho, Wo)
        off = self._offset_value(t_in)
        grid = Fn.dstd_grid(self.steps, off, 1.0, dtype=t_in.dtype, device=t_in.device)
        flat = t_in.reshape(B, -1)
        S = Fn.soft_heaviside(flat, grid)  # (B, K-1, C H W)
        K1 = S.shape[1]
        S = S.reshape(B * K1, *t_in.shape[1:])
        wk = torch.cat((w, self._beta_w(w)), 0)
        gf = F.conv2d(S, wk, stride=self.stride, padding=self.padding)  # (B K1, 2 out, Ho, Wo)
        if self.bias is not None:  # bias spike at t = 0, through the same soft Heaviside as the linear layer
            bb = self.bias
            Sb = Fn.soft_heaviside(t_in.new_zeros(1, 1), grid).reshape(1, K1, 1)  # (1, K1, 1)
            bcat = torch.cat((bb, self._beta_w(bb)), 0)
            gf = gf + (Sb * bcat.view(1, 1, -1)).expand(B, K1, -1).reshape(B * K1, -1, 1, 1)
        Ho, Wo = gf.shape[-2:]
        gf = gf.reshape(B, K1, 2, self.out_ch, Ho * Wo)
        g = gf[:, :, 0].reshape(B, K1, -1)
        f = gf[:, :, 1].reshape(B, K1, -1)
        v = Fn._dstd_end(g, f, grid, self.leak)  # (B, out Ho Wo)
        return v.reshape(B, self.out_ch, Ho, Wo)

    def forward(self, t_in: Tensor) -> Tensor:
        return self._fire(self.membrane(t_in))


def with_bias(t_in: Tensor, w: Tensor, bias: Tensor | None) -> tuple[Tensor, Tensor]:
    """(times, weights) with the bias as one more synapse fed by a spike at t = 0 (none without a bias)."""
    if bias is None:
        return t_in, w
    return torch.cat((t_in.new_zeros(t_in.shape[0], 1), t_in), 1), torch.cat((bias.unsqueeze(1), w), 1)


def _pair(x):
    return (x, x) if isinstance(x, int) else tuple(x)


class _Rescaled:
    """``fn(w * arg_scale) * out_scale``: a per-synapse law of the unscaled weight, called with scaled weights."""

    def __init__(self, fn, arg_scale: float, out_scale: float):
        self.fn, self.arg_scale, self.out_scale = fn, float(arg_scale), float(out_scale)

    def __call__(self, w: Tensor) -> Tensor:
        return self.fn(w * self.arg_scale) * self.out_scale


class _ScaledKick:
    """A spike-line kick whose charge lands on a membrane ``scale`` times as stiff (see LayerModel.charge_scale)."""

    def __init__(self, kick: Fn.SpikeLineKick, scale: float):
        self.kick, self.scale = kick, float(scale)

    def __call__(self, w: Tensor) -> Tensor:
        return self.kick(w) * self.scale

    def arrived(self, t_in: Tensor, w: Tensor) -> Tensor:
        return self.kick.arrived(t_in, w) * self.scale


class SpikeMinPool2d(nn.Module):
    """Spike-time pooling: the earliest spike in each window (min-pooling = -maxpool(-t)). stride defaults to k."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, t: Tensor) -> Tensor:
        if self.padding:  # pad with "no spike" (t = 1) rather than -inf
            p = _pair(self.padding)
            t = F.pad(t, (p[1], p[1], p[0], p[0]), value=1.0)
        return -F.max_pool2d(-t, self.kernel_size, self.stride)


class SpikeFlatten(nn.Module):
    """(batch, C, H, W) spike times -> (batch, C*H*W)."""

    def forward(self, t: Tensor) -> Tensor:
        return t.flatten(1)


class SpikeNet(nn.Module):
    """Container threading spike times through layers. ``forward(t_in, return_all=False)`` returns the output
    spike times, or the list of every layer's output times with ``return_all=True``."""

    def __init__(self, layers: Iterable[nn.Module]):
        super().__init__()
        self.layers = nn.ModuleList(list(layers))

    def forward(self, t_in: Tensor, return_all: bool = False):
        outs: List[Tensor] = []
        t = t_in
        for layer in self.layers:
            t = layer(t)
            outs.append(t)
        return outs if return_all else t

    def spiking_layers(self) -> List[_RCSpikeBase]:
        return [m for m in self.layers if isinstance(m, _RCSpikeBase)]

    def constrain_(self) -> "SpikeNet":
        for m in self.spiking_layers():
            m.constrain_()
        return self

    def set(self, **attrs) -> "SpikeNet":
        """Set attributes (solver, steps, e_plus, e_minus, e_dis, sigma, eval_offset, ...) on every spiking layer."""
        for m in self.spiking_layers():
            for k, v in attrs.items():
                if not hasattr(m, k):
                    raise AttributeError(f"{type(m).__name__} has no attribute {k!r}")
                setattr(m, k, v)
        return self


def make_mlp(sizes: Sequence[int], neuron: NeuronModel | None = None, **knobs) -> SpikeNet:
    """``make_mlp([784, 400, 10], NeuronModel(e_plus=3, e_minus=-3), steps=10)`` -> SpikeNet of RCSpikeLinear
    layers, layer i with ``neuron.layer(i, fan_in, fan_out)`` (stimulus-fed first layer, neuron-fed later ones; the
    charge scale of its fan-in; the kicks of its input lines' fan-out, one synapse per neuron of the layer)."""
    if len(sizes) < 2:
        raise ValueError("make_mlp needs at least an input and an output size")
    neuron = neuron if neuron is not None else NeuronModel()
    extra = 1 if knobs.get("bias") else 0  # the bias is one more synapse on the membrane
    return SpikeNet(RCSpikeLinear(a, b, neuron.layer(i, a + extra, b), **knobs)
                    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])))


def mlp_from_weights(weights: Sequence, neuron: NeuronModel) -> SpikeNet:
    """The network given per-layer weights (n_out, n_in) describe, as a circuit is checked against it: float64, the
    exact solver, no noise, eval mode."""
    sizes = [int(weights[0].shape[1])] + [int(w.shape[0]) for w in weights]
    net = make_mlp(sizes, neuron, solver="exact", offset="fixed", dtype=torch.float64)
    with torch.no_grad():
        for layer, w in zip(net.layers, weights):
            layer.weight.copy_(torch.as_tensor(w, dtype=torch.float64))
    return net.requires_grad_(False).eval()
