"""`imc-extract mc`: bad input is one line and touches nothing; a run writes the cell with its variation section,
the same seed twice gives the same numbers (subprocesses: the CLI leaves via os._exit)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from imcpnn.cell import load_cell

FIXTURE = Path(__file__).parents[1] / "fixtures" / "cell_paper.json"


def _mc(*args, cwd, timeout=120):
    env = {**os.environ, "IMC_CACHE_DIR": str(Path(cwd) / "cache")}   # a private simulation cache
    return subprocess.run([sys.executable, "-m", "imcpnn.cli.extract", "mc", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=env)


def _one_error_line(r, needle: str) -> None:
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode != 0
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], r.stderr


@pytest.mark.parametrize("args,needle", [
    (["--corner", "ss_mm"], "not the cell's corner tt"),
    (["--corner", "tt"], "no per-instance mismatch"),
    (["--n", "1"], "--n"),
])
def test_bad_args_one_line(tmp_path, args, needle):
    shutil.copy(FIXTURE, tmp_path / "cell.json")
    r = _mc("cell.json", *args, "--no-cache", "-q", cwd=tmp_path)
    _one_error_line(r, needle)
    assert not (tmp_path / "cell_mc.json").exists()


def test_missing_or_invalid_cell(tmp_path):
    _one_error_line(_mc("nope.json", cwd=tmp_path), "not found")
    (tmp_path / "bad.json").write_text("{")
    _one_error_line(_mc("bad.json", cwd=tmp_path), "not valid JSON")


def test_existing_output_is_refused_before_simulating(tmp_path):
    shutil.copy(FIXTURE, tmp_path / "cell.json")
    (tmp_path / "cell_mc.json").write_text('{"previous": true}\n')
    _one_error_line(_mc("cell.json", "--no-cache", "-q", cwd=tmp_path), "already exists")
    assert (tmp_path / "cell_mc.json").read_text() == '{"previous": true}\n'


@pytest.mark.spice
@pytest.mark.slow
def test_run_writes_variation_and_report(tmp_path):
    """Two instances of every block (the column transients take ~20 s); then the same seed again from a private
    cache gives the identical section, and --force replaces the file."""
    shutil.copy(FIXTURE, tmp_path / "cell.json")
    opts = ["--jobs", "2", "-q"]
    r = _mc("cell.json", "--n", "2", "--seed", "3", "--report", "rep", *opts, cwd=tmp_path, timeout=900)
    assert r.returncode == 0, r.stderr
    out = load_cell(tmp_path / "cell_mc.json")
    var = out.variation
    assert var.corner == "tt_mm" and var.seed == 3 and var.n_instances == 2
    assert set(var.spreads) == {"v_switch", "v_th", "c_m", "lambda_n", "lambda_p", "lambda_dis", "i_dis",
                                "alpha_dis", "fire_threshold"}
    assert all(s.std > 0 and s.n == 2 for s in var.spreads.values())
    assert all(0 < x < 2 for cm in var.current.values() for x in cm.sigma_rel)
    assert {"report.md", "sigma_vs_current.png", "histograms.png"} <= {p.name for p in (tmp_path / "rep").iterdir()}
    r2 = _mc("cell.json", "--n", "2", "--seed", "3", "--force", *opts, cwd=tmp_path, timeout=900)
    assert r2.returncode == 0, r2.stderr
    assert load_cell(tmp_path / "cell_mc.json").variation == var
