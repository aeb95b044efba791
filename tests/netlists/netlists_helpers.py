"""ngspice CLI helpers for the netlist tests (batch mode; one process per run)."""

from __future__ import annotations

import os
import subprocess
import tempfile

import numpy as np


def run_ngspice(text: str, control: list[str], vectors: list[str], timeout: float = 300) -> tuple[np.ndarray, str]:
    """Run ``text`` (a .control-free netlist ending in .end) with a control block; return (data, stdout).
    data columns: the scale then ``vectors`` (wrdata with a single scale)."""
    body = text.rstrip()
    if body.endswith(".end"):
        body = body[: -len(".end")]
    with tempfile.TemporaryDirectory() as d:
        cir = os.path.join(d, "c.cir")
        out = os.path.join(d, "o.dat")
        # ngspice sets its OpenMP thread count from its own `num_threads` variable (default 2), not OMP_NUM_THREADS
        ctl = ["set num_threads=1", *control]
        if vectors:
            ctl += ["set wr_singlescale", "set wr_vecnames", f"wrdata {out} " + " ".join(vectors)]
        with open(cir, "w") as f:
            f.write(body + "\n.control\n" + "\n".join(ctl) + "\n.endc\n.end\n")
        env = {**os.environ, "OMP_NUM_THREADS": "1"}  # libgomp spin-waiting oversubscribes 2 cores (see imcpnn.spice)
        r = subprocess.run(["ngspice", "-b", cir], capture_output=True, text=True, timeout=timeout, env=env)
        log = r.stdout + r.stderr
        if not vectors:
            return np.empty((0, 0)), log
        if not os.path.exists(out):
            raise AssertionError("ngspice produced no output:\n" + log[-4000:])
        return np.loadtxt(out, skiprows=1, ndmin=2), log


def crossings(t: np.ndarray, v: np.ndarray, level: float, rising: bool = True) -> np.ndarray:
    """Interpolated times where v crosses level (rising or falling)."""
    a = v - level
    idx = np.nonzero((a[:-1] < 0) & (a[1:] >= 0))[0] if rising else np.nonzero((a[:-1] > 0) & (a[1:] <= 0))[0]
    return t[idx] + (t[idx + 1] - t[idx]) * (-a[idx]) / (a[idx + 1] - a[idx])


def random_biases(rng, design, shapes, p_pos=0.6):
    """Random valid biases: each synapse uses one branch (NMOS 0.45..0.56 V or PMOS 1.05..1.25 V), the other off."""
    out = []
    for n_out, n_in in shapes:
        pos = rng.random((n_out, n_in)) < p_pos
        vn = np.where(pos, rng.uniform(0.45, 0.56, (n_out, n_in)), 0.0)
        vp = np.where(pos, design.vdd, rng.uniform(1.05, 1.25, (n_out, n_in)))
        out.append((vn, vp))
    return out
