"""Variation-aware training end to end: seeded and resumable with both solvers, several cells cycled per batch and
recorded in the run, one-line errors for bad sections, nominal evaluation untouched, `imc-train eval --variation`."""

import json
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

from imcpnn.cell import load_cell
from imcpnn.cli.train import main as cli
from imcpnn.errors import ConfigError
from imcpnn.neuron import NeuronModel
from imcpnn.train import create_run, eval_run, evaluate, layer_weights, load_run, make_config, resume, run, train
from imcpnn.train import data as D
from imcpnn.train import variation as V
from imcpnn.train.config import file_sha256, load_config_dict
from imcpnn.train.loop import MODEL_FILE
from imcpnn.train.net import build_net, forward_all
from imcpnn.variation import CurrentMismatch, Spread, Variation

CELL = Path(__file__).resolve().parents[1] / "fixtures" / "cell_paper.json"
FAST = {"epochs": 3, "batch_size": 25, "keep_checkpoints": 0, "threads": 1, "steps": 4}
TABLE = {"i": [1e-9, 1e-8, 1e-7, 3e-7], "sigma_rel": [0.3, 0.15, 0.07, 0.05]}


@pytest.fixture(scope="module")
def cells(tmp_path_factory):
    """The paper cell with a measured variation section, and a second corner (weaker NMOS reversal potential)."""
    d = tmp_path_factory.mktemp("cells")
    cell = load_cell(CELL)
    var = Variation(corner="tt_mm", temperature=27.0, seed=1, n_instances=30,
                    current={"n": CurrentMismatch(n=30, **TABLE), "p": CurrentMismatch(n=30, **TABLE)},
                    spreads={"c_m": Spread(n=30, mean=cell.c_m, std=0.01 * cell.c_m),
                             "v_switch": Spread(n=30, mean=cell.v_switch, std=0.005)})
    cell.model_copy(update={"variation": var}).save(d / "cell_tt.json")
    cell.model_copy(update={"e_rev_plus": 1.9}).save(d / "cell_ss.json")
    return d


def _train(out, cell, **sets):
    return run("iris-bottomup", out=out, cell=cell, sets={**FAST, **sets}, progress=False)


@pytest.mark.parametrize("solver", ["dstd", "exact"])
def test_training_is_seeded_and_the_noise_changes_it(tmp_path, cells, solver):
    cell = cells / "cell_tt.json"
    var = {"solver": solver, "variation.from_cell": True}
    a = layer_weights(load_run(_train(tmp_path / "a", cell, **var)[0]).net)
    b = layer_weights(load_run(_train(tmp_path / "b", cell, **var)[0]).net)
    c = layer_weights(load_run(_train(tmp_path / "c", cell, **var, **{"variation.draw_seed": 5})[0]).net)
    nom = layer_weights(load_run(_train(tmp_path / "n", cell, solver=solver)[0]).net)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))
    assert not all(torch.equal(x, y) for x, y in zip(a, nom))


def test_resume_is_bit_identical_with_variation(tmp_path, cells):
    sets = {**FAST, "solver": "dstd", "variation.from_cell": True}
    full, _ = run("iris-bottomup", out=tmp_path / "full", cell=cells / "cell_tt.json", sets=sets, progress=False)
    part = create_run("iris-bottomup", out=tmp_path / "part", cell=cells / "cell_tt.json", sets=sets)
    train(part, progress=False, stop_after=1)
    resume(part, progress=False)
    assert all(torch.equal(x, y) for x, y in zip(layer_weights(load_run(full).net), layer_weights(load_run(part).net)))


def test_several_cells_are_cycled_recorded_and_evaluated(tmp_path, cells):
    rd, _ = _train(tmp_path / "r", cells / "cell_tt.json", **{"variation.cells": [str(cells / "cell_ss.json")],
                                                               "variation.weight_sigma": 0.1})
    rec = json.loads((rd / "run.json").read_text())
    assert [Path(c["path"]).name for c in rec["extra_cells"]] == ["cell_ss.json"]
    assert rec["extra_cells"][0]["sha256"] == file_sha256(cells / "cell_ss.json")
    assert (rd / "cells" / "cell_1.json").read_bytes() == (cells / "cell_ss.json").read_bytes()
    assert NeuronModel.load(rd / "cells" / "model_1.json").e_plus == 1.9
    loaded = load_run(rd)
    cfg, net = loaded.config, loaded.net
    vt = V.setup_training(rd, cfg, (5,), NeuronModel.load(rd / MODEL_FILE), 100)
    seen = []
    net.layers[0].register_forward_pre_hook(lambda mod, args: seen.append(mod.e_plus))
    x = torch.rand(4, 5)
    outs = [vt.forward(net, x, 1, b)[-1] for b in range(4)]
    assert seen == [2.8, 1.9, 2.8, 1.9]
    assert not torch.equal(outs[0], outs[2])  # a fresh instance per batch, on the same cell
    assert torch.equal(outs[0], vt.forward(net, x, 1, 0)[-1])  # drawn from (seed, epoch, batch) alone
    seen.clear()
    assert net.layers[0].e_plus == 2.8  # the run's own cell is back after each batch
    vt.order = "random"
    seen.clear()
    for b in range(12):
        vt.forward(net, x, 2, b)
    assert set(seen) == {2.8, 1.9} and seen != [2.8, 1.9] * 6
    res = eval_run(rd)
    assert [r["cell"].split()[0] for r in res["cells"]] == ["cell_tt.json", "cell_ss.json"]
    assert res["cells"][0]["test_accuracy"] == res["test_accuracy"]


