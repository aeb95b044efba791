"""The text side of the layout flow (no KLayout needed): the device lists the layout is drawn from, the LVS
schematic and the rewriting of klayout-pex's netlist."""

from __future__ import annotations

import pytest

from imcpnn.errors import ConfigError
from imcpnn.layout.netlist import BODY, GROUND, Device, bodies_on_pin, flat_devices, lvs_schematic
from imcpnn.layout.pex import rewrite
from imcpnn.netlists import cells as nc
from imcpnn.netlists.design import Fet, default_design


def test_flat_devices_follow_the_netlist():
    d = default_design()
    text = nc.subcircuits(d, [(2, 3)])
    neuron = flat_devices(text, nc.NEURON)
    assert len(neuron) == 25 and sum(not x.is_fet for x in neuron) == 1
    layer = flat_devices(text, nc.layer_name(2, 3))
    assert len(layer) == 2 * 3 * 4 + 3 * 25
    # ground is explicit, instance paths prefix the internal nets
    nm = next(x for x in layer if x.name == "S1_0_NM")
    assert nm.nodes == ("mem_1", "vn_1_0", "S1_0_nx", "vss") and nm.part == d.syn_n_mem
    sch = lvs_schematic("c", ["mem"], flat_devices(text, nc.SYNAPSE))
    assert "MNM mem vgn nx vss sky130_fd_pr__nfet_01v8 W=1u L=0.25u" in sch


def test_bodies_on_pin_moves_only_grounded_nmos_bodies():
    """A leaf of the hierarchical LVS schematic: the NMOS bodies on the deck's substrate pin, nothing else moved."""
    d = default_design()
    neuron = flat_devices(nc.subcircuits(d), nc.NEURON)
    moved = bodies_on_pin(neuron)
    for before, after in zip(neuron, moved):
        nmos_on_ground = before.is_fet and before.part.polarity == "n" and before.nodes[3] == GROUND
        assert after.nodes == ((*before.nodes[:3], BODY) if nmos_on_ground else before.nodes)
    assert sum(a.nodes != b.nodes for a, b in zip(neuron, moved)) == sum(
        x.is_fet and x.part.polarity == "n" for x in neuron) > 0
    elsewhere = Device("x", ("d", "g", "s", "b"), d.syn_n_mem)
    assert bodies_on_pin([elsewhere]) == [elsewhere]


def test_multi_finger_devices_are_refused():
    d = default_design().derive(syn_n_mem=Fet("nfet_01v8", 1.0, 0.25, nf=2))
    with pytest.raises(ConfigError, match="nf=2"):
        flat_devices(nc.subcircuits(d), nc.SYNAPSE)


_KPEX = """* header
.SUBCKT imc_synapse mem vdd vgn spk vgp spkb vss
X$1 \\$10 vgp mem vdd sky130_fd_pr__pfet_01v8 l=0.25 w=1 as=0.285 ad=0.145
+ ps=2.57 pd=1.29
Cext_1 \\$10 mem 0.5f
Cext_2 vss mem 1.5f
.ENDS imc_synapse
"""


def test_rewrite_keeps_the_netlist_ports_and_ground():
    ports = ["mem", "spk", "spkb", "vgn", "vgp", "vdd"]
    text, caps = rewrite(_KPEX, "imc_synapse", ports)
    lines = text.splitlines()
    assert lines[0] == ".subckt imc_synapse mem spk spkb vgn vgp vdd"
    assert "X_1 __10 vgp mem vdd sky130_fd_pr__pfet_01v8 l=0.25 w=1 as=0.285 ad=0.145 ps=2.57 pd=1.29" in lines
    assert "C_ext_2 0 mem 1.5e-15" in lines
    assert caps["mem"] == pytest.approx(2e-15)


def test_rewrite_refuses_other_ports():
    with pytest.raises(ConfigError, match=r"missing \['extra'\]"):
        rewrite(_KPEX, "imc_synapse", ["mem", "spk", "spkb", "vgn", "vgp", "vdd", "extra"])
