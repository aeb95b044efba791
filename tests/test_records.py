"""The records between stages: cell.json schema, run.json, the verification's inputs, the cell's temperature and the
run's own cell (no simulation: the checks come before anything slow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from imcpnn.cell import design_sha256, load_cell
from imcpnn.errors import ConfigError
from imcpnn.netlists import load_design
from imcpnn.pdk import lib_line
from imcpnn.train import run
from imcpnn.train.record import RunInputs
from imcpnn.verify.mapping import Scales
from imcpnn.verify.simulate import build_bundles

CELL = Path(__file__).resolve().parent / "fixtures" / "cell_paper.json"


def _cell_with(tmp_path: Path, name: str = "cell.json", **changes) -> Path:
    d = json.loads(CELL.read_text())
    for key, value in changes.items():
        node = d
        *path, leaf = key.split("__")
        for p in path:
            node = node[p]
        node[leaf] = value
    out = tmp_path / name
    out.write_text(json.dumps(d))
    return out


def test_a_schema_1_cell_gives_one_line_that_says_how_to_re_extract(tmp_path):
    old = _cell_with(tmp_path, schema_version=1)
    with pytest.raises(ConfigError) as ei:
        load_cell(old)
    msg = str(ei.value)
    assert "\n" not in msg and "schema 1" in msg and f"imc-extract run --out {old}" in msg


def test_the_cell_carries_its_full_design_and_a_matching_hash(tmp_path):
    cell = load_cell(CELL)
    assert load_design(cell.design) == load_design("sky130-rcspike")
    assert cell.design_sha256 == design_sha256(cell.design)
    edited = json.loads(CELL.read_text())
    edited["design"]["vdd"] = 1.5
    (tmp_path / "c.json").write_text(json.dumps(edited))
    with pytest.raises(ConfigError, match="design_sha256"):
        load_cell(tmp_path / "c.json")


def test_netlists_take_the_cells_temperature_unless_told(tmp_path):
    hot = load_cell(_cell_with(tmp_path, provenance__temperature=85.0))
    w = [np.full((2, 3), 0.5)]
    x = np.full((1, 3), 0.3)
    bundles, _, _ = build_bundles(w, x, hot, load_design(hot.design), lib_line("tt"), Scales())
    assert ".temp 85" in bundles[0].text.splitlines()
    bundles, _, _ = build_bundles(w, x, hot, load_design(hot.design), lib_line("tt"), Scales(), temp=-40.0)
    assert ".temp -40" in bundles[0].text.splitlines() and ".temp 85" not in bundles[0].text


def test_run_records_config_overrides_and_cell(tmp_path):
    rd, summary = run("iris-bottomup", out=tmp_path / "r", cell=CELL, sets=["optim.epochs=1", "seed=3"],
                      progress=False)
    rec = RunInputs.load(rd)
    assert rec.config == "iris-bottomup" and rec.overrides == ["optim.epochs=1", "seed=3"]
    assert rec.cell_sha256 == __import__("hashlib").sha256(CELL.read_bytes()).hexdigest()
    assert summary["schema_version"] == 1 and summary["inputs"]["overrides"] == rec.overrides
    assert json.loads((rd / "model.json").read_text())["source"].startswith("cell_paper.json sha256:")


def test_verify_refuses_another_cell_than_the_runs_unless_asked(tmp_path):
    rd, _ = run("iris-bottomup", out=tmp_path / "r", cell=CELL, sets=["optim.epochs=1"], progress=False)
    other = _cell_with(tmp_path, "hot.json", provenance__temperature=85.0)
    p = subprocess.run([sys.executable, "-m", "imcpnn.cli.verify", "run", str(rd), "--cell", str(other),
                        "--samples", "1"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "--other-cell" in p.stderr
    assert not (rd / "verify").exists()
