"""`imc-verify grid --max-step`: the grid's transients (and the netlists written for running by hand) use the grid's
step limit, 100 ns unless told otherwise, and a grid made with one step limit is not resumed with another."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

CELL = Path(__file__).resolve().parents[1] / "fixtures" / "cell_paper.json"


def _grid(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "imcpnn.cli.verify", "grid", "--weights", str(tmp_path / "w.npz"),
                           "--inputs", str(tmp_path / "x.csv"), "--cell", str(CELL), "--scale-mode", "none", "--clip",
                           "--chunks", "1", "--corners", "tt", "--temps", "27", "--out", str(tmp_path / "grid"),
                           *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "IMC_CACHE_DIR": str(tmp_path / "cache")})


def _max_steps(out: Path) -> set[str]:
    cirs = list((out / "conditions" / "tt_27C" / "netlists").glob("*.cir"))
    assert cirs
    return {re.search(r"^\.tran \S+ \S+ \S+ (\S+)$", p.read_text(), re.M).group(1) for p in cirs}


@pytest.mark.spice
def test_grid_simulates_with_its_own_max_step_and_refuses_another_on_resume(tmp_path):
    rng = np.random.default_rng(5)
    np.savez(tmp_path / "w.npz", l0=rng.uniform(-0.8, 1.2, (2, 2)))
    np.savetxt(tmp_path / "x.csv", rng.uniform(0, 0.8, (1, 2)), delimiter=",")
    p = _grid(tmp_path)
    assert p.returncode == 0, p.stderr
    assert _max_steps(tmp_path / "grid") == {"1e-07"}  # the grid's default, not the design's 2e-08
    p = _grid(tmp_path, "--max-step", "2e-8")
    assert p.returncode == 2 and "other settings (design_sha256)" in p.stderr, p.stderr
