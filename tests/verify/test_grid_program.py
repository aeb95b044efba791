"""`imc-verify grid --program write-verify`: each Monte-Carlo instance written and verified before it is simulated,
its biases kept for a resume, its netlists carrying them; a grid made otherwise is not resumed with it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from imcpnn.verify.program import TOLERANCE

CELL = Path(__file__).resolve().parents[1] / "fixtures" / "cell_paper.json"


def _grid_args(tmp_path: Path) -> list[str]:
    return [sys.executable, "-m", "imcpnn.cli.verify", "grid", "--weights", str(tmp_path / "w.npz"), "--inputs",
            str(tmp_path / "x.csv"), "--cell", str(CELL), "--scale-mode", "none", "--clip", "--chunks", "1",
            "--mc", "1", "--out", str(tmp_path / "grid"), "--temps", "27"]


def _grid(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(_grid_args(tmp_path) + list(args), capture_output=True, text=True, timeout=600,
                          env={**os.environ, "IMC_CACHE_DIR": str(tmp_path / "cache")})


@pytest.mark.spice
def test_grid_writes_and_verifies_each_instance_and_keeps_its_biases(tmp_path):
    rng = np.random.default_rng(3)
    np.savez(tmp_path / "w.npz", l0=rng.uniform(-0.8, 1.2, (2, 2)), l1=rng.uniform(-0.8, 1.2, (2, 2)))
    np.savetxt(tmp_path / "x.csv", rng.uniform(0, 0.8, (2, 2)), delimiter=",")
    out = tmp_path / "grid"

    p = _grid(tmp_path, "--program", "write-verify")
    assert p.returncode == 0, p.stderr
    assert "programming 1 instance(s) at tt / 27 C" in p.stderr
    prog = json.loads((out / "programs" / "tt_mm_27C_seed1.json").read_text())
    assert prog["converged"] and prog["reads"][-1]["synapse_worst_rel"] <= TOLERANCE["current"]
    assert prog["reads"][0]["synapse_rms_rel"] > 0.05  # the instance as drawn is off
    summary = json.loads((out / "conditions" / "tt_mm_27C_seed1" / "summary.json").read_text())
    assert summary["programming"]["reads"] == prog["reads"]
    nominal = json.loads((out / "conditions" / "tt_27C" / "summary.json").read_text())
    assert nominal["programming"] is None  # only the instances are written
    report = (out / "grid.md").read_text()
    assert "Written and verified" in report and "| tt_mm_27C_seed1 | " in report
    netlist = next((out / "conditions" / "tt_mm_27C_seed1" / "netlists").glob("*.cir")).read_text()
    line = next(ln for ln in netlist.splitlines() if ln.startswith("Vbdis_1_0 vbdis_1_0 0 DC "))
    assert abs(float(line.split()[-1]) - prog["neurons"][0]["v_b_dis"][0]) < 1e-6

    # a resume with the same settings keeps the written biases; one without --program is another grid
    shutil.rmtree(out / "conditions" / "tt_mm_27C_seed1")  # as if interrupted: verify() writes it whole or not
    p = _grid(tmp_path, "--program", "write-verify")
    assert p.returncode == 0, p.stderr
    assert "programming" not in p.stderr
    assert json.loads((out / "programs" / "tt_mm_27C_seed1.json").read_text()) == prog
    p = _grid(tmp_path)
    assert p.returncode == 2 and "other settings (program)" in p.stderr


def test_program_needs_monte_carlo_instances_and_no_layer_netlist(tmp_path):
    p = subprocess.run([sys.executable, "-m", "imcpnn.cli.verify", "run", str(tmp_path), "--program", "write-verify"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "add --mc N" in p.stderr
    p = subprocess.run([sys.executable, "-m", "imcpnn.cli.verify", "grid", str(tmp_path), "--mc", "1",
                        "--program-temp", "27"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "--program-temp goes with --program write-verify" in p.stderr


@pytest.mark.spice
def test_grid_writes_an_instance_at_the_test_temperature_and_runs_it_at_its_own(tmp_path):
    rng = np.random.default_rng(3)
    np.savez(tmp_path / "w.npz", l0=rng.uniform(-0.8, 1.2, (2, 2)), l1=rng.uniform(-0.8, 1.2, (2, 2)))
    np.savetxt(tmp_path / "x.csv", rng.uniform(0, 0.8, (2, 2)), delimiter=",")
    args = [a for a in _grid_args(tmp_path) if a != "27"] + ["85", "--program", "write-verify", "--program-temp", "27"]
    p = subprocess.run(args, capture_output=True, text=True, timeout=600,
                       env={**os.environ, "IMC_CACHE_DIR": str(tmp_path / "cache")})
    assert p.returncode == 0, p.stderr
    assert "programming 1 instance(s) at tt / 27 C" in p.stderr  # written at 27 C ...
    out = tmp_path / "grid"
    summary = json.loads((out / "conditions" / "tt_mm_85C_seed1" / "summary.json").read_text())
    assert summary["temperature"] == 85.0 and summary["programming"]["converged"]  # ... operated at 85 C
    assert json.loads((out / "settings.json").read_text())["program_temp"] == 27.0
