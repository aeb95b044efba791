"""Verification benchmark (issue 7): bottom-up model-to-circuit RMSE on random networks (random weights within the
exportable range, random input spike times, 3 seeds), and the wall time of simulating 50 samples through SPICE.

    .venv/bin/python benchmarks/verify.py --cell cell.json [--seeds 3] [--samples 50] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from imcpnn.atomic import atomic_write_json
from imcpnn.cell import load_cell
from imcpnn.netlists import load_design
from imcpnn.pdk import lib_line
from imcpnn.verify.calibrate import rmse
from imcpnn.verify.mapping import Scales
from imcpnn.neuron import NeuronModel
from imcpnn.verify.predict import model_times
from imcpnn.verify.simulate import simulate


def random_network(rng: np.random.Generator, sizes: list[int], w_max: float) -> list[np.ndarray]:
    # Uniform weights, scaled by fan-in so that membranes span the firing phase (as trained networks do).
    return [rng.uniform(-1.0, 1.0, (o, i)) * min(w_max, 2.5 / np.sqrt(i)) for i, o in zip(sizes[:-1], sizes[1:])]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cell", required=True)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--samples", type=int, default=50)
    ap.add_argument("--sizes", default="5,5,5")
    ap.add_argument("--json")
    ap.add_argument("--cache", help="reuse SPICE results from this cache dir (for re-analysis: timings then mean nothing)")
    ap.add_argument("--dump", help="directory for per-seed weights, inputs, SPICE and model spike times (.npz)")
    args = ap.parse_args()
    cell = load_cell(args.cell)
    design = load_design(cell.provenance.design)
    lib = lib_line(cell.provenance.corner)
    sizes = [int(s) for s in args.sizes.split(",")]
    model = NeuronModel.from_cell(cell)
    rows = []
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        ws = random_network(rng, sizes, min(cell.w_max_plus, cell.w_max_minus))
        x = rng.uniform(0, 1, (args.samples, sizes[0]))
        t0 = time.perf_counter()
        cache = None
        if args.cache:
            from imcpnn.spice.cache import ResultCache

            cache = ResultCache(args.cache)
        circ = simulate(ws, x, cell, design, lib, Scales(), chunks=2, progress=False, cache=cache)
        wall = time.perf_counter() - t0
        m = model_times(ws, x, model)
        per_layer = [rmse([c], [mm]) * cell.t_circ * 1e9 for c, mm in zip(circ.times, m)]
        if args.dump:
            os.makedirs(args.dump, exist_ok=True)
            np.savez(os.path.join(args.dump, f"seed{seed}.npz"), x=x, **{f"w{l}": w for l, w in enumerate(ws)},
                     **{f"spice{l}": t for l, t in enumerate(circ.times)}, **{f"model{l}": t for l, t in enumerate(m)})
        rows.append({"seed": seed, "rmse_ns_output": per_layer[-1], "rmse_ns_per_layer": per_layer, "sim_seconds": wall})
        print(f"seed {seed}: RMSE output {per_layer[-1]:.2f} ns, per layer {[round(v, 2) for v in per_layer]}, "
              f"{args.samples} samples simulated in {wall:.1f} s (scale 1, no calibration)")
    print(f"mean output-layer RMSE {np.mean([r['rmse_ns_output'] for r in rows]):.2f} ns over {args.seeds} seeds")
    if args.json:
        atomic_write_json(args.json, rows)


if __name__ == "__main__":
    main()
