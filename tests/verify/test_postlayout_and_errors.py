"""Post-layout substitution by port names, and the one-line errors of bad verification input."""

from __future__ import annotations

import numpy as np
import pytest

from imcpnn.errors import ConfigError
from imcpnn.netlists import default_design, network_netlist
from imcpnn.netlists.cells import layer_ports
from imcpnn.verify.postlayout import substitute_layer
from imcpnn.verify.simulate import check_network

LIB = '.lib "/nonexistent/models.lib" tt'


def _bundle():
    d = default_design()
    vn = np.full((2, 3), 0.5)
    vp = np.full((2, 3), d.vdd)
    return network_netlist(d, LIB, [(vn, vp)], np.array([[0.1, 0.5, 1.0]]))


def test_substitute_reorders_ports(tmp_path):
    ports = layer_ports(3, 2)
    user = list(reversed(ports))
    f = tmp_path / "pex.spice"
    body = "\n+ ".join([" ".join(user[:20]), " ".join(user[20:])])
    f.write_text(f"* extracted\n.subckt my_layer {body}\nC1 mem_0 0 1f\n.ends my_layer\n")
    b = _bundle()
    text = substitute_layer(b.text, f)
    assert "C1 mem_0 0 1f" in text and ".subckt imc_layer_3x2" in text
    inst = next(l for l in text.splitlines() if l.startswith("XL1 "))
    orig = next(l for l in b.text.splitlines() if l.startswith("XL1 "))
    nodes = dict(zip(ports, orig.split()[1:-1]))
    assert inst.split()[1:-1] == [nodes[p] for p in user]


def test_substitute_lists_missing_and_extra_ports(tmp_path):
    ports = layer_ports(3, 2)
    f = tmp_path / "bad.spice"
    f.write_text(".subckt x " + " ".join(ports[1:] + ["bogus"]) + "\n.ends x\n")
    with pytest.raises(ConfigError, match=r"missing ports \['in_0'\].*extra ports \['bogus'\]"):
        substitute_layer(_bundle().text, f)


def test_bad_network_inputs():
    w = [np.zeros((5, 5)), np.zeros((5, 5))]
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        check_network(w, np.full((2, 5), 1.5))
    with pytest.raises(ConfigError, match="does not match"):
        check_network([np.zeros((5, 4))], np.zeros((2, 5)))
    with pytest.raises(ConfigError, match="2-D"):
        check_network(w, np.zeros(5))
