"""Verification benchmark: bottom-up model-to-circuit RMSE on random networks (random weights within the exportable
range, random input spike times, several seeds and shapes), uncalibrated, with and without the fan-in law side by
side, over all pairs and over the pairs where model or circuit fires; and the wall time of the SPICE simulation.

    .venv/bin/python benchmarks/verify.py --cell cell.json [--sizes 5,5,5 --sizes 8,16,5] [--seeds 3] [--samples 50]
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace

import numpy as np
import torch

from imcpnn.atomic import atomic_write_json
from imcpnn.models import mlp_from_weights
from imcpnn.cell import load_cell
from imcpnn.netlists import load_design
from imcpnn.pdk import lib_line
from imcpnn.neuron import NeuronModel
from imcpnn.spice.cache import ResultCache
from imcpnn.verify.mapping import Scales
from imcpnn.verify.predict import model_times
from imcpnn.verify.simulate import simulate
from imcpnn.verify.spike_errors import fmt_ns, layer_errors


def random_network(rng: np.random.Generator, sizes: list[int], w_max: float) -> list[np.ndarray]:
    # Uniform weights, scaled by fan-in so that membranes span the firing phase (as trained networks do).
    return [rng.uniform(-1.0, 1.0, (o, i)) * min(w_max, 2.5 / np.sqrt(i)) for i, o in zip(sizes[:-1], sizes[1:])]


def centre_last_layer(ws: list[np.ndarray], x: np.ndarray, model: NeuronModel, target: float) -> None:
    """Shift each row of the last layer's weights by one constant so that the model's mean end-of-accumulation
    potential over the samples (before the kicks, so that the weights depend on the cell only) is ``target``: at a
    large fan-in the ramp covers only the last charge_scale * alpha of the window, and random zero-mean weights leave
    every neuron silent (no fired pair to measure)."""
    net = mlp_from_weights(ws, model)
    with torch.no_grad():
        t = torch.as_tensor(x, dtype=torch.float64)
        for layer in net.layers[:-1]:
            t = layer(t)
        last = net.layers[-1]
        lo, hi = np.full(len(ws[-1]), -1.0), np.full(len(ws[-1]), 1.0)
        for _ in range(50):  # bisection per row: the potential grows with every weight
            mid = (lo + hi) / 2
            last.weight.copy_(torch.as_tensor(ws[-1] + mid[:, None]))
            v = last.membrane(t).mean(0).numpy()
            lo, hi = np.where(v < target, mid, lo), np.where(v < target, hi, mid)
    ws[-1] = ws[-1] + ((lo + hi) / 2)[:, None]


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cell", required=True)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0, help="weight/input seeds first-seed .. first-seed+seeds-1")
    ap.add_argument("--samples", type=int, default=50)
    ap.add_argument("--sizes", action="append", help="layer sizes, e.g. 5,5,5 (repeatable; default 5,5,5)")
    ap.add_argument("--json")
    ap.add_argument("--timeout", type=float, default=3600.0, help="per-transient timeout in seconds")
    ap.add_argument("--device-form", choices=["subckt", "flat"], default=None,
                    help="how the netlists write the sky130 devices (default: the cell's design)")
    ap.add_argument("--cache", help="reuse SPICE results from this cache dir (for re-analysis: timings then mean nothing)")
    ap.add_argument("--centre", type=float, help="shift the last layer's weights so that the fan-in-law model's mean "
                    "end-of-accumulation potential (before the kicks) is this (e.g. 0.9 for one neuron of fan-in 784)")
    ap.add_argument("--dump", help="directory for per-seed weights, inputs, SPICE and model spike times (.npz)")
    return ap.parse_args()


def _case(args, cell, sizes: list[int], seed: int, models: dict, cache) -> dict:
    rng = np.random.default_rng(seed)
    ws = random_network(rng, sizes, min(cell.w_max_plus, cell.w_max_minus))
    x = rng.uniform(0, 1, (args.samples, sizes[0]))
    if args.centre is not None:
        centre_last_layer(ws, x, models["fan-in law"], args.centre)
    t0 = time.perf_counter()
    design = load_design(cell.design)
    if args.device_form:
        design = design.derive(device_form=args.device_form)
    circ = simulate(ws, x, cell, design, lib_line(cell.provenance.corner), Scales(), chunks=2,
                    progress=False, cache=cache, timeout=args.timeout)
    wall = time.perf_counter() - t0
    row = {"sizes": sizes, "seed": seed, "sim_seconds": wall}
    for name, model in models.items():
        m = model_times(ws, x, model)
        row[name] = layer_errors(circ.times, m, cell.t_circ * 1e9)
        if args.dump:
            os.makedirs(args.dump, exist_ok=True)
            tag = "-".join(map(str, sizes))
            np.savez(os.path.join(args.dump, f"{tag}_seed{seed}_{name}.npz"), x=x,
                     **{f"w{l}": w for l, w in enumerate(ws)}, **{f"spice{l}": t for l, t in enumerate(circ.times)},
                     **{f"model{l}": t for l, t in enumerate(m)})
    cells = "; ".join(f"{name} " + ", ".join(f"{e['rmse_ns']:.2f}/{fmt_ns(e['rmse_ns_fired'])}" for e in row[name])
                      for name in models)
    print(f"{'-'.join(map(str, sizes)):>10} seed {seed}: per-layer RMSE all/fired pairs (ns): {cells}; "
          f"{args.samples} samples in {wall:.1f} s", flush=True)
    return row


def main() -> None:
    args = _args()
    cell = load_cell(args.cell)
    cache = ResultCache(args.cache) if args.cache else None
    law = NeuronModel.from_cell(cell)
    models = {"fan-in law": law, "no law": NeuronModel.from_cell(cell, fan_in=False)}
    if law.kicks_neuron_fan_out is not None:  # the part the fan-out of the spike lines contributes
        models["law, kicks at fan-out 16"] = replace(law, kicks_neuron_fan_out=None)
    print(f"cell fan-in {cell.design_fan_in}, C_eff measured at {[f.n_in for f in cell.c_m_per_fanin]}; scale 1, "
          f"no calibration")
    rows = [_case(args, cell, [int(v) for v in sz.split(",")], seed, models, cache)
            for sz in (args.sizes or ["5,5,5"]) for seed in range(args.first_seed, args.first_seed + args.seeds)]
    for name in models:
        out = [r[name][-1]["rmse_ns_fired"] for r in rows if r[name][-1]["rmse_ns_fired"] is not None] or [np.nan]
        print(f"{name}: output-layer RMSE over fired pairs, mean {np.mean(out):.2f} ns, max {np.max(out):.2f} ns "
              f"over {len(rows)} networks")
    if args.json:
        atomic_write_json(args.json, rows)


if __name__ == "__main__":
    main()
