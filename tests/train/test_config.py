"""Config validation: clear one-line errors, shipped configs, overrides, `from: cell.json`."""

import math
from pathlib import Path

import pytest
import torch
import yaml

from imcpnn.errors import ConfigError
from imcpnn.neuron import NeuronModel
from imcpnn.train.config import (apply_overrides, load_config_dict, neuron_model, resolve_config_path,
                                 shipped_configs, validate_config)
from imcpnn.train.loop import make_config
from imcpnn.train.net import build_net

CELL = Path(__file__).resolve().parents[1] / "fixtures" / "cell_paper.json"
SHIPPED = ["cifar10-cnn", "cifar10-cnn-wide", "digits-bottomup", "digits-mlp", "fmnist-cnn", "fmnist-mlp",
           "iris-bottomup", "iris-topdown"]


def base() -> dict:
    data, _ = load_config_dict("digits-mlp")
    return data


def err(data) -> str:
    with pytest.raises(ConfigError) as ei:
        validate_config(data, "cfg.yaml")
    msg = str(ei.value)
    assert "\n" not in msg and msg.startswith("cfg.yaml")
    return msg


def test_all_shipped_configs_validate():
    assert set(SHIPPED) <= set(shipped_configs())
    for name in SHIPPED:
        cfg, model, cell, _ = make_config(name, cell=CELL)
        assert cfg.name == name and isinstance(model, NeuronModel)


def test_config_by_path_and_by_name(tmp_path):
    p = tmp_path / "mine.yaml"
    p.write_text(yaml.safe_dump(base()))
    assert resolve_config_path(str(p)) == p
    assert resolve_config_path("digits-mlp").name == "digits-mlp.yaml"
    with pytest.raises(ConfigError, match="neither a file nor a shipped config"):
        resolve_config_path("no-such-config")


def test_unknown_key():
    d = base()
    d["optim"]["learning_rate"] = 1
    assert "unknown key 'optim.learning_rate'" in err(d)


def test_wrong_type():
    d = base()
    d["optim"]["batch_size"] = "lots"
    assert "optim.batch_size" in err(d)


def test_impossible_values():
    d = base()
    d["optim"]["lr"] = -1
    assert "optim.lr" in err(d)
    d = base()
    d["neuron"]["e_rev"] = 0
    assert "neuron.e_rev" in err(d)
    d = base()
    d["model"]["n_classes"] = 11
    assert "n_classes" in err(d)
    d = base()
    d["neuron"]["e_plus"] = 3.0  # two sources of E
    assert "exactly one" in err(d)
    d = base()
    d["loss"]["t_ref"] = 1.5
    assert "loss.t_ref" in err(d)


def test_missing_key():
    d = base()
    del d["dataset"]
    assert "missing key 'dataset'" in err(d)


def test_bad_yaml(tmp_path):
    p = tmp_path / "x.yaml"
    p.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        make_config(str(p))


def test_overrides_short_dotted_and_unknown():
    d = apply_overrides(base(), ["lr=0.5", "optim.epochs=3", "e_rev=inf", "seed=7"])
    cfg = validate_config(d)
    assert cfg.optim.lr == 0.5 and cfg.optim.epochs == 3 and cfg.seed == 7
    assert math.isinf(cfg.neuron.e_rev)
    with pytest.raises(ConfigError, match="unknown key 'nope'"):
        apply_overrides(base(), ["nope=1"])
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides(base(), ["lr"])


def test_from_cell_json_takes_e_and_weight_range():
    cfg, v, cell, path = make_config("iris-bottomup", cell=CELL)
    assert v.e_plus == pytest.approx(2.80) and v.e_minus == pytest.approx(-1.53)
    assert v.e_dis == pytest.approx(6.44)
    assert v.w_min == -cell.w_max_minus and v.w_max == cell.w_max_plus
    assert v.lambda_table is not None and v.kicks is None  # iris-bottomup: per-synapse lambda on, kicks off
    assert v.source.startswith("cell_paper.json sha256:")
    # the config as a run directory stores it re-validates and describes the same model with the same cell
    again = validate_config(yaml.safe_load(cfg.to_yaml()))
    assert neuron_model(again, cell, v.source) == v


