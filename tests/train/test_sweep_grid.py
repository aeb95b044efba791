"""`imc-train sweep` with several --param runs their whole grid (all but the last used to be dropped)."""

from __future__ import annotations

import csv

from click.testing import CliRunner

from imcpnn.cli.train import main as cli


def test_two_params_run_every_combination(tmp_path):
    out = tmp_path / "sw"
    res = CliRunner().invoke(cli, ["sweep", "iris-topdown", "--param", "e_rev=2,inf", "--param", "lr=0.01,0.02",
                                   "--out", str(out), "--set", "epochs=1", "--set", "threads=1",
                                   "--set", "keep_checkpoints=1"])
    assert res.exit_code == 0, res.output
    with open(out / "sweep.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["e_rev"], r["lr"]) for r in rows] == [("2", "0.01"), ("2", "0.02"), ("inf", "0.01"), ("inf", "0.02")]
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [
        "e_rev=2,lr=0.01", "e_rev=2,lr=0.02", "e_rev=inf,lr=0.01", "e_rev=inf,lr=0.02"]
    assert (out / "sweep.png").stat().st_size > 1000


def test_the_same_param_twice_is_refused(tmp_path):
    res = CliRunner().invoke(cli, ["sweep", "iris-topdown", "--param", "lr=0.1", "--param", "lr=0.2",
                                   "--out", str(tmp_path / "sw")])
    assert res.exit_code == 2 and "given twice" in res.stderr
