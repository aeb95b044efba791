"""Spike-time statistics of a run (train/stats.py): the early-spike measure of docs/paper.md §5.3 (Fig. 4d)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from imcpnn.cli.train import main as cli
from imcpnn.train.data import load_dataset
from imcpnn.train.loop import load_run, run
from imcpnn.train.net import forward_all, rc_times
from imcpnn.train.stats import spike_stats, time_stats

CELL = Path(__file__).resolve().parents[1] / "fixtures" / "cell_paper.json"
FAST = {"epochs": 2, "solver": "dstd", "steps": 4, "sigma": 0.0, "batch_size": 25, "threads": 1}


def test_time_stats_counts():
    t = torch.tensor([[0.0, 0.2, 0.5], [0.7, 1.0, 1.0]])
    s = time_stats(t, early=0.5, bins=2)
    assert s["n"] == 6
    assert s["early_fraction"] == pytest.approx(2 / 6)  # 0.0, 0.2 (0.5 is not before 0.5)
    assert s["saturated_fraction"] == pytest.approx(1 / 6)
    assert s["silent_fraction"] == pytest.approx(2 / 6)
    assert s["mean_time"] == pytest.approx(3.4 / 6)
    assert s["q01_time"] == 0.0
    assert s["histogram"] == [2, 4]


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory):
    rd, _ = run("iris-bottomup", out=tmp_path_factory.mktemp("stats") / "r", sets=FAST, cell=CELL, progress=False)
    return rd


def test_spike_stats_match_the_forward_pass(iris_run):
    s = spike_stats(iris_run, bins=10)
    loaded = load_run(iris_run)
    data = load_dataset(loaded.config.dataset, flatten=True)
    with torch.no_grad():
        times = rc_times(loaded.net, forward_all(loaded.net, data.x_test))
    assert s["n_test"] == 50 and len(s["layers"]) == len(times) == 2
    for layer, t in zip(s["layers"], times):
        assert layer["n"] == t.numel() == 250
        assert sum(layer["histogram"]) == 250
        assert layer["silent_fraction"] == pytest.approx(float((t >= 1).float().mean()))
        assert layer["mean_time"] == pytest.approx(float(t.mean()), abs=1e-6)


def test_small_e_cannot_saturate(iris_run):
    # v stays below E+ = 1 at |E| = 1, so no spike is clipped to t = 0 (docs/paper.md §1.1)
    assert all(layer["saturated_fraction"] == 0.0 for layer in spike_stats(iris_run, e_rev=1.0)["layers"])


def test_cli_eval_stats(iris_run):
    r = CliRunner()
    res = r.invoke(cli, ["eval", str(iris_run), "--stats", "--early", "0.3"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["spike_stats"]["early_t"] == 0.3 and len(out["spike_stats"]["layers"]) == 2
    res = r.invoke(cli, ["eval", str(iris_run), "--early", "0.3"])
    assert res.exit_code == 2 and "--stats" in res.stderr
