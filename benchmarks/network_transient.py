"""Wall time of the pipelined network transient (issue 3).

Measures, side by side in one run, with the ngspice CLI in batch mode (one process per transient, library load
included, as a fresh session would pay it):

1. the 5-5-5 network: S samples streamed in one transient vs one transient per sample (per-sample wall time);
2. how one layer's transient grows with array size (5x5, 10x10, 20x20), 2 samples streamed.

With ``--partition SPEC --cell cell.json`` it measures instead the whole network against the partitioned one
(verify/partition.py) for the network ``--network`` (random weights), through the verification's own job runner
(libngspice in pool workers): wall time, the transients' summed time, the largest peak RSS of one transient and how
far the partitioned spike times are from the whole network's.

Run: ``.venv/bin/python benchmarks/network_transient.py [--samples 10] [--sizes 5,10,20]``, or
``.venv/bin/python benchmarks/network_transient.py --cell cell.json --partition neurons:8 --network 16,32,10
--samples 3``.
Numbers depend on machine load; the ratios are the point.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time

import numpy as np

from imcpnn.cell import load_cell
from imcpnn.netlists import default_design, network_netlist
from imcpnn.verify.simulate import simulate
from imcpnn.verify.sources import from_run


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
    ap.add_argument("--partition", help="compare the whole network with this partitioning (e.g. neurons:8)")
    ap.add_argument("--cell", help="cell.json (with --partition)")
    ap.add_argument("--network", default="16,32,10", help="layer sizes (with --partition)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--run", help="a trained run's weights and test inputs instead of --network (with --partition)")
    ap.add_argument("--reltol", type=float, help="the design's reltol for both sides (with --partition)")
    ap.add_argument("--load", default="lumped", choices=["lumped", "devices"],
                    help="fan-out outside a partition (with --partition)")
    args = ap.parse_args()
    if args.partition:
        compare_partitioned(args)
        return
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


def compare_partitioned(args: argparse.Namespace) -> None:
    """The whole network vs the partitioned one, side by side (module docstring)."""
    import imcpnn.pdk

    if not args.cell:
        raise SystemExit("--partition needs --cell cell.json")
    cell, d, lib = load_cell(args.cell), default_design(), imcpnn.pdk.lib_line()
    d = d if args.reltol is None else d.derive(reltol=args.reltol)
    if args.run:
        net, _ = from_run(args.run, args.samples, 1, with_cell=False)
        ws, x, what = net.weights, net.test_inputs, f"run {args.run}"
    else:
        sizes = [int(v) for v in args.network.split(",")]
        rng = np.random.default_rng(0)
        ws = [rng.uniform(-1, 1, (o, i)) * min(1.0, 2.5 / np.sqrt(i)) for i, o in zip(sizes[:-1], sizes[1:])]
        x, what = rng.uniform(0, 0.8, (args.samples, sizes[0])), f"network {args.network}"
    rows, times = [], {}
    for spec in ("none", args.partition):
        t0 = time.perf_counter()
        r = simulate(ws, x, cell, d, lib, chunks=1, workers=args.workers, cache=None, progress=False, clip=True,
                     partition=spec, timeout=7200.0, fanout_load=args.load)
        wall = time.perf_counter() - t0
        times[spec] = r.times
        rows.append((spec, len(r.jobs), wall, sum(j["seconds"] for j in r.jobs),
                     max(j["peak_rss_mb"] for j in r.jobs)))
    t_ns = cell.t_circ * 1e9
    rms = np.sqrt(np.mean(np.concatenate([((a - b) * t_ns).ravel() for a, b in zip(*times.values())]) ** 2))
    same = all(np.array_equal(a < 1, b < 1) for a, b in zip(*times.values()))
    print(f"{what}, {len(x)} samples, {args.workers} workers; design {d.name}, reltol {d.reltol:g}, "
          f"fan-out load {args.load}")
    print("| partition | transients | wall (s) | sum of transients (s) | largest peak RSS of one (MiB) |")
    print("| --- | --- | --- | --- | --- |")
    for spec, n, wall, busy, rss in rows:
        print(f"| {spec} | {n} | {wall:.1f} | {busy:.1f} | {rss:.0f} |")
    per_layer = ", ".join(f"{np.sqrt(np.mean(((a - b) * t_ns) ** 2)):.3f}" for a, b in zip(*times.values()))
    print(f"partitioned vs whole: spike-time RMS {rms:.3f} ns over all pairs (per layer {per_layer}), same fired "
          f"pattern: {same}")


if __name__ == "__main__":
    main()
