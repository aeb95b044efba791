"""TTFS from a training config (model.kind: ttfs): validation, the Q term in the loss, seeded reproducibility."""

import pytest
import torch

from imcpnn.errors import ConfigError
from imcpnn.models import TTFSLinear, ttfs_q
from imcpnn.train import layer_weights, load_run, run
from imcpnn.train.config import load_config_dict, validate_config
from imcpnn.train.loop import make_config
from imcpnn.train.net import build_net, forward_all, paper_loss

FAST = {"epochs": 1, "limit_train": 64, "limit_test": 20, "steps": 6, "steps_test": 6, "threads": 1,
        "device": "cpu", "keep_checkpoints": 0}


def _err(data) -> str:
    with pytest.raises(ConfigError) as ei:
        validate_config(data, "cfg.yaml")
    assert "\n" not in str(ei.value)
    return str(ei.value)


def _ttfs(**changes) -> dict:
    data, _ = load_config_dict("digits-ttfs")
    for section, kv in changes.items():
        data[section].update(kv)
    return data


def test_digits_ttfs_builds_ttfs_layers_with_the_app_c_init():
    cfg, model, _, _ = make_config("digits-ttfs")
    net = build_net(cfg, (64,), model)
    layers = net.spiking_layers()
    assert [type(l) for l in layers] == [TTFSLinear, TTFSLinear]
    assert all(float(l.weight.detach().min()) >= 0 for l in layers) and layers[0].t_max == cfg.model.t_max


@pytest.mark.parametrize("changes,needle", [
    ({"neuron": {"e_rev": 1.0}}, "E+ > 1"),
    ({"loss": {"t_ref": 3.5}}, "before model.t_max"),
    ({"loss": {"gamma_v": 0.1}}, "gamma_v"),
    ({"neuron": {"leak": 0.1}}, "e_rev or e_plus/e_minus only"),
])
def test_ttfs_config_errors_are_one_line(changes, needle):
    assert needle in _err(_ttfs(**changes))


def test_a_ttfs_net_at_e_below_threshold_is_a_config_error():
    cfg, model, _, _ = make_config("digits-ttfs")
    with pytest.raises(ConfigError, match="E\\+ > 1"):
        build_net(cfg, (64,), model, e_rev=1.0)


def test_rcspike_configs_refuse_ttfs_only_settings():
    data, _ = load_config_dict("digits-mlp")
    assert "gamma_q" in _err({**data, "loss": {**data["loss"], "gamma_q": 1e-3}})
    assert "firing phase" in _err({**data, "loss": {**data["loss"], "t_ref": 1.5}})


def test_gamma_q_changes_the_loss_by_minus_gamma_q_times_q():
    torch.manual_seed(0)
    x = torch.rand(8, 64)
    y = torch.arange(8) % 10
    cfg0, model, _, _ = make_config("digits-ttfs", sets={"gamma_q": 0.0})
    cfg1, _, _, _ = make_config("digits-ttfs", sets={"gamma_q": 0.5})
    net = build_net(cfg0, (64,), model).eval()
    times = forward_all(net, x)
    q = ttfs_q(net, x, times).detach()
    assert float(q) > 0
    base = paper_loss(net, times, y, cfg0, inputs=x)
    with_q = paper_loss(net, times, y, cfg1, inputs=x)
    assert float(with_q.total.detach()) == pytest.approx(float(base.total.detach()) - 0.5 * float(q), rel=1e-6)
    assert float(with_q.q.detach()) == pytest.approx(float(q))


def test_ttfs_training_is_reproducible_by_seed(tmp_path):
    r1, s1 = run("digits-ttfs", out=tmp_path / "a", sets=FAST, progress=False)
    r2, s2 = run("digits-ttfs", out=tmp_path / "b", sets=FAST, progress=False)
    r3, _ = run("digits-ttfs", out=tmp_path / "c", sets={**FAST, "seed": 1}, progress=False)
    w1, w2, w3 = (layer_weights(load_run(r).net) for r in (r1, r2, r3))
    assert all(torch.equal(a, b) for a, b in zip(w1, w2)) and s1["test_accuracy"] == s2["test_accuracy"]
    assert not torch.equal(w1[0], w3[0])
