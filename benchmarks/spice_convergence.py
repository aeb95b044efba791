"""Is the circuit converged? The same network and samples simulated with the design's transient options and with
tighter / looser ones; prints each setting's spike-time RMS difference (ns, per layer) from a tight reference and its
wall time, measured side by side in one run. The model-to-circuit floors (issue 7) are ~1-2 ns, so the circuit
itself must be converged to ~0.1 ns for them to mean anything.

    .venv/bin/python benchmarks/spice_convergence.py --cell cell.json [--samples 10] [--seed 0] [--json out.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from imcpnn.atomic import atomic_write_json
from imcpnn.cell import load_cell
from imcpnn.netlists import load_design
from imcpnn.pdk import lib_line
from imcpnn.verify.mapping import Scales
from imcpnn.verify.simulate import simulate

from verify import random_network  # benchmarks/verify.py: the same random networks

# (label, reltol, chgtol, method); None = the design's; the first is the reference (gear: no ringing to hide)
SETTINGS = [("reference", 1e-6, 1e-17, "gear"), ("ngspice default chgtol", None, 1e-14, None),
            ("design", None, None, None), ("gear", None, None, "gear"), ("chgtol 1e-16", None, 1e-16, None)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cell", required=True)
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sizes", default="5,5,5")
    ap.add_argument("--json")
    args = ap.parse_args()
    cell = load_cell(args.cell)
    base = load_design(cell.provenance.design)
    lib = lib_line(cell.provenance.corner)
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = np.random.default_rng(args.seed)
    ws = random_network(rng, sizes, min(cell.w_max_plus, cell.w_max_minus))
    x = rng.uniform(0, 1, (args.samples, sizes[0]))
    rows, ref = [], None
    for label, reltol, chgtol, method in SETTINGS:
        d = dataclasses.replace(base, reltol=reltol or base.reltol, chgtol=chgtol or base.chgtol,
                                method=method or base.method)
        t0 = time.perf_counter()
        # one chunk on one worker: the wall times compare like with like
        times = simulate(ws, x, cell, d, lib, Scales(), chunks=1, workers=1, progress=False).times
        wall = time.perf_counter() - t0
        ref = ref or times
        diff = [float(np.sqrt(np.mean((a - b) ** 2)) * cell.t_circ * 1e9) for a, b in zip(times, ref)]
        rows.append({"setting": label, "reltol": d.reltol, "chgtol": d.chgtol, "method": d.method,
                     "rms_diff_ns_per_layer": diff, "seconds": wall})
        print(f"{label:24s} {d.method} reltol {d.reltol:g} chgtol {d.chgtol:g}: RMS difference from the reference "
              f"{[round(v, 3) for v in diff]} ns per layer, {wall:.1f} s ({args.samples} samples)", flush=True)
    if args.json:
        atomic_write_json(args.json, rows)


if __name__ == "__main__":
    main()
