"""Training loop: a step lowers the loss, exact resume, eval reproduces the summary, NaN stops cleanly, CLI, load_run."""

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from imcpnn.cli.train import main as cli
from imcpnn.errors import ImcError
from imcpnn.train import data as D
from imcpnn.train import eval_run, layer_weights, load_run, make_config, resume, run, train
from imcpnn.train import loop as L
from imcpnn.train.net import build_net, clamp_weights, forward_all, paper_loss

CELL = Path(__file__).resolve().parents[1] / "fixtures" / "cell_paper.json"
# small and fast, but exercising every RNG consumer: shuffling, random DSTD offset, spike noise
FAST = {"epochs": 4, "solver": "dstd", "steps": 4, "sigma": 0.01, "batch_size": 25, "keep_checkpoints": 0,
        "threads": 1}


def test_training_step_lowers_loss_on_fixed_batch():
    cfg, model, _, _ = make_config("iris-bottomup", sets={"sigma": 0.0, "solver": "exact"}, cell=CELL)
    torch.manual_seed(0)
    xtr, ytr, _, _ = D.iris_split(0)
    net = build_net(cfg, (5,), model)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.optim.lr)
    x, y = xtr[:50], ytr[:50]
    first = paper_loss(net, forward_all(net, x), y, cfg).total.item()
    for _ in range(20):
        loss = paper_loss(net, forward_all(net, x), y, cfg).total
        opt.zero_grad()
        loss.backward()
        opt.step()
        clamp_weights(net)
    last = paper_loss(net, forward_all(net, x), y, cfg).total.item()
    assert last < first
    w = layer_weights(net)
    assert [tuple(t.shape) for t in w] == [(5, 5), (5, 5)]
    assert all(float(t.abs().max()) <= 4.0 for t in w)  # cell fixture weight range


