"""Engine benchmark (issue 2): library load trimmed vs full; a 100-point gate-bias sweep by re-loading per point vs
one session with alterparam; pool speed-up with 2 workers. Ratios are measured side by side in one run.

    .venv/bin/python benchmarks/engine.py [--json out.json]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np

from imcpnn.atomic import atomic_write_json
from imcpnn.pdk import lib_line
from imcpnn.spice.jobs import SimJob
from imcpnn.spice.pool import run_jobs

NET = ("nfet\n{lib}\n.param vg=0.5\nXM1 d g 0 0 sky130_fd_pr__nfet_01v8 W=1 L=0.25\n"
       "vd d 0 1.3\nvg g 0 {{vg}}\n")


def load_time(full: bool, repeats: int = 3) -> float:
    # Fresh interpreter per measurement: the first load in a process is what a worker pays.
    code = ("import time; from imcpnn.spice.engine import engine; engine()\n"
            "from imcpnn.spice import Session\n"
            f"net = {NET.format(lib=lib_line('tt', full))!r}\n"
            "t = time.perf_counter()\nwith Session(net) as s: s.run('op')\nprint(time.perf_counter() - t)")
    times = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
                   .stdout.split()[-1]) for _ in range(repeats)]
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--json")
    ap.add_argument("--points", type=int, default=100)
    args = ap.parse_args()
    out: dict[str, float] = {}

    out["load_trimmed_s"] = load_time(False)
    out["load_full_s"] = load_time(True, repeats=1)

    vgs = np.linspace(0.3, 0.9, args.points)
    net = NET.format(lib=lib_line())
    per_point = [SimJob(net.replace("{vg}", f"{v:.6f}"), ("op",), ("vd#branch",), f"vg{v:.3f}") for v in vgs]
    t = time.perf_counter()
    r1 = run_jobs(per_point, workers=1, progress=False)
    out["reload_per_point_ms"] = (time.perf_counter() - t) / args.points * 1e3
    cmds: list[str] = []
    for v in vgs:
        cmds += [f"alterparam vg={v:.6f}", "reset", "op"]
    t = time.perf_counter()
    r2 = run_jobs([SimJob(net, tuple(cmds), ("vd#branch",), "session")], workers=1, progress=False)
    out["one_session_ms"] = (time.perf_counter() - t) / args.points * 1e3
    a = np.array([r.plots[0]["vd#branch"][0] for r in r1])
    b = np.array([p["vd#branch"][0] for p in r2[0].plots])
    assert np.allclose(a, b, rtol=1e-9, atol=0), "session sweep differs from reloads"
    out["sweep_ratio"] = out["reload_per_point_ms"] / out["one_session_ms"]

    tran = "rc\nr1 a 0 1k\nc1 a 0 1n\nv1 b 0 pulse(0 1 0 1n 1n 1u 2u)\nr2 b a 1k\n"
    jobs = [SimJob(tran, ("tran 1n 100u",), ("v(a)",), f"t{i}") for i in range(8)]
    t = time.perf_counter()
    run_jobs(jobs, workers=1, progress=False)
    w1 = time.perf_counter() - t
    t = time.perf_counter()
    run_jobs(jobs, workers=2, progress=False)
    w2 = time.perf_counter() - t
    out["pool_1_worker_s"], out["pool_2_workers_s"], out["pool_speedup"] = w1, w2, w1 / w2

    print(f"{'library load (tt)':<34} trimmed {out['load_trimmed_s']*1e3:8.1f} ms   full {out['load_full_s']*1e3:8.1f} ms"
          f"   ratio {out['load_full_s']/out['load_trimmed_s']:6.1f}x")
    print(f"{'100-pt gate sweep, per point':<34} reload {out['reload_per_point_ms']:8.2f} ms   session "
          f"{out['one_session_ms']:8.3f} ms   ratio {out['sweep_ratio']:6.1f}x")
    print(f"{'8 transients, pool':<34} 1 worker {w1:6.2f} s   2 workers {w2:6.2f} s   speed-up {out['pool_speedup']:4.2f}x")
    if args.json:
        atomic_write_json(args.json, out)


if __name__ == "__main__":
    main()
