"""Spike-time statistics of a trained run on its test set: the early-spike measure of docs/paper.md §5.3 (Fig. 4d).

RC-Spike layers fire at t = clip(1 - v(1), 0, 1) (docs/paper.md §1.3), so an early spike is a neuron whose membrane
ended the accumulation phase high. The paper reports that larger |E| gives more of them: a finite |E| bounds v below
E+ and slows its approach, so small |E| cannot charge a membrane far. The measure here (the paper gives no formula):

- early_fraction: spikes with t < `early` (default 0.5, the first half of the firing phase: v(1) > 0.5; the Temp
  term pulls the output layer towards t_ref = 0.9, so on digits no layer fires anywhere near t = 0);
- saturated_fraction: spikes clipped at t = 0 (v(1) >= 1);
- silent_fraction: spikes at t >= 1 (v(1) <= 0: the neuron adds nothing to the next layer);
- mean_time and q01_time (the 1st percentile) over all neurons, and a histogram of t over [0, 1].

Counted per RC layer over every (test sample, neuron) pair, with the run's evaluation settings (steps_test, the
evaluation offset, no spike noise unless sigma_test is set), drawn from the same private RNG as `evaluate`.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from imcpnn.errors import ConfigError
from imcpnn.train.data import load_dataset
from imcpnn.train.loop import EVAL_SEED_OFFSET, eval_settings, load_run
from imcpnn.train.net import forward_all, rc_times, set_eval_params

#: time below which a spike counts as early (a fraction of the unit firing phase)
EARLY_T = 0.5


@torch.no_grad()
def _layer_times(net, x: torch.Tensor, seed: int, batch_size: int) -> list[torch.Tensor]:
    """Every RC layer's spike times on x, flattened per layer and concatenated over batches (CPU)."""
    chunks: list[list[torch.Tensor]] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for i in range(0, len(x), batch_size):
            times = rc_times(net, forward_all(net, x[i:i + batch_size]))
            chunks.append([t.detach().reshape(-1).cpu() for t in times])
    return [torch.cat(parts) for parts in zip(*chunks)]


def time_stats(t: torch.Tensor, early: float = EARLY_T, bins: int = 20) -> dict:
    """The statistics of one layer's spike times (any shape)."""
    t = t.reshape(-1).double()
    if t.numel() == 0:
        raise ConfigError("no spike times to summarise")
    hist = torch.histc(t.clamp(0.0, 1.0), bins=bins, min=0.0, max=1.0)
    return {"n": int(t.numel()),
            "early_fraction": float((t < early).double().mean()),
            "saturated_fraction": float((t <= 0.0).double().mean()),
            "silent_fraction": float((t >= 1.0).double().mean()),
            "mean_time": float(t.mean()),
            # kthvalue, not quantile: torch.quantile refuses more than 2**24 values (a CNN layer on a full test set)
            "q01_time": float(t.kthvalue(max(1, math.ceil(0.01 * t.numel()))).values),
            "histogram": [int(c) for c in hist.tolist()]}


def spike_stats(run_dir: str | Path, early: float = EARLY_T, bins: int = 20, steps: int | None = None,
                sigma: float | None = None, e_rev: float | None = None, batch_size: int = 500) -> dict:
    """Per-RC-layer spike-time statistics of RUN_DIR on its test set (see the module docstring); steps, sigma and
    e_rev replace the evaluation settings as in `eval_run`."""
    if not 0.0 < early <= 1.0:
        raise ConfigError(f"early must be in (0, 1], got {early}")
    if bins < 1:
        raise ConfigError(f"bins must be >= 1, got {bins}")
    loaded = load_run(run_dir, e_rev=e_rev)
    net, cfg = loaded.net, loaded.config
    data = load_dataset(cfg.dataset, flatten=cfg.model.arch == "mlp")
    settings = eval_settings(cfg, steps, sigma)
    set_eval_params(net, **settings)
    layers = _layer_times(net, data.x_test, cfg.seed + EVAL_SEED_OFFSET, batch_size)
    return {"early_t": early, "bins": bins, "steps": settings["steps"], "sigma": settings["sigma"],
            "n_test": len(data.y_test), "layers": [time_stats(t, early, bins) for t in layers]}