def test_spike_kicks_come_from_the_cell_when_it_has_them(tmp_path):
    import json

    _, m, _, _ = make_config("iris-bottomup", cell=CELL, sets=["neuron.spike_kicks=true"])
    assert m.kicks is None  # the paper cell has none
    d = json.loads(CELL.read_text())
    d["kicks"] = {"n_w": [0.01, 1.0], "n_kick": [3e-3, 7e-3], "p_w": [0.01, 1.0], "p_kick": [-2e-3, -8e-3],
                  "n_delay": 1e-4, "p_delay": 4e-4}
    d["kicks_neuron"] = {**d["kicks"], "n_kick": [4e-3, 8e-3]}
    cell2 = tmp_path / "cell.json"
    cell2.write_text(json.dumps(d))
    cfg2, m2, _, _ = make_config("iris-bottomup", cell=cell2, sets=["neuron.spike_kicks=true"])
    assert make_config("iris-bottomup", cell=cell2)[1].kicks is None  # off by default
    assert m2.kicks.n_kick == (3e-3, 7e-3) and m2.kicks.p_delay == 4e-4
    net = build_net(cfg2, (5,), m2)
    assert all(layer.kick_fn is not None for layer in net.layers)
    one = torch.ones(1, dtype=torch.float64)  # layers after the first take the neuron-driven table
    assert [float(layer.kick_fn(one)[0]) for layer in net.layers] == pytest.approx([7e-3, 8e-3])


def test_from_cell_json_without_cell_is_clear():
    with pytest.raises(ConfigError, match="--cell"):
        make_config("iris-bottomup")


def test_topdown_is_ideal_hundred():
    cfg, v, cell, _ = make_config("iris-topdown")
    assert cell is None and v.e_plus == 100 and v.e_minus == -100 and math.isinf(v.e_dis)


def test_sweeping_e_rev_replaces_cell_source():
    cfg, v, cell, _ = make_config("iris-bottomup", sets={"e_rev": 4.0}, cell=CELL)
    assert cell is None and v.e_plus == 4.0 and v.w_max is None


def test_auto_init_shift_places_each_layers_median_spike_time():
    """'auto' finds, layer by layer, the shift that puts the median spike time of the first training samples at 0.7
    of the window. A fixed shift cannot: +0.04, which starts the real tt cell's 64-128-10 network firing, saturates the
    paper-valued fixture cell's output layer at its earliest time (zero gradient)."""
    from imcpnn.train.data import load_dataset
    from imcpnn.train.loop import AUTO_INIT_SAMPLES, seed_everything
    from imcpnn.train.net import auto_init_shift

    def medians(shift):
        cfg, model, _, _ = make_config("digits-bottomup", sets=[f"model.init_shift={shift}"], cell=CELL)
        seed_everything(0)
        data = load_dataset(cfg.dataset, flatten=True)
        net = build_net(cfg, data.input_shape, model)
        x = data.x_train[:AUTO_INIT_SAMPLES]
        shifts = auto_init_shift(net, x) if shift == "auto" else None
        net.eval()
        with torch.no_grad():
            return shifts, [float(t.median()) for t in net(x, return_all=True)]

    shifts, auto = medians("auto")
    assert len(shifts) == 2 and all(0 < s < 0.2 for s in shifts)
    assert auto == pytest.approx([0.7, 0.7], abs=0.01)
    _, fixed = medians(0.04)
    assert fixed[1] < 0.05
    with pytest.raises(ConfigError, match="init_shift"):
        make_config("digits-bottomup", sets=["model.init_shift=often"], cell=CELL)