def _metrics(run_dir):
    with open(run_dir / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        r.pop("epoch_seconds")
    return rows


def test_resume_is_bit_identical(tmp_path):
    a, _ = run("iris-bottomup", out=tmp_path / "a", sets=FAST, cell=CELL, progress=False)
    b = L.create_run("iris-bottomup", tmp_path / "b", sets=FAST, cell=CELL)
    s_part = train(b, progress=False, stop_after=2)
    assert s_part["status"] == "stopped" and s_part["epochs_done"] == 2
    s_b = resume(b, progress=False)
    assert s_b["status"] == "finished"
    ca = torch.load(a / "checkpoint.pt", weights_only=False)
    cb = torch.load(b / "checkpoint.pt", weights_only=False)
    assert ca["epoch"] == cb["epoch"] == 4
    for k in ca["model"]:
        assert torch.equal(ca["model"][k], cb["model"][k]), k
    for k, st in ca["optimizer"]["state"].items():
        for name in st:
            assert torch.equal(st[name], cb["optimizer"]["state"][k][name])
    assert torch.equal(ca["rng"]["torch"], cb["rng"]["torch"])
    assert _metrics(a) == _metrics(b)
    sa = json.loads((a / "summary.json").read_text())
    assert sa["test_accuracy"] == s_b["test_accuracy"]
    # every epoch has a checkpoint; the run dir holds the config, the neuron-model record and the cell copy
    assert sorted(p.name for p in (a / "checkpoints").iterdir()) == [f"epoch_{i:04d}.pt" for i in range(1, 5)]
    assert (a / "cell.json").read_bytes() == CELL.read_bytes()
    assert "from: cell.json" in (a / "config.yaml").read_text()
    assert json.loads((a / "model.json").read_text())["e_plus"] == pytest.approx(2.8)


def test_eval_reproduces_summary_and_load_run(tmp_path):
    rd, summary = run("iris-bottomup", out=tmp_path / "r", sets={**FAST, "epochs": 2}, cell=CELL, progress=False)
    res = eval_run(rd)
    assert res["test_accuracy"] == summary["test_accuracy"]
    # robustness evaluation with other settings runs and reports them
    res2 = eval_run(rd, steps=30, sigma=0.02, e_rev=2.0)
    assert res2["steps"] == 30 and res2["sigma"] == 0.02 and res2["e_plus"] == 2.0
    loaded = load_run(rd)
    net, cell = loaded.net, loaded.cell
    assert cell is not None and cell.e_rev_plus == pytest.approx(2.8)
    layers = net.spiking_layers()
    assert [lay.e_plus for lay in layers] == [pytest.approx(2.8)] * 2
    assert [lay.e_minus for lay in layers] == [pytest.approx(-1.53)] * 2
    assert [lay.e_dis for lay in layers] == [pytest.approx(6.44)] * 2
    assert [tuple(w.shape) for w in layer_weights(net)] == [(5, 5), (5, 5)]
    ck = torch.load(rd / "checkpoint.pt", weights_only=False)
    assert torch.equal(ck["model"]["layers.0.weight"], layer_weights(net)[0])


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    rd = L.create_run("iris-bottomup", tmp_path / "n", sets={**FAST, "epochs": 3}, cell=CELL)
    real = L.paper_loss
    calls = {"n": 0}

    def poisoned(net, times, labels, cfg, **kw):
        calls["n"] += 1
        parts = real(net, times, labels, cfg, **kw)
        if calls["n"] > 4:  # epoch 1 has 4 batches; epoch 2 diverges
            parts.total = parts.total * float("nan")
        return parts

    monkeypatch.setattr(L, "paper_loss", poisoned)
    with pytest.raises(L.TrainingDiverged) as ei:
        train(rd, progress=False)
    msg = str(ei.value)
    assert "nan" in msg and "epoch 2" in msg and "epoch 1" in msg and "\n" not in msg
    ck = torch.load(rd / "checkpoint.pt", weights_only=False)
    assert ck["epoch"] == 1
    assert all(torch.isfinite(t).all() for t in ck["model"].values())
    assert json.loads((rd / "summary.json").read_text())["status"] == "diverged"


def test_interrupt_leaves_resumable_run(tmp_path, monkeypatch):
    rd = L.create_run("iris-bottomup", tmp_path / "i", sets=FAST, cell=CELL)
    real = L.eval_net
    calls = {"n": 0}

    def interrupt(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(L, "eval_net", interrupt)
    with pytest.raises(KeyboardInterrupt):
        train(rd, progress=False)
    monkeypatch.setattr(L, "eval_net", real)
    assert torch.load(rd / "checkpoint.pt", weights_only=False)["epoch"] == 2
    assert resume(rd, progress=False)["epochs_done"] == 4


def test_cli_run_eval_and_errors(tmp_path):
    r = CliRunner()
    out = tmp_path / "cli"
    res = r.invoke(cli, ["run", "iris-bottomup", "--cell", str(CELL), "--out", str(out), "--set", "epochs=2",
                         "--set", "threads=1", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout.strip().splitlines()[-1])["run_dir"] == str(out)
    for f in ("config.yaml", "cell.json", "checkpoint.pt", "metrics.csv", "summary.json"):
        assert (out / f).is_file(), f
    res = r.invoke(cli, ["eval", str(out), "--steps", "20"])
    assert res.exit_code == 0 and json.loads(res.stdout)["steps"] == 20
    # a second run into the same directory is refused with one line
    res = r.invoke(cli, ["run", "iris-bottomup", "--cell", str(CELL), "--out", str(out)])
    assert res.exit_code == 2 and "resume" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    # config errors: one line, non-zero exit, no traceback
    res = r.invoke(cli, ["run", "iris-bottomup", "--cell", str(CELL), "--set", "optim.bogus=1"])
    assert res.exit_code == 2 and "unknown key" in res.stderr and "Traceback" not in res.stderr
    res = r.invoke(cli, ["run", "iris-bottomup"])
    assert res.exit_code == 2 and "--cell" in res.stderr
    res = r.invoke(cli, ["run", "iris-bottomup", "--cell", str(tmp_path / "missing.json")])
    assert res.exit_code == 2 and "not found" in res.stderr
    res = r.invoke(cli, ["resume", str(tmp_path / "nothing")])
    assert res.exit_code == 2 and "not a run directory" in res.stderr


def test_sweep_writes_table_and_plot(tmp_path):
    from imcpnn.train.sweep import run_sweep

    out = run_sweep("iris-topdown", "e_rev=2,inf", seeds=2, jobs=1, out=tmp_path / "sw",
                    sets=["epochs=1", "threads=1", "keep_checkpoints=1"])
    with open(out / "sweep.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["e_rev"] for r in rows] == ["2", "inf"]
    assert all(r["count"] == "2" for r in rows)
    assert (out / "sweep.png").stat().st_size > 1000
    assert len(list((out / "sweep_runs.csv").read_text().splitlines())) == 5
    assert not math.isnan(float(rows[0]["mean"]))


def test_iris_split_is_what_a_run_uses(tmp_path):
    """The verifier feeds iris_split(seed)'s test spike times to SPICE: they must be the run's test inputs."""
    cfg, _, _, _ = make_config("iris-bottomup", cell=CELL)
    bundle = D.load_dataset(cfg.dataset, flatten=True)
    _, _, xte, yte = D.iris_split(cfg.dataset.split_seed)
    assert torch.equal(bundle.x_test, xte) and torch.equal(bundle.y_test, yte)


def test_imc_error_is_base(tmp_path):
    assert issubclass(L.TrainingDiverged, ImcError)



def test_fmnist_mlp_runs_end_to_end_on_generated_idx(tmp_path):
    rng = np.random.default_rng(0)
    for name, shape in (("train-images-idx3-ubyte.gz", (16, 28, 28)), ("t10k-images-idx3-ubyte.gz", (8, 28, 28))):
        D.write_idx(tmp_path / name, rng.integers(0, 256, size=shape, dtype=np.uint8))
    for name, n in (("train-labels-idx1-ubyte.gz", 16), ("t10k-labels-idx1-ubyte.gz", 8)):
        D.write_idx(tmp_path / name, rng.integers(0, 10, size=n, dtype=np.uint8))
    rd, s = run("fmnist-mlp", out=tmp_path / "r", sets={"data_dir": str(tmp_path), "epochs": 1, "device": "cpu",
                                                          "threads": 1, "steps_test": 4}, progress=False)
    assert s["status"] == "finished" and 0 <= s["test_accuracy"] <= 1
    assert [tuple(w.shape) for w in layer_weights(load_run(rd).net)] == [(400, 784), (400, 400), (10, 400)]


@pytest.mark.parametrize("name,shape", [("fmnist-cnn", (1, 28, 28)), ("cifar10-cnn", (3, 32, 32))])
def test_cnn_configs_build_and_run(name, shape):
    cfg, model, _, _ = make_config(name, sets={"steps": 2})
    torch.manual_seed(0)
    net = build_net(cfg, shape, model)
    x = torch.rand(2, *shape)
    times = forward_all(net, x)
    assert times[-1].shape == (2, 10)
    parts = paper_loss(net, times, torch.tensor([1, 3]), cfg)
    parts.total.backward()
    assert all(lay.weight.grad is not None for lay in net.spiking_layers())
    if name == "cifar10-cnn":
        assert D.augment_images(x).shape == x.shape


def _conv_fc_widths(name: str) -> list[int]:
    cfg, _, _, _ = make_config(name)
    return [int(s.split(":")[1]) for s in cfg.model.layers if s.split(":")[0] in ("conv", "fc")]


def test_cifar10_wide_doubles_every_hidden_width():
    narrow, wide = _conv_fc_widths("cifar10-cnn"), _conv_fc_widths("cifar10-cnn-wide")
    assert wide[:-1] == [2 * w for w in narrow[:-1]] and wide[-1] == narrow[-1] == 10


@pytest.mark.slow
def test_cifar10_wide_runs_end_to_end_on_generated_batches(tmp_path):
    d = tmp_path / D.CIFAR10_DIR
    d.mkdir()
    rng = np.random.default_rng(0)
    for name in D.CIFAR10_FILES:
        D.write_cifar_batch(d / name, rng.integers(0, 256, size=(2, 3072), dtype=np.uint8),
                            rng.integers(0, 10, size=2).tolist())
    rd, s = run("cifar10-cnn-wide", out=tmp_path / "r", sets={"data_dir": str(tmp_path), "epochs": 1, "steps": 2,
                                                               "steps_test": 2, "batch_size": 5, "device": "cpu",
                                                               "threads": 1}, progress=False)
    assert s["status"] == "finished" and s["inputs"]["config"] == "cifar10-cnn-wide"
    assert [tuple(w.shape) for w in layer_weights(load_run(rd).net)][-2:] == [(1024, 8192), (10, 1024)]
