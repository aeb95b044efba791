"""Extraction with klayout-pex's 2.5D engine: the extracted subcircuit keeps the netlist's ports, its capacitances
are there and of a plausible size, a repeat comes from the cache, and it simulates like the schematic."""

from __future__ import annotations

import subprocess

import pytest

from imcpnn.netlists import cells as nc
from imcpnn.netlists.design import default_design

pytestmark = pytest.mark.pex


@pytest.fixture(scope="module")
def synapse_pex(tmp_path_factory):
    from imcpnn.layout.flow import post_layout

    cache = tmp_path_factory.mktemp("pex")
    return post_layout(default_design(), nc.SYNAPSE, cache=cache), cache


def test_synapse_extraction_ports_and_capacitance(synapse_pex):
    r, _ = synapse_pex
    assert not r.cached and r.record["lvs"] == "match"
    head = r.subckt.read_text().split(".subckt ", 1)[1].splitlines()[0].split()
    assert head == [nc.SYNAPSE, "mem", "spk", "spkb", "vgn", "vgp", "vdd"]
    caps = r.record["cap_fF"]
    # every port carries wiring; the membrane's share of one synapse is a small fraction of the 98 fF MIM
    # (about 1.8 fF measured: a 7 um metal2 track with its neighbours, the drains and stubs)
    assert all(c > 0.05 for c in caps.values()), caps
    assert 0.3 < caps["mem"] < 10.0


def test_extraction_is_cached_by_content(synapse_pex):
    from imcpnn.layout.flow import post_layout

    r, cache = synapse_pex
    again = post_layout(default_design(), nc.SYNAPSE, cache=cache)
    assert again.cached and again.subckt == r.subckt
    wider = post_layout(default_design().derive(vdd=1.7), nc.SYNAPSE, cache=cache)
    assert wider.cached  # vdd does not change the layout or the schematic: same content, same extraction


def _dc_currents(bodies, tmp_path):
    """I(mem) of the synapse subcircuit ``body`` with the memory transistor on (NMOS branch, spike high)."""
    from imcpnn.pdk import lib_line

    currents = []
    for body in bodies:
        deck = tmp_path / "dc.cir"
        deck.write_text("* synapse DC\n" + lib_line("tt") + "\n" + body + "\n"
                        "X1 mem spk spkb vgn vgp vdd imc_synapse\nVmem mem 0 0.9\nVspk spk 0 1.8\nVspkb spkb 0 0\n"
                        "Vgn vgn 0 0.7\nVgp vgp 0 1.8\nVdd vdd 0 1.8\n.op\n.control\nrun\nprint i(Vmem)\n.endc\n.end\n")
        out = subprocess.run(["ngspice", "-b", str(deck)], capture_output=True, text=True, timeout=120).stdout
        line = next(l for l in out.splitlines() if "i(vmem)" in l.lower())
        currents.append(float(line.split("=")[1]))
    return currents


@pytest.mark.spice
def test_extracted_synapse_simulates_like_the_schematic(synapse_pex, tmp_path):
    r, _ = synapse_pex
    currents = _dc_currents((nc.synapse_subckt(default_design()), r.subckt.read_text()), tmp_path)
    assert currents[0] < -1e-7
    assert currents[1] == pytest.approx(currents[0], rel=1e-3)


@pytest.mark.spice
def test_rc_extraction_adds_wire_resistance(synapse_pex, tmp_path):
    from imcpnn.layout.flow import post_layout

    cc, cache = synapse_pex
    rc = post_layout(default_design(), nc.SYNAPSE, mode="RC", cache=cache)
    text = rc.subckt.read_text()
    assert text.splitlines()[2] == cc.subckt.read_text().splitlines()[2]  # the same .subckt line
    assert sum(l.startswith("R_") for l in text.splitlines()) > 10
    # the capacitance is split over the sub-nodes but totals about the same per net
    assert rc.record["cap_fF"]["mem"] == pytest.approx(cc.record["cap_fF"]["mem"], rel=0.3)
    currents = _dc_currents((nc.synapse_subckt(default_design()), text), tmp_path)
    assert currents[1] == pytest.approx(currents[0], rel=1e-2)


@pytest.mark.slow
@pytest.mark.heavy  # minutes of SPICE: CI runs it in make test-heavy
def test_layer_extraction_ports_match_and_per_cell_agrees(tmp_path):
    from imcpnn.layout.flow import layer_from_cells, post_layout

    r = post_layout(default_design(), nc.layer_name(2, 1), cache=tmp_path)
    head = r.subckt.read_text().split(".subckt ", 1)[1].splitlines()[0].split()
    assert head == [nc.layer_name(2, 1)] + nc.layer_ports(2, 1)
    caps = r.record["cap_fF"]
    # the membrane: two synapses plus the neuron's routing, still well below the MIM itself
    assert 2.0 < caps["mem_0"] < 50.0
    # the layer from one synapse and one neuron extraction: the same subcircuit ports, and the same
    # capacitances but for the coupling between neighbouring cells and the supply strap (vdd)
    text, per_cell = layer_from_cells(default_design(), 2, 1, cache=tmp_path)
    assert text.splitlines()[0].split()[1:] == head
    for port in ("mem_0", "in_0", "inb_1", "ph", "out_0"):
        assert per_cell["cap_fF"][port] == pytest.approx(caps[port], rel=0.05), port
