"""imc-verify's one-line errors for bad input (no simulation needed)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np


def _verify(*args):
    return subprocess.run([sys.executable, "-m", "imcpnn.cli.verify", *args], capture_output=True, text=True,
                          timeout=120)


def test_missing_run_dir_and_conflicting_sources(tmp_path):
    p = _verify("run", str(tmp_path / "nope"))
    assert p.returncode == 2 and p.stderr.startswith("error: run directory") and p.stderr.count("\n") == 1
    p = _verify("run")
    assert p.returncode == 2 and "either RUN_DIR or --weights" in p.stderr


def test_weights_of_the_wrong_shape_and_inputs_out_of_range(tmp_path):
    cell = "tests/fixtures/cell_paper.json"
    np.savez(tmp_path / "w.npz", l0=np.zeros((5, 4)))
    np.savetxt(tmp_path / "x.csv", np.full((2, 5), 0.5), delimiter=",")
    p = _verify("run", "--weights", str(tmp_path / "w.npz"), "--inputs", str(tmp_path / "x.csv"), "--cell", cell)
    assert p.returncode == 2 and "does not match its inputs" in p.stderr and p.stderr.count("\n") == 1
    np.savez(tmp_path / "w.npz", l0=np.zeros((5, 5)))
    np.savetxt(tmp_path / "x.csv", np.full((2, 5), 1.5), delimiter=",")
    p = _verify("run", "--weights", str(tmp_path / "w.npz"), "--inputs", str(tmp_path / "x.csv"), "--cell", cell)
    assert p.returncode == 2 and "[0, 1]" in p.stderr


def test_compare_needs_verification_dirs(tmp_path):
    p = _verify("compare", str(tmp_path), str(tmp_path))
    assert p.returncode == 2 and "not a verification directory" in p.stderr


def test_a_ttfs_run_is_refused_in_one_line(tmp_path):
    from imcpnn.train import create_run

    rd = create_run("digits-ttfs", tmp_path / "ttfs")
    p = _verify("run", str(rd), "--cell", "tests/fixtures/cell_paper.json")
    assert p.returncode == 2 and "TTFS run" in p.stderr and p.stderr.count("\n") == 1


def test_ladder_needs_a_verification(tmp_path):
    p = _verify("ladder", str(tmp_path / "nope"))
    assert p.returncode == 2 and "is not a directory" in p.stderr and p.stderr.count("\n") == 1
    p = _verify("ladder", str(tmp_path))
    assert p.returncode == 2 and "not a verification directory" in p.stderr
    p = _verify("ladder", str(tmp_path), "--levels", "paper,kicks")
    assert p.returncode == 2 and "unknown level(s) kicks; the ladder is paper,+threshold" in p.stderr
