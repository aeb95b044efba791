"""Build the SpikeNet a config describes (through imcpnn.models) and the paper's loss on it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from imcpnn import models as M
from imcpnn.errors import ConfigError
from imcpnn.models import functional as F
from imcpnn.neuron import LayerModel, NeuronModel
from imcpnn.train.config import TrainConfig


def layer_knobs(cfg: TrainConfig, *, steps: int | None = None, sigma: float | None = None) -> dict:
    """How RCSpikeLinear / RCSpikeConv2d layers are trained (the physics is the neuron-model record); steps / sigma
    override the training values (evaluation)."""
    n = cfg.neuron
    return dict(solver=n.solver, steps=n.steps if steps is None else steps, offset=n.offset,
                sigma=n.sigma if sigma is None else sigma)


def build_net(cfg: TrainConfig, input_shape: tuple[int, ...], model: NeuronModel, *, steps: int | None = None,
              sigma: float | None = None, e_rev: float | None = None) -> torch.nn.Module:
    """SpikeNet with layer order as in the config, each RC layer with its layer's record from `model`; every RC
    layer's `weight` is (n_out, n_in[, kh, kw]). `e_rev` (a symmetric |E|) replaces the measured reversal
    potentials for robustness studies."""
    if e_rev is not None:
        model = model.with_reversal(e_rev)
    knobs = {**layer_knobs(cfg, steps=steps, sigma=sigma), "w_min": model.w_min, "w_max": model.w_max,
             "init_scale": cfg.model.init_scale}
    m = cfg.model
    if m.kind == "ttfs":
        net = _build_ttfs(cfg, input_shape, model, knobs)
    elif m.arch == "mlp":
        flat = math.prod(input_shape)
        if m.sizes[0] != flat:
            raise ConfigError(f"model.sizes[0] = {m.sizes[0]} but the dataset '{cfg.dataset.name}' has {flat} inputs")
        net = M.make_mlp(list(m.sizes), model, **knobs)
    else:
        if model.kicks is not None:
            raise ConfigError("neuron.spike_kicks is modelled for MLPs only")
        net = _build_cnn(cfg, input_shape, model.layer(0), knobs)
    if m.init_shift and m.init_shift != "auto":  # 'auto' needs data: auto_init_shift, when a run starts
        with torch.no_grad():
            for layer in rc_layers(net):
                layer.weight.add_(m.init_shift)
    clamp_weights(net)
    return net


def _build_ttfs(cfg: TrainConfig, input_shape: tuple[int, ...], model: NeuronModel, knobs: dict) -> M.SpikeNet:
    """TTFS MLP (docs/models.md): App. C init with the loss's t_ref as the total latency."""
    m = cfg.model
    flat = math.prod(input_shape)
    if m.sizes[0] != flat:
        raise ConfigError(f"model.sizes[0] = {m.sizes[0]} but the dataset '{cfg.dataset.name}' has {flat} inputs")
    if not model.e_plus > 1:  # e.g. `imc-train eval --e-rev 1` on a TTFS run
        raise ConfigError(f"a TTFS network needs E+ > 1, the threshold (got {model.e_plus}): it can never fire")
    knobs = {k: v for k, v in knobs.items() if k != "init_scale"}
    return M.make_ttfs_mlp(list(m.sizes), model.layer(0), t_ref=cfg.loss.t_ref, w_star=m.w_star, t_max=m.t_max,
                           **knobs)


def _build_cnn(cfg: TrainConfig, input_shape: tuple[int, ...], neuron: LayerModel, knobs: dict) -> M.SpikeNet:
    m = cfg.model
    if len(input_shape) != 3:
        raise ConfigError(f"arch cnn needs image inputs (C, H, W); dataset '{cfg.dataset.name}' gives {input_shape}")
    c, h, w = input_shape
    layers: list[torch.nn.Module] = []
    flat = None
    for spec in m.layers:
        kind, _, arg = spec.partition(":")
        if kind == "conv":
            if flat is not None:
                raise ConfigError(f"model.layers: {spec} after flatten/fc is not possible")
            layers.append(M.RCSpikeConv2d(c, int(arg), 3, stride=1, padding=m.padding, neuron=neuron, **knobs))
            c, h, w = int(arg), h + 2 * m.padding - 2, w + 2 * m.padding - 2
        elif kind == "pool":
            k = int(arg)
            layers.append(M.SpikeMinPool2d(k))
            h, w = h // k, w // k
        elif kind == "flatten":
            layers.append(M.SpikeFlatten())
            flat = c * h * w
        else:  # fc
            if flat is None:
                layers.append(M.SpikeFlatten())
                flat = c * h * w
            layers.append(M.RCSpikeLinear(flat, int(arg), neuron, **knobs))
            flat = int(arg)
        if min(h, w) < 1:
            raise ConfigError(f"model.layers: the feature map vanishes at {spec}; fewer pools or more padding")
    return M.SpikeNet(layers)