def test_nominal_evaluation_is_unchanged_by_a_variation_section(tmp_path, cells):
    # large spreads, so that any mismatch left on the layers after training would move the accuracy
    rd, summary = _train(tmp_path / "r", cells / "cell_tt.json", **{"variation.from_cell": True,
                                                                     "variation.threshold_sigma": 0.3,
                                                                     "variation.c_m_sigma": 0.2})
    loaded = load_run(rd)
    assert eval_run(rd)["test_accuracy"] == summary["test_accuracy"]
    data, _ = load_config_dict(rd / "config.yaml")
    data.pop("variation")
    cfg, model, _, _ = make_config(data, cell=cells / "cell_tt.json")
    plain = build_net(cfg, (5,), model)
    plain.load_state_dict(loaded.net.state_dict())
    x, y = D.iris_split(0)[2:]
    assert evaluate(plain, x, y, cfg) == summary["test_accuracy"]
    assert torch.equal(forward_all(plain.eval(), x)[-1], forward_all(loaded.net, x)[-1])


BAD = [
    ({"variation.from_cell": True}, "cell_paper", "has no variation section"),
    ({"variation.weight_sigma": 0.1, "variation.current": {"n": TABLE, "p": TABLE}}, "cell_tt", "not both"),
    ({"variation.current": {"n": TABLE}}, "cell_tt", "both branches"),
    ({"variation.current": {"n": {"i": [1e-7, 1e-9], "sigma_rel": [0.1, 0.2]}, "p": TABLE}}, "cell_tt", "ascending"),
    ({"variation.threshold_sigma": -0.1}, "cell_tt", "threshold_sigma"),
    ({"variation.cells": ["nowhere.json"]}, "cell_tt", "nowhere.json not found"),
    ({"variation.bogus": 1}, "cell_tt", "unknown key"),
]


@pytest.mark.parametrize("sets,cell,msg", BAD)
def test_bad_variation_sections_are_one_line_errors(tmp_path, cells, sets, cell, msg):
    path = CELL if cell == "cell_paper" else cells / f"{cell}.json"
    with pytest.raises(ConfigError) as exc:
        make_config("iris-bottomup", cell=path, sets=sets)
    assert msg in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("name,msg", [("digits-ttfs", "RC-Spike MLPs only"), ("iris-topdown", "need a cell")])
def test_variation_refused_where_it_is_not_modelled(name, msg):
    with pytest.raises(ConfigError, match=msg):
        make_config(name, sets={"variation.from_cell": True})


def test_eval_variation_cli(tmp_path, cells):
    rd, _ = _train(tmp_path / "nom", cells / "cell_tt.json")
    r = CliRunner()
    res = r.invoke(cli, ["eval", str(rd), "--variation", "3"])
    assert res.exit_code == 2 and "no variation section" in res.output
    vfile = tmp_path / "var.yaml"
    vfile.write_text(yaml.safe_dump({"variation": {"weight_sigma": 0.3, "threshold_sigma": 0.05}}))
    args = ["eval", str(rd), "--variation", "4", "--seed", "1", "--variation-config", str(vfile)]
    out1, out2 = (json.loads(r.invoke(cli, args).output) for _ in range(2))
    v = out1["cells"][0]["variation"]
    assert out1 == out2 and v["n"] == 4 and len(v["accuracies"]) == 4
    assert v["min"] <= v["p5"] <= v["mean"] <= v["max"] and len(set(v["accuracies"])) > 1
    assert out1["test_accuracy"] == out1["cells"][0]["test_accuracy"]
    other = json.loads(r.invoke(cli, args[:5] + ["2"] + args[6:]).output)["cells"][0]["variation"]
    assert other["accuracies"] != v["accuracies"]
    vfile.write_text(yaml.safe_dump({"variation": {"threshold_sigma": -1}}))
    res = r.invoke(cli, args)
    assert res.exit_code == 2 and "threshold_sigma" in res.output and len(res.output.strip().splitlines()) == 1
    res = r.invoke(cli, ["eval", str(rd), "--seed", "1"])
    assert res.exit_code == 2 and "need --variation" in res.output


@pytest.mark.parametrize("name", ["iris-variation", "digits-variation"])
def test_shipped_variation_configs_resolve(name):
    cfg, _, cell, _ = make_config(name, cell=CELL)
    s = V.resolve_sigmas(cfg.variation, cell)
    assert s.current["n"].sigma_at(1e-9) == 0.3 and s.threshold == 0.006 and s.c_m == 0.01
    assert cfg.variation.from_cell is False  # explicit sigmas: the fixture cell has no measured section
