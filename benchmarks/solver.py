"""Sparse 1.3 against KLU on one network transient (issue 13; figures in docs/toolchain.md, "No KLU").

One case per process, through the project's engine: the libngspice that `NGSPICE_LIBRARY_PATH` names (ngspice >= 42
for KLU; `SPICE_LIB_DIR` for its spinit), one layer of random weights in the flat device form, built by
`verify.simulate.build_bundles`; `--klu` adds `.options klu`. Prints the load and transient times (wall and CPU: on a
shared machine only CPU seconds compare), the steps, the peak RSS, ngspice's `rusage all` timings, and writes the spike
times to --out; `--compare A.npz B.npz` prints how far two runs' spike times lie apart.

Run: ``.venv/bin/python benchmarks/solver.py --cell cell.json --shape 64,32 --samples 2 [--klu] [--tran-ns 200]
--out sys.npz``, then ``... --compare sys.npz klu.npz``.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import time

import numpy as np

from imcpnn.atomic import atomic_write_bytes
from imcpnn.cell import load_cell
from imcpnn.netlists import CellDesign
from imcpnn.pdk import lib_line
from imcpnn.spice.engine import engine
from imcpnn.spice.session import Session
from imcpnn.verify.mapping import Scales
from imcpnn.verify.readout import layer_spike_times
from imcpnn.verify.simulate import build_bundles


def run_case(cell_path: str, n_in: int, n_out: int, samples: int, klu: bool, tran_ns: float) -> tuple[dict, dict]:
    """(record, spike-time arrays) of one transient in this process."""
    cell = load_cell(cell_path)
    design = CellDesign.from_dict(cell.design).derive(device_form="flat")
    rng = np.random.default_rng(5)
    w = rng.uniform(-0.3, 0.9, (n_out, n_in)) * 8 / n_in  # mostly excitatory, scaled so that most neurons fire
    x = np.minimum(rng.uniform(0.0, 1.1, (samples, n_in)), 1.0)
    lib = lib_line()
    b = build_bundles([w], x, cell, design, lib, Scales(), clip=True, chunks=1)[0][0]
    text = b.text.replace(lib, lib + "\n.options klu", 1) if klu else b.text
    ng = engine()
    c0, t0 = time.process_time(), time.perf_counter()
    with Session(text, "solver benchmark") as s:
        c1, t1 = time.process_time(), time.perf_counter()
        tran = b.tran if tran_ns <= 0 else f"tran {b.tran.split()[1]} {tran_ns:g}n"
        plot = s.run(tran, ["time", *[n for layer in b.spike_nodes for n in layer]])
        c2, t2 = time.process_time(), time.perf_counter()
        usage = [line.strip() for line in s.cmd("rusage all").splitlines()
                 if (" time" in line or "points" in line) and not line.strip().startswith("AC")]
    solver = [line.strip() for line in ng._stdout + ng._stderr if "Direct Linear Solver" in line]
    times = layer_spike_times(plot.time, plot, b.spike_nodes[0], [b.fire_window(0, k) for k in range(b.n_samples)],
                              b.vdd / 2, b.t_circ)
    rec = {"ngspice": str(ng.ngspice_version), "solver": solver[-1] if solver else "Sparse (not reported)",
           "load_s": t1 - t0, "load_cpu_s": c1 - c0, "tran_s": t2 - t1, "tran_cpu_s": c2 - c1,
           "steps": int(len(plot.time)), "fired": int((times < 1).sum()), "spikes": int(times.size),
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "rusage": usage}
    return rec, {"times": times, "t_circ": np.float64(b.t_circ)}


def compare(a_path: str, b_path: str) -> str:
    """Both runs' spike sets and the RMS / max difference of the times where both fired, in ns."""
    a, b = np.load(a_path), np.load(b_path)
    ta, tb = a["times"], b["times"]
    both = (ta < 1) & (tb < 1)
    d = (ta - tb)[both] * float(a["t_circ"]) * 1e9
    rms = float(np.sqrt(np.mean(d ** 2))) if d.size else float("nan")
    top = float(np.abs(d).max()) if d.size else float("nan")
    return (f"fired {int((ta < 1).sum())} / {int((tb < 1).sum())}, same set: {np.array_equal(ta < 1, tb < 1)}; "
            f"spike times {rms:.4f} ns RMS apart (max {top:.4f} ns)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cell", help="cell.json (its design is used, in the flat device form)")
    ap.add_argument("--shape", default="64,32", help="n_in,n_out")
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--klu", action="store_true", help="add .options klu (needs ngspice >= 42)")
    ap.add_argument("--tran-ns", type=float, default=0.0, help="stop the transient here; 0 = the whole transient")
    ap.add_argument("--out", default="solver.npz", help="where to write the spike times")
    ap.add_argument("--compare", nargs=2, metavar=("A", "B"), help="compare two runs' spike times and exit")
    a = ap.parse_args()
    if a.compare:
        print(compare(*a.compare))
        return
    if not a.cell:
        ap.error("--cell is required")
    n_in, n_out = (int(v) for v in a.shape.split(","))
    rec, arrays = run_case(a.cell, n_in, n_out, a.samples, a.klu, a.tran_ns)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(a.out, buf.getvalue())
    print(json.dumps(rec, indent=1))


if __name__ == "__main__":
    main()
