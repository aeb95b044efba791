"""ANN and scaled-ANN baselines (train/baseline.py, `imc-train baseline`)."""

import math

import pytest
import torch
from click.testing import CliRunner

from imcpnn.cli.train import main as cli
from imcpnn.errors import ConfigError
from imcpnn.train import eval_run, load_run, run
from imcpnn.train.baseline import alpha_grid, baseline, parse_e_values, scale_signs_
from imcpnn.train.data import load_dataset
from imcpnn.train.loop import eval_settings, evaluate
from imcpnn.train.net import rc_layers, set_eval_params

TINY = {"epochs": 1, "limit_train": 120, "limit_test": 60, "steps": 4, "steps_test": 4, "threads": 1,
        "device": "cpu", "keep_checkpoints": 0}


@pytest.fixture(scope="module")
def ann(tmp_path_factory):
    return run("digits-mlp", out=tmp_path_factory.mktemp("b") / "ann", sets={**TINY, "e_rev": 100.0},
               progress=False)[0]


def test_alpha_grid_and_e_values():
    assert alpha_grid(0.1, 3.0)[:3] == [0.1, 0.2, 0.3] and alpha_grid(0.1, 3.0)[-1] == 3.0
    assert 1.0 in alpha_grid(0.1, 3.0) and len(alpha_grid(0.1, 3.0)) == 30
    assert parse_e_values("1, 2.5,inf") == [1.0, 2.5, math.inf]
    for bad in ("1,x", "0,2", "-1", "1,,2"):
        with pytest.raises(ConfigError):
            parse_e_values(bad)


def test_scale_signs_scales_each_sign_by_its_alpha(ann):
    net = load_run(ann).net
    base = [(lay.weight.detach().clone(), None) for lay in rc_layers(net)]
    scale_signs_(net, base, 2.0, 0.5)
    for lay, (w, _) in zip(rc_layers(net), base):
        assert torch.equal(lay.weight[w >= 0], 2.0 * w[w >= 0]) and torch.equal(lay.weight[w < 0], 0.5 * w[w < 0])


def test_baseline_rows_are_the_runs_accuracies(ann):
    rows = baseline(ann, [100.0, 1.5], alpha_step=0.5, alpha_max=1.5, search_samples=80)
    assert [r.e_rev for r in rows] == [100.0, 1.5]
    for r in rows:  # the ANN column is exactly what `imc-train eval --e-rev` reports
        assert r.ann == eval_run(ann, e_rev=r.e_rev)["test_accuracy"]
    # the scaled column is the run at that |E| with the chosen alphas, and (1, 1) was on the searched grid
    r = rows[1]
    loaded = load_run(ann, e_rev=1.5)
    cfg = loaded.config
    set_eval_params(loaded.net, **eval_settings(cfg))
    data = load_dataset(cfg.dataset, flatten=True)
    base = [(lay.weight.detach().clone(), None) for lay in rc_layers(loaded.net)]
    pick = torch.randperm(len(data.x_train), generator=torch.Generator().manual_seed(cfg.seed))[:80]
    unscaled_train = evaluate(loaded.net, data.x_train[pick], data.y_train[pick], cfg)
    assert r.scaled_train >= unscaled_train
    scale_signs_(loaded.net, base, r.alpha_plus, r.alpha_minus)
    assert r.scaled == evaluate(loaded.net, data.x_test, data.y_test, cfg)


def test_cli_baseline_errors_are_one_line_and_early(ann, tmp_path):
    existing = tmp_path / "t.csv"
    existing.write_text("keep me")
    res = CliRunner().invoke(cli, ["baseline", str(ann), "--e", "2", "--out", str(existing)])
    assert res.exit_code == 2 and "already exists" in res.output and existing.read_text() == "keep me"
    res = CliRunner().invoke(cli, ["baseline", str(ann), "--e", "2,nope"])
    assert res.exit_code == 2 and "--e expects" in res.output and "Traceback" not in res.output


def test_cli_baseline_writes_the_table(ann, tmp_path):
    out = tmp_path / "t.csv"
    res = CliRunner().invoke(cli, ["baseline", str(ann), "--e", "inf", "--alpha-step", "1", "--alpha-max", "1",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_text().splitlines()[0] == "e_rev,ann,scaled,alpha_plus,alpha_minus,scaled_train"
    assert out.read_text().splitlines()[1].startswith("inf,") and out.read_text() == res.output