@torch.no_grad()
def auto_init_shift(net: M.SpikeNet, x: torch.Tensor, target: float = 0.7, iters: int = 30) -> list[float]:
    """Shift each RC layer's initial weights, first layer first, so that the median of its output spike times over the
    samples `x` lies at `target` of the window; returns the shifts. Why: whether a neuron with v = 0 fires depends on
    the cell (its threshold, and its ramp, which slows as C_eff grows with fan-in), so a fixed shift that starts one
    cell's network firing leaves another's silent (zero gradient) or saturated at t_min. The median time falls
    monotonically with the shift, so bisection finds it. Evaluated in eval mode (no random offset, no noise): the
    init consumes no random numbers and a resumed run is unaffected."""
    was_training = net.training
    net.eval()
    shifts, t = [], x
    for layer in net.layers:
        if isinstance(layer, (M.RCSpikeLinear, M.RCSpikeConv2d)):
            w0 = layer.weight.detach().clone()
            lo, hi = -1.0, 1.0
            for _ in range(iters):
                mid = 0.5 * (lo + hi)
                layer.weight.copy_(w0 + mid)
                layer.constrain_()
                if float(layer(t).median()) > target:
                    lo = mid
                else:
                    hi = mid
            layer.weight.copy_(w0 + 0.5 * (lo + hi))
            layer.constrain_()
            shifts.append(0.5 * (lo + hi))
        t = layer(t)
    net.train(was_training)
    return shifts


def rc_layers(net: torch.nn.Module) -> list[torch.nn.Module]:
    """The weighted spiking layers (RC-Spike or TTFS) in forward order."""
    return [mod for mod in net.modules() if isinstance(mod, (M.RCSpikeLinear, M.RCSpikeConv2d, M.TTFSLinear))]


def layer_weights(net: torch.nn.Module) -> list[torch.Tensor]:
    """Per-layer weight tensors (n_out, n_in[, kh, kw]) in forward order, detached copies on CPU."""
    return [layer.weight.detach().cpu().clone() for layer in rc_layers(net)]


def clamp_weights(net: torch.nn.Module) -> None:
    """Keep weights in the exportable range [w_min, w_max] (projected gradient step after each optimiser step)."""
    for layer in rc_layers(net):
        layer.constrain_()


def set_eval_params(net: torch.nn.Module, steps: int | None = None, sigma: float | None = None,
                    eval_offset: str | None = None) -> None:
    """Settings used in eval mode: DSTD steps, spike noise (sigma > 0 turns the models' eval noise on) and the DSTD
    offset at test time ('fixed' = the grid m/M, 'random' = drawn per forward call)."""
    for layer in rc_layers(net):
        if steps is not None:
            layer.steps = int(steps)
        if sigma is not None:
            layer.sigma = float(sigma)
            layer.eval_noise = float(sigma) > 0
        if eval_offset is not None:
            layer.eval_offset = "random" if eval_offset == "random" else 0.0


@dataclass
class LossParts:
    total: torch.Tensor
    ce: torch.Tensor
    temp: torch.Tensor
    p: torch.Tensor
    v: torch.Tensor
    q: torch.Tensor


def forward_all(net, x) -> list[torch.Tensor]:
    """Spike times after every layer (the last one is the output layer)."""
    out = net(x, return_all=True)
    return list(out) if isinstance(out, (list, tuple)) else [out]


def rc_times(net, times: list[torch.Tensor]) -> list[torch.Tensor]:
    """The entries of `times` produced by RC layers (not pooling / flatten)."""
    layers = list(getattr(net, "layers", []))
    if len(layers) == len(times):
        keep = set(map(id, rc_layers(net)))
        return [t for lay, t in zip(layers, times) if id(lay) in keep]
    return times


def paper_loss(net, times: list[torch.Tensor], labels: torch.Tensor, cfg: TrainConfig,
               inputs: torch.Tensor | None = None) -> LossParts:
    """C = CE(softmax(-t/tau_soft)) + gamma_T * Temp + gamma_W * P + gamma_V * V - gamma_Q * Q (docs/paper.md §1.6,
    Q's sign: docs/models.md); CE and Temp use the class neurons 0..n_classes-1 of the output layer, V every RC
    layer's spikes, P every weight, Q (TTFS) every layer's causal inputs, which needs the network's `inputs`."""
    lc = cfg.loss
    t_cls = times[-1][:, :cfg.n_classes]
    ce = F.spike_ce_loss(t_cls, labels, lc.tau_soft)
    zero = ce.new_zeros(())
    temp = F.temporal_penalty(t_cls, lc.t_ref) if lc.gamma_t else zero
    p = F.weight_l2([layer.weight for layer in rc_layers(net)]) if lc.gamma_w else zero
    v = F.early_spike_penalty(rc_times(net, times)) if lc.gamma_v else zero
    if lc.gamma_q and inputs is None:
        raise ValueError("paper_loss: gamma_q needs the network inputs")
    q = M.ttfs_q(net, inputs, times) if lc.gamma_q else zero
    total = ce + lc.gamma_t * temp + lc.gamma_w * p + lc.gamma_v * v - lc.gamma_q * q
    return LossParts(total, ce, temp, p, v, q)


def predict(t_out: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Predicted class = the class neuron that spikes first (argmin of the output spike time)."""
    return t_out[:, :n_classes].argmin(dim=1)
