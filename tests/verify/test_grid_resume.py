"""`imc-verify grid`: every condition verified, finished ones kept on a second call (resume / extension), other
settings refused, and a condition's own cell reported against the circuit."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

CELL = Path(__file__).resolve().parents[1] / "fixtures" / "cell_paper.json"


def _grid(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "imcpnn.cli.verify", "grid", "--weights", str(tmp_path / "w.npz"),
                           "--inputs", str(tmp_path / "x.csv"), "--cell", str(CELL), "--scale-mode", "none", "--clip",
                           "--chunks", "1", "--temps", "27", "--cells", str(tmp_path / "cells"), "--out",
                           str(tmp_path / "grid"), *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "IMC_CACHE_DIR": str(tmp_path / "cache")})


def _stamps(out: Path) -> dict[str, int]:
    return {p.parent.name: p.stat().st_mtime_ns for p in (out / "conditions").glob("*/summary.json")}


@pytest.mark.spice
@pytest.mark.slow
def test_grid_runs_conditions_and_resumes_without_recomputing(tmp_path):
    rng = np.random.default_rng(3)
    np.savez(tmp_path / "w.npz", l0=rng.uniform(-0.8, 1.2, (2, 2)), l1=rng.uniform(-0.8, 1.2, (2, 2)))
    np.savetxt(tmp_path / "x.csv", rng.uniform(0, 0.8, (2, 2)), delimiter=",")
    (tmp_path / "cells").mkdir()
    shutil.copy(CELL, tmp_path / "cells" / "cell_tt_27C.json")  # the cell was extracted at tt / 27 C
    out = tmp_path / "grid"

    p = _grid(tmp_path, "--corners", "tt,ss")
    assert p.returncode == 0, p.stderr
    rows = {r["name"]: r for r in json.loads((out / "grid.json").read_text())["conditions"]}
    assert set(rows) == {"tt_27C", "ss_27C"} and (out / "grid.md").is_file() and (out / "grid.png").is_file()
    tt, ss = rows["tt_27C"], rows["ss_27C"]
    assert ss["condition_cell"] is None and tt["condition_cell"]["path"].endswith("cell_tt_27C.json")
    # the run's cell at its own condition: its model through the programmed biases is the run's model
    assert abs(tt["condition_cell"]["rmse_ns"] - tt["rmse_ns"]) < 0.05
    assert tt["condition_cell"]["class_agreement"] == tt["class_agreement"]
    assert ss["rmse_ns"] != tt["rmse_ns"]  # another corner, another circuit
    # both conditions' transients ran in one batch on the pool; each condition then found its own in the cache
    assert "simulating the 2 transients of 2 conditions" in p.stderr
    for name in rows:
        summary = json.loads((out / "conditions" / name / "summary.json").read_text())
        assert summary["transients"] and all(t["from_cache"] for t in summary["transients"])
    before = _stamps(out)

    p = _grid(tmp_path, "--corners", "tt,ss")
    assert p.returncode == 0, p.stderr
    assert p.stderr.count("finished earlier, kept") == 2 and "simulating" not in p.stderr
    assert _stamps(out) == before

    p = _grid(tmp_path, "--corners", "tt,ss,ff")
    assert p.returncode == 0, p.stderr
    assert p.stderr.count("finished earlier, kept") == 2 and p.stderr.count(": simulating") == 1
    assert {k: v for k, v in _stamps(out).items() if k in before} == before and "ff_27C" in _stamps(out)

    p = _grid(tmp_path, "--corners", "tt", "--samples", "1")
    assert p.returncode == 2 and "other settings (n_samples, test_inputs_sha256)" in p.stderr
    assert p.stderr.count("\n") == 1
