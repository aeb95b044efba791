"""Bring your own data: `dataset: {name: file, path, encoding}` trains, evaluates and verifies like a shipped one."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from sklearn.datasets import load_wine

from imcpnn.cli.train import main as cli

CONFIG = {"name": "wine", "dataset": {"name": "file", "path": "wine.csv", "encoding": "x"},
          "model": {"arch": "mlp", "sizes": [13, 10, 3]},
          "neuron": {"e_rev": 100.0, "e_dis": float("inf"), "solver": "dstd", "steps": 4},
          "optim": {"lr": 1e-2, "batch_size": 32, "epochs": 150}, "threads": 1, "device": "cpu"}


def _write(tmp_path, config: dict, name: str = "wine.yaml"):
    (tmp_path / name).write_text(yaml.safe_dump(config))
    return tmp_path / name


@pytest.fixture
def wine_csv(tmp_path):
    d = load_wine()
    np.savetxt(tmp_path / "wine.csv", np.c_[d.data, d.target], delimiter=",",
               header=",".join(d.feature_names + ["label"]), comments="")
    return tmp_path / "wine.csv"


def test_csv_trains_evaluates_and_exports(tmp_path, wine_csv, monkeypatch):
    cfg = _write(tmp_path, CONFIG)
    res = CliRunner().invoke(cli, ["run", str(cfg), "--out", str(tmp_path / "run"), "--no-progress"])
    assert res.exit_code == 0, res.output
    acc = json.loads(res.stdout.strip().splitlines()[-1])["test_accuracy"]
    assert acc > 0.85  # 97.7 % measured; chance is 40 %
    monkeypatch.chdir(tmp_path.parent)  # the run finds its data from anywhere (the path is stored absolute)
    res = CliRunner().invoke(cli, ["eval", str(tmp_path / "run")])
    assert res.exit_code == 0 and json.loads(res.stdout)["test_accuracy"] == acc
    from imcpnn.verify.sources import from_run

    net, _ = from_run(tmp_path / "run", 4, 2)
    assert net.test_inputs.shape == (4, 13) and net.test_inputs.min() >= 0 and net.test_inputs.max() <= 1


def test_npz_with_its_own_test_split(tmp_path):
    rng = np.random.default_rng(0)
    y = np.arange(60) % 2
    x = rng.uniform(0, 0.4, (60, 3)) + 0.6 * y[:, None]
    np.savez(tmp_path / "d.npz", x=x[:40], y=y[:40], x_test=x[40:], y_test=y[40:])
    from imcpnn.train.config import validate_config
    from imcpnn.train.data import load_dataset

    ds = validate_config({**CONFIG, "dataset": {"name": "file", "path": str(tmp_path / "d.npz"),
                                                "encoding": "one_minus_x", "scale": "none"},
                          "model": {"sizes": [3, 2]}}).dataset
    b = load_dataset(ds, flatten=True)
    assert b.x_train.shape == (40, 3) and b.x_test.shape == (20, 3) and b.n_classes == 2
    assert np.allclose(b.x_test.numpy(), 1 - x[40:], atol=1e-6)  # encoding one_minus_x, no scaling


@pytest.mark.parametrize("change,needle", [
    ({"encoding": None}, "needs path (CSV or .npz) and encoding"),
    ({"path": "missing.csv"}, "dataset file missing.csv not found"),
    ({"path": "labels.csv"}, "labels must be class indices"),
])
def test_one_line_errors(tmp_path, change, needle):
    (tmp_path / "labels.csv").write_text("0.1,0.2,0.5\n0.3,0.4,1.5\n")
    ds = {k: v for k, v in {**CONFIG["dataset"], **change}.items() if v is not None}
    cfg = _write(tmp_path, {**CONFIG, "dataset": ds})
    res = CliRunner().invoke(cli, ["run", str(cfg), "--out", str(tmp_path / "run")])
    assert res.exit_code == 2 and needle in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.output
