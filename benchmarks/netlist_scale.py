"""Netlist set-up time, transient time and peak memory against layer size, sky130 wrapper subcircuits vs the flat
device form (CellDesign.device_form; imcpnn.pdk.flat).

Each case (one n x n layer, one input sample) runs in a fresh process through the project's engine (libngspice, one
thread): `load` is ngspice reading and expanding the netlist (Session start); `tran` the transient, by default its
first --tran-ns (the initial operating point, where ngspice also sets up the devices, and the first steps), with
--tran-ns 0 the whole 3-phase transient; `peak RSS` the child's maximum resident set (os.wait4), Python and the
netlist text included. A child may use at most --mem-limit-gb of address space (the machine is shared). A form that
fails or runs past --timeout at one size is not tried at larger ones.

Run: ``.venv/bin/python benchmarks/netlist_scale.py [--sizes 5,10,20,40,64,128] [--timeout 300] [--tran-ns 100]
[--json out.json]``. Numbers depend on machine load; the growth with size is the point.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import time

import numpy as np

from imcpnn.atomic import atomic_write_text
from imcpnn.netlists import default_design, network_netlist

FORMS = ("subckt", "flat")


def _vm(key: str) -> float:
    """A /proc/self/status memory figure in MB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_case(n: int, form: str, tran_ns: float) -> dict:
    """In the child: build, load and simulate one n x n layer; timings in seconds."""
    from imcpnn.pdk import lib_line
    from imcpnn.spice.session import Session

    design = default_design().derive(device_form=form)
    rng = np.random.default_rng(n)
    pos = rng.random((n, n)) < 0.6  # fixed biases: a mix of excitatory and inhibitory synapses
    vn = np.where(pos, rng.uniform(0.45, 0.56, (n, n)), 0.0)
    vp = np.where(pos, design.vdd, rng.uniform(1.05, 1.25, (n, n)))
    t0 = time.perf_counter()
    nb = network_netlist(design, lib_line(), [(vn, vp)], rng.uniform(0.0, 0.9, (1, n)))
    t1 = time.perf_counter()
    rss_before = _vm("VmRSS")
    with Session(nb.text, title=f"{n}x{n} {form}") as s:
        t2 = time.perf_counter()
        # the set-up figures first, so that a transient cut short by the timeout still reports them
        print(json.dumps({"n": n, "form": form, "load_s": t2 - t1, "vmhwm_after_load_mb": _vm("VmHWM")}), flush=True)
        tran = nb.tran if tran_ns <= 0 else f"tran {nb.tran.split()[1]} {tran_ns:g}n"
        plot = s.run(tran, ["time", *nb.spike_nodes[0]])
        t3 = time.perf_counter()
    return {"n": n, "form": form, "devices": 4 * n * n + 25 * n, "netlist_kb": len(nb.text) / 1024,
            "build_s": t1 - t0, "load_s": t2 - t1, "tran_s": t3 - t2, "steps": int(len(plot.time)),
            "rss_before_load_mb": rss_before, "vmhwm_mb": _vm("VmHWM")}


def spawn(n: int, form: str, timeout: float, tran_ns: float, mem_gb: float) -> dict:
    """One case in a fresh process; its peak RSS from the kernel's accounting of that process alone."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    limit = int(mem_gb * 2 ** 30)
    p = subprocess.Popen([sys.executable, __file__, "--case", str(n), form, str(tran_ns)], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, env=env, start_new_session=True,
                         preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)))
    t0 = time.perf_counter()
    while True:
        pid, status, usage = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() - t0 > timeout:
            os.killpg(p.pid, signal.SIGKILL)
            os.wait4(p.pid, 0)
            lines = (p.stdout.read() if p.stdout else "").strip().splitlines()
            loaded = json.loads(lines[-1]) if lines else {}
            return {**loaded, "n": n, "form": form, "status": "timeout", "wall_s": timeout}
        time.sleep(0.2)
    wall = time.perf_counter() - t0
    out = p.stdout.read() if p.stdout else ""
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0 or not out.strip():
        return {"n": n, "form": form, "status": f"failed (exit {p.returncode}; memory limit {mem_gb:g} GB?)",
                "wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024}
    rec = json.loads(out.strip().splitlines()[-1])
    return {**rec, "status": "ok", "wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024}


def table(rows: list[dict], sizes: list[int]) -> str:
    """Markdown table: one row per size, both forms side by side."""
    by = {(r["n"], r["form"]): r for r in rows}
    head = ["layer", "devices"] + [f"{f} {c}" for f in FORMS for c in ("load s", "tran s", "peak RSS MB")]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for n in sizes:
        cells = [f"{n}x{n}", str(4 * n * n + 25 * n)]
        for f in FORMS:
            r = by.get((n, f))
            if r is None:
                cells += ["not run"] * 3
            elif r["status"] != "ok" and "load_s" in r:  # loaded, then ran out of time in the transient
                cells += [f"{r['load_s']:.2f}", r["status"], f">= {r['vmhwm_after_load_mb']:.0f}"]
            elif r["status"] != "ok":
                cells += [r["status"], "", ""]
            else:
                cells += [f"{r['load_s']:.2f}", f"{r['tran_s']:.2f}", f"{r['peak_rss_mb']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="5,10,20,40,64,128", help="layer sizes n (n x n), comma-separated")
    ap.add_argument("--forms", default=",".join(FORMS))
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per case")
    ap.add_argument("--tran-ns", type=float, default=100.0, help="transient length in ns; 0 = all 3 phases")
    ap.add_argument("--mem-limit-gb", type=float, default=5.0, help="address-space limit per case")
    ap.add_argument("--json", default="netlist_scale.json", help="where to write the records")
    ap.add_argument("--case", nargs=3, metavar=("N", "FORM", "TRAN_NS"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.case:
        print(json.dumps(run_case(int(a.case[0]), a.case[1], float(a.case[2]))))
        return
    sizes = [int(s) for s in a.sizes.split(",")]
    rows = []
    for form in a.forms.split(","):
        for n in sizes:
            r = spawn(n, form, a.timeout, a.tran_ns, a.mem_limit_gb)
            rows.append(r)
            print(json.dumps(r), flush=True)
            if r["status"] != "ok":
                break
    atomic_write_text(a.json, json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                          "timeout_s": a.timeout, "tran_ns": a.tran_ns,
                                          "mem_limit_gb": a.mem_limit_gb, "cases": rows}, indent=2) + "\n")
    print(table(rows, sizes))


if __name__ == "__main__":
    main()
