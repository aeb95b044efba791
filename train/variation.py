"""Variation-aware training and Monte-Carlo evaluation: measured mismatch injected around the one forward pass.

An *instance* is one sampled chip: every synapse's current times a lognormal factor (sigma_rel of its branch at its
current |w| i_unit; sub-threshold current is exponential in the Gaussian threshold-voltage mismatch), every neuron's
C_eff times (1 + sigma_c z) (its synapse charges and its firing ramp divide by it) and its firing threshold plus
sigma_theta z, and optionally another cell's physics (a corner or temperature). The weights reach the layers through
`torch.func.functional_call` (the gradient flows to the programmed weights) and the neuron terms through the layers'
`potential_map` (an equivalent end-of-accumulation potential), so the forward pass is the models' own. Training draws
a fresh instance per batch from a generator seeded by (seed, epoch, batch): reproducible and resumable without
stored state. Evaluation stays nominal unless asked (`imc-train eval RUN --variation N`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from pydantic import ValidationError
from torch.func import functional_call

from imcpnn.cell import CellParams, load_cell
from imcpnn.errors import ConfigError
from imcpnn.neuron import LayerModel, NeuronModel
from imcpnn.train.config import TrainConfig, VariationConfig, _fmt_error, load_config_dict
from imcpnn.train.net import build_net, forward_all, rc_layers
from imcpnn.variation import CurrentMismatch, Variation

#: where a run keeps the cells it trains on besides its own cell.json: cells/cell_<k>.json and cells/model_<k>.json
CELLS_DIR = "cells"


@dataclass(frozen=True)
class Sigmas:
    """The mismatch an instance is drawn with (already times sigma_scale): per-branch sigma_rel against the current
    (A) with the i_unit that turns a weight into it, or one sigma_rel for every synapse; the neurons' threshold
    (v_th units) and relative C_eff spread."""

    current: dict[str, CurrentMismatch] | None
    weight: float
    threshold: float
    c_m: float
    i_unit: float | None
    scale: float = 1.0
    ramp: float = 0.0


def threshold_spread(meas: Variation, cell: CellParams) -> float:
    """A neuron's threshold spread in v_th units: the measured firing level's when present (it holds the switching
    point and the comparator's dynamic offset together), else the switching point's (v_th, or v_switch) over v_th."""
    sp = meas.spreads
    if "fire_threshold" in sp:
        return sp["fire_threshold"].std
    for key in ("v_th", "v_switch"):
        if key in sp:
            return sp[key].std / cell.v_th
    return 0.0


def resolve_sigmas(vc: VariationConfig, cell: CellParams | None) -> Sigmas:
    """The config's sigmas, the cell's measured ones standing in for those it leaves out (`from_cell`)."""
    meas = cell.variation if cell is not None else None
    if vc.from_cell and meas is None:
        raise ConfigError("variation.from_cell is true but the cell has no variation section (extract it with "
                          "Monte-Carlo instances, or give the sigmas in the config)")
    use = meas if vc.from_cell else None
    current = None
    if vc.current is not None:
        current = {br: c.mismatch() for br, c in vc.current.items()}
    elif use is not None and vc.weight_sigma is None:
        current = dict(use.current)
    if current is not None and cell is None:
        raise ConfigError("variation.current needs a cell (its i_unit turns a weight into a current)")
    threshold = vc.threshold_sigma if vc.threshold_sigma is not None else (
        threshold_spread(use, cell) if use is not None else 0.0)
    c_m = vc.c_m_sigma if vc.c_m_sigma is not None else (
        use.spreads["c_m"].rel if use is not None and "c_m" in use.spreads else 0.0)
    ramp = vc.ramp_sigma if vc.ramp_sigma is not None else (
        use.spreads["alpha_dis"].rel if use is not None and "alpha_dis" in use.spreads else 0.0)
    k = vc.sigma_scale
    return Sigmas(current=current, weight=(vc.weight_sigma or 0.0) * k, threshold=threshold * k, c_m=c_m * k,
                  i_unit=cell.i_unit if cell is not None else None, scale=k, ramp=ramp * k)


def sigma_of_current(table: CurrentMismatch, current: torch.Tensor) -> torch.Tensor:
    """CurrentMismatch.sigma_at for a tensor of currents (A): linear in log current, held at the ends."""
    xs = torch.tensor([math.log(i) for i in table.i], dtype=current.dtype, device=current.device)
    ys = torch.tensor(table.sigma_rel, dtype=current.dtype, device=current.device)
    x = current.clamp_min(1e-30).log()
    k = torch.searchsorted(xs, x.contiguous()).clamp(1, len(xs) - 1)
    f = ((x - xs[k - 1]) / (xs[k] - xs[k - 1])).clamp(0.0, 1.0)
    return ys[k - 1] + f * (ys[k] - ys[k - 1])


def synapse_sigma(w: torch.Tensor, s: Sigmas) -> torch.Tensor:
    """sigma_rel of each synapse's current: branch n for w > 0, p for w < 0, at the current |w| i_unit."""
    if s.current is None:
        return torch.full_like(w, s.weight)
    cur = w.abs() * s.i_unit
    sig = torch.where(w > 0, sigma_of_current(s.current["n"], cur), sigma_of_current(s.current["p"], cur))
    return sig * s.scale


def lognormal_factor(sigma: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Factors of mean 1 and standard deviation `sigma` from standard normal `z`."""
    var = torch.log1p(sigma * sigma)
    return torch.exp(var.sqrt() * z - 0.5 * var)


class PotentialMap:
    """A neuron's threshold theta + dtheta and ramp rate times `ramp`, as the end-of-accumulation potential that
    reaches the nominal threshold at the same time on the nominal ramp. The ramp dv/dt = a (1 - b v) (b = 1/E_dis)
    keeps ln(1 - b v) linear in time, so the equivalent potential is exact (b = 0: theta - (theta' - v) / ramp);
    potentials at or above the shifted threshold map to the nominal one (they fire at once, as nominally)."""

    def __init__(self, model: LayerModel, dtheta: torch.Tensor, ramp: torch.Tensor):
        self.theta, self.b = model.threshold, 0.0 if math.isinf(model.e_dis) else 1.0 / model.e_dis
        top = 0.99 / self.b if self.b else math.inf
        self.shifted = (self.theta + dtheta).clamp(min=0.05 * self.theta, max=top)
        self.ramp = ramp

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        th, b = self.shifted, self.b
        v = torch.minimum(v, th)
        if b == 0.0:
            return self.theta - (th - v) / self.ramp
        q = ((1.0 - b * v) / (1.0 - b * th)) ** (1.0 / self.ramp)
        return (1.0 - (1.0 - b * self.theta) * q) / b


@dataclass
class Instance:
    """One sampled network: a factor per weight (and bias) by parameter name, a potential map per RC layer (None:
    nominal neurons) and the layer records of the cell it runs on."""

    factors: dict[str, torch.Tensor]
    maps: list[PotentialMap | None]
    records: list[LayerModel]

    def forward(self, net: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
        """Every layer's spike times (as `forward_all`) of this instance; the net is left as it was."""
        layers = rc_layers(net)
        saved = [layer.neuron for layer in layers]
        try:
            for layer, rec, fn in zip(layers, self.records, self.maps):
                layer.neuron, layer.potential_map = rec, fn
            named = dict(net.named_parameters())
            params = {name: named[name] * f for name, f in self.factors.items()}
            return forward_all(lambda t, return_all: functional_call(net, params, (t,), {"return_all": return_all}),
                               x)
        finally:
            for layer, rec in zip(layers, saved):
                layer.neuron, layer.potential_map = rec, None


def nominal(records: list[LayerModel]) -> Instance:
    """The nominal network on the cell whose layer records are `records`."""
    return Instance({}, [None] * len(records), records)


def draw(net: torch.nn.Module, s: Sigmas, gen: torch.Generator, records: list[LayerModel]) -> Instance:
    """Sample an instance at the net's present weights; the draws (in this order per layer: synapses, bias, C_eff,
    threshold, ramp rate) come from `gen` only."""
    names = {id(p): n for n, p in net.named_parameters()}
    factors: dict[str, torch.Tensor] = {}
    maps: list[PotentialMap | None] = []
    for layer, rec in zip(rc_layers(net), records):
        w = layer.weight.detach()
        z_w = torch.randn(w.shape, generator=gen, dtype=w.dtype).to(w.device)
        z_b = torch.randn(layer.weight.shape[0], generator=gen, dtype=w.dtype).to(w.device)
        z_c = torch.randn(layer.weight.shape[0], generator=gen, dtype=w.dtype).to(w.device)
        z_t = torch.randn(layer.weight.shape[0], generator=gen, dtype=w.dtype).to(w.device)
        c_scale = 1.0 / (1.0 + s.c_m * z_c).clamp_min(0.1)  # C_nominal / C_instance
        factors[names[id(layer.weight)]] = lognormal_factor(synapse_sigma(w, s), z_w) * c_scale[:, None]
        if layer.bias is not None:
            b = layer.bias.detach()
            factors[names[id(layer.bias)]] = lognormal_factor(synapse_sigma(b, s), z_b) * c_scale
        ramp = c_scale
        if s.ramp:  # drawn only when on, so that instances without a ramp spread keep their draws
            z_r = torch.randn(layer.weight.shape[0], generator=gen, dtype=w.dtype).to(w.device)
            ramp = c_scale * (1.0 + s.ramp * z_r).clamp_min(0.1)
        maps.append(PotentialMap(rec, s.threshold * z_t, ramp) if s.threshold or s.c_m or s.ramp else None)
    return Instance(factors, maps, records)


def generator(*keys: int) -> torch.Generator:
    """A CPU generator seeded by a tuple of integers (seed, epoch, batch or seed, instance)."""
    seed = 0
    for k in keys:
        seed = (seed * 1_000_003 + int(k) + 1) % (2 ** 63)
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------------------------------------------- cells
def config_cells(cfg: TrainConfig, config_path: Path | None) -> list[Path]:
    """`variation.cells` as existing absolute paths (relative ones start at the config's folder, else here)."""
    out = []
    for name in cfg.variation.cells if cfg.variation is not None else []:
        p = Path(name)
        if not p.is_absolute() and config_path is not None and (config_path.parent / p).is_file():
            p = config_path.parent / p
        if not p.is_file():
            raise ConfigError(f"variation.cells: {name} not found (relative paths start at the config's folder or "
                              f"here)")
        out.append(p.resolve())
    return out


def run_cells(run_dir: Path) -> list[tuple[Path, Path]]:
    """(cell.json, model.json) of the extra cells a run trains on, in config order."""
    d = Path(run_dir) / CELLS_DIR
    k, out = 1, []
    while (d / f"cell_{k}.json").is_file():
        out.append((d / f"cell_{k}.json", d / f"model_{k}.json"))
        k += 1
    return out


def layer_records(cfg: TrainConfig, input_shape: tuple[int, ...], model: NeuronModel) -> list[LayerModel]:
    """The per-layer records the run's network has on `model` (built as build_net builds them; the throwaway
    net's initialisation leaves the global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        return [layer.neuron for layer in rc_layers(build_net(cfg, input_shape, model))]


def cell_records(run_dir: Path, cfg: TrainConfig, input_shape: tuple[int, ...],
                 primary: NeuronModel) -> list[tuple[str, list[LayerModel]]]:
    """(name, layer records) of every cell the run trains on, its own first."""
    models = [primary] + [NeuronModel.load(m) for _, m in run_cells(run_dir)]
    return [(m.source or "model.json", layer_records(cfg, input_shape, m)) for m in models]


# ------------------------------------------------------------------------------------------------------- training
@dataclass
class VariationTraining:
    """Per batch: the cell (cycled or drawn) and a fresh instance, both from generator(seed, epoch, batch)."""

    sigmas: Sigmas
    seed: int
    cells: list[tuple[str, list[LayerModel]]]
    order: str
    n_batches: int

    def cell_index(self, epoch: int, batch: int, gen: torch.Generator) -> int:
        n = len(self.cells)
        if self.order == "random":
            return int(torch.randint(n, (), generator=gen))
        return ((epoch - 1) * self.n_batches + batch) % n

    def forward(self, net: torch.nn.Module, x: torch.Tensor, epoch: int, batch: int) -> list[torch.Tensor]:
        gen = generator(self.seed, epoch, batch)
        records = self.cells[self.cell_index(epoch, batch, gen)][1]
        return draw(net, self.sigmas, gen, records).forward(net, x)


def setup_training(run_dir: Path, cfg: TrainConfig, input_shape: tuple[int, ...], model: NeuronModel,
                   n_train: int) -> VariationTraining | None:
    """The run's variation-aware training (None without a variation section)."""
    vc = cfg.variation
    if vc is None:
        return None
    cell = load_cell(run_dir / "cell.json") if (run_dir / "cell.json").is_file() else None
    return VariationTraining(resolve_sigmas(vc, cell), cfg.seed if vc.draw_seed is None else vc.draw_seed,
                             cell_records(run_dir, cfg, input_shape, model), vc.cell_order,
                             math.ceil(n_train / cfg.optim.batch_size))


# ------------------------------------------------------------------------------------------------------- evaluation
def variation_section(cfg: TrainConfig, source: str | None) -> VariationConfig:
    """The variation an evaluation samples: the `variation:` section of `source` (a YAML file or shipped config,
    e.g. another run's config.yaml), else the run's own."""
    if source is None:
        if cfg.variation is None:
            raise ConfigError("--variation: the run's config has no variation section; pass --variation-config "
                              "with a YAML file that has one")
        return cfg.variation
    data, path = load_config_dict(source)
    if not isinstance(data.get("variation"), dict):
        raise ConfigError(f"{path}: no variation section to sample")
    try:
        return VariationConfig.model_validate(data["variation"])
    except ValidationError as exc:
        raise ConfigError(_fmt_error(exc, f"{path}: variation")) from None


def accuracy_stats(accs: list[float]) -> dict:
    a = np.asarray(accs, dtype=float)
    return {"mean": float(a.mean()), "p5": float(np.percentile(a, 5)), "min": float(a.min()),
            "max": float(a.max()), "accuracies": [round(float(x), 6) for x in a]}
