"""`imc-verify grid` and `run --mc`: bad conditions are one-line errors before any simulation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

CELL = str(Path(__file__).resolve().parents[1] / "fixtures" / "cell_paper.json")


@pytest.fixture
def files(tmp_path):
    np.savez(tmp_path / "w.npz", l0=np.full((2, 2), 0.5))
    np.savetxt(tmp_path / "x.csv", np.full((2, 2), 0.5), delimiter=",")
    return ["--weights", str(tmp_path / "w.npz"), "--inputs", str(tmp_path / "x.csv"), "--cell", CELL,
            "--scale-mode", "none", "--out", str(tmp_path / "out")]


def _verify(*args):
    return subprocess.run([sys.executable, "-m", "imcpnn.cli.verify", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("args, message", [
    (["--corners", "tt,xx"], "unknown corner(s) xx"),
    (["--corners", "tt_mm"], "mismatch: --mc N"),
    (["--corners", "tt,tt"], "listed twice"),
    (["--temps", "27,abc"], "'abc' is not a temperature"),
    (["--temps", "200"], "outside -60..150 C"),
    (["--temps", "nan"], "outside -60..150 C"),
    (["--mc", "0"], "0 is not in the range"),
    (["--mc-at", "tt/27"], "--mc-at goes with --mc"),
    (["--mc", "2", "--mc-at", "tt"], "give CORNER/TEMP"),
    (["--mc", "2", "--mc-seed", "0"], "--mc-seed"),
    (["--map-with", "condition"], "needs --cells"),
])
def test_bad_grid_conditions(files, args, message):
    p = _verify("grid", *files, *args)
    assert p.returncode == 2 and message in p.stderr and p.stderr.count("\n") == 1, p.stderr


@pytest.mark.parametrize("args, message", [
    (["--corner", "tt_mm"], "use --corner tt --mc N"),
    (["--mc", "2", "--corner", "ss_mm"], "--mc takes a base corner"),
    (["--mc", "2", "--partition", "layer"], "cannot simulate a Monte-Carlo instance"),
    (["--mc", "2", "--force"], "--force does not apply to --mc"),
])
def test_bad_mc_runs(files, args, message):
    p = _verify("run", *files, *args)
    assert p.returncode == 2 and message in p.stderr and p.stderr.count("\n") == 1, p.stderr
