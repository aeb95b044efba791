"""Wall time of the pipelined network transient (issue 3).

Measures, side by side in one run, with the ngspice CLI in batch mode (one process per transient, library load
included, as a fresh session would pay it):

1. the 5-5-5 network: S samples streamed in one transient vs one transient per sample (per-sample wall time);
2. how one layer's transient grows with array size (5x5, 10x10, 20x20), 2 samples streamed.

Run: ``.venv/bin/python benchmarks/network_transient.py [--samples 10] [--sizes 5,10,20]``.
Numbers depend on machine load; the ratios are the point.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time

import numpy as np

from imcpnn.netlists import default_design, network_netlist


def _run(text: str) -> tuple[float, str]:
    with tempfile.TemporaryDirectory() as d:
        cir = os.path.join(d, "n.cir")
        body = text.rstrip()[: -len(".end")]
        with open(cir, "w") as f:
            f.write(body + "\n.control\nset num_threads=1\nrun\nrusage all\n.endc\n.end\n")
        t0 = time.perf_counter()
        env = {**os.environ, "OMP_NUM_THREADS": "1"}  # one OpenMP thread per ngspice (as imcpnn.spice does)
        r = subprocess.run(["ngspice", "-b", cir], capture_output=True, text=True, env=env)
        return time.perf_counter() - t0, r.stdout


def _field(log: str, key: str) -> str:
    for line in log.splitlines():
        if key in line:
            return line.split("=")[-1].strip()
    return "?"


def _biases(rng, design, shapes):
    out = []
    for n_out, n_in in shapes:
        pos = rng.random((n_out, n_in)) < 0.6
        # scale the currents with 1/n_in so the membranes stay in range for bigger arrays
        lo, hi = (0.45, 0.56) if n_in <= 5 else (0.42, 0.52)
        vn = np.where(pos, rng.uniform(lo, hi, (n_out, n_in)), 0.0)
        vp = np.where(pos, design.vdd, rng.uniform(1.1, 1.3, (n_out, n_in)))
        out.append((vn, vp))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--sizes", default="5,10,20")
    args = ap.parse_args()
    import imcpnn.pdk

    lib = imcpnn.pdk.lib_line()
    d = default_design()
    rng = np.random.default_rng(0)
    b = _biases(rng, d, [(5, 5), (5, 5)])
    x = rng.uniform(0, 1.2, (args.samples, 5))
    print(f"design {d.name}, max_step {d.max_step:g} s, reltol {d.reltol:g}; lib {lib}")
    w, log = _run(network_netlist(d, lib, b, x).text)
    print(f"5-5-5 streamed, {args.samples} samples: {w:.2f} s wall = {w / args.samples:.2f} s/sample "
          f"(expansion {_field(log, 'Param expansion time')} s, transient {_field(log, 'Transient analysis time')} s, "
          f"{_field(log, 'Accepted timepoints')} points)")
    per = []
    for s in range(min(args.samples, 3)):
        w1, _ = _run(network_netlist(d, lib, b, x[s:s + 1]).text)
        per.append(w1)
    print(f"5-5-5 one transient per sample: {np.mean(per):.2f} s/sample (mean of {len(per)}); "
          f"streaming speed-up {np.mean(per) / (w / args.samples):.2f}x")
    for n in [int(v) for v in args.sizes.split(",")]:
        bb = _biases(rng, d, [(n, n)])
        xx = rng.uniform(0, 1.2, (2, n))
        w2, log2 = _run(network_netlist(d, lib, bb, xx).text)
        print(f"one layer {n}x{n}, 2 samples: {w2:.2f} s wall (expansion {_field(log2, 'Param expansion time')} s, "
              f"transient {_field(log2, 'Transient analysis time')} s)")


if __name__ == "__main__":
    main()
