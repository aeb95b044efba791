"""`imc-verify grid` writes its netlists in the flat device form and with device bypass at half the design's reltol
unless --device-form / --integration say otherwise; a grid made in another form is not resumed with it, and the
refusal says how to resume it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

CELL = Path(__file__).resolve().parents[1] / "fixtures" / "cell_paper.json"
FLAT_MARK = "* flat device form:"
BYPASS = re.compile(r"(?m)^\.options bypass=1$")
WRAPPER_INSTANCE = re.compile(r"(?m)^X\S+ .*\bsky130_fd_pr__\w+ W=")


def _grid(tmp_path: Path, out: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "imcpnn.cli.verify", "grid", "--weights", str(tmp_path / "w.npz"),
                           "--inputs", str(tmp_path / "x.csv"), "--cell", str(CELL), "--scale-mode", "none", "--clip",
                           "--chunks", "1", "--temps", "27", "--mc", "1", "--out", str(tmp_path / out), *args],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "IMC_CACHE_DIR": str(tmp_path / "cache")})


def _netlists(out: Path) -> dict[str, str]:
    return {p.parent.parent.name: p.read_text() for p in (out / "conditions").glob("*/netlists/*.cir")}


@pytest.mark.spice
def test_grid_is_flat_with_bypass_by_default_and_subckt_on_request(tmp_path):
    rng = np.random.default_rng(3)
    np.savez(tmp_path / "w.npz", l0=rng.uniform(-0.8, 1.2, (2, 2)), l1=rng.uniform(-0.8, 1.2, (2, 2)))
    np.savetxt(tmp_path / "x.csv", rng.uniform(0, 0.8, (2, 2)), delimiter=",")

    p = _grid(tmp_path, "flat")
    assert p.returncode == 0, p.stderr
    nets = _netlists(tmp_path / "flat")
    assert set(nets) == {"tt_27C", "tt_mm_27C_seed1"}  # the nominal condition and one Monte-Carlo instance
    assert all(FLAT_MARK in t and not WRAPPER_INSTANCE.search(t) for t in nets.values())
    assert all(BYPASS.search(t) and "reltol=5e-05 " in t for t in nets.values())  # the design's 1e-4, halved
    summary = json.loads((tmp_path / "flat" / "conditions" / "tt_mm_27C_seed1" / "summary.json").read_text())
    assert summary["inputs"]["options"]["device_form"] == "flat" and summary["mc_seed"] == 1

    p = _grid(tmp_path, "subckt", "--device-form", "subckt", "--integration", "design", "--mc", "1")
    assert p.returncode == 0, p.stderr
    nets = _netlists(tmp_path / "subckt")
    assert all(FLAT_MARK not in t and WRAPPER_INSTANCE.search(t) for t in nets.values())
    assert all(not BYPASS.search(t) and "reltol=0.0001 " in t for t in nets.values())

    # the subckt grid resumed with the defaults: refused (another circuit), with the way to resume it
    p = _grid(tmp_path, "subckt")
    assert p.returncode == 2 and "design_sha256" in p.stderr and "--device-form subckt" in p.stderr
    assert "--integration design" in p.stderr
    assert p.stderr.count("\n") == 1
