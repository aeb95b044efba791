"""`imc-verify run --post-layout`: each layer shape of the network drawn, LVS-checked, built from the per-cell
extractions and substituted; bad combinations are one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from imcpnn.cli.verify import main
from imcpnn.errors import ConfigError
from imcpnn.netlists import default_design, network_netlist
from imcpnn.verify.postlayout import layer_shapes, post_layout_layers, substitute_layers

LIB = '.lib "/nonexistent/models.lib" tt'


def test_layer_shapes_are_distinct_and_ordered():
    w = [np.zeros((5, 4)), np.zeros((3, 5)), np.zeros((5, 4))]
    assert layer_shapes(w) == [(4, 5), (5, 3)]


@pytest.mark.parametrize("args, message", [
    (["--post-layout", "--layer-netlist", "x.spice"], "drop --layer-netlist"),
    (["--pex-mode", "RC"], "--pex-mode applies with --post-layout only"),
])
def test_post_layout_option_errors(tmp_path, args, message):
    r = CliRunner().invoke(main, ["run", str(tmp_path), *args])
    assert r.exit_code != 0 and message in r.output and "Traceback" not in r.output


def test_a_layer_too_large_for_a_subcircuit_is_refused():
    with pytest.raises(ConfigError, match="22x22 layer has more than 1000 ports"):
        post_layout_layers(default_design(), [np.zeros((22, 22))])


@pytest.mark.pex
@pytest.mark.slow  # LVS of the layer and, when not cached, the two leaf extractions
def test_post_layout_layers_substitute_the_extracted_leaves():
    d = default_design()
    w = [np.zeros((1, 2))]
    (path,) = post_layout_layers(d, w, log=lambda m: None)
    assert post_layout_layers(d, w, log=lambda m: None) == [path]  # named by content: the same file again
    vn, vp = np.full((1, 2), 0.5), np.full((1, 2), d.vdd)
    text = substitute_layers(network_netlist(d, LIB, [(vn, vp)], np.array([[0.1, 0.5]])).text, [path])
    layer = text[text.index(".subckt imc_layer_2x1"):]
    assert "imc_synapse_pex" in layer.split(".ends imc_layer_2x1")[0]
    assert ".subckt imc_neuron_pex" in text and "cap_mim_m3_2" in text and "C_ext" in text


@pytest.mark.pex
@pytest.mark.slow  # LVS of the layer (the leaf extractions are the cached ones of the test above)
def test_post_layout_layers_with_split_supply_fit_an_energy_netlist():
    d = default_design()
    w = [np.zeros((1, 2))]
    (path,) = post_layout_layers(d, w, log=lambda m: None, split_supply=True)
    vn, vp = np.full((1, 2), 0.5), np.full((1, 2), d.vdd)
    net = network_netlist(d, LIB, [(vn, vp)], np.array([[0.1, 0.5]]), split_supply=True)
    text = substitute_layers(net.text, [path])  # an energy netlist's layers have the synapses' vdd_syn port
    head = next(l for l in text.splitlines() if l.startswith(".subckt imc_layer_2x1 "))
    assert "vdd_syn" in head.split()
    layer = text[text.index(head):].split(".ends imc_layer_2x1")[0]
    assert all(l.split()[-1] != "imc_synapse_pex" or "vdd_syn" in l.split() for l in layer.splitlines())
