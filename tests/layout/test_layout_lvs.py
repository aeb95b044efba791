"""LVS of the generated layouts against schematics from the same design, with klayout-pex's sky130 deck; and
that the check can fail: a schematic from a different design must not match."""

from __future__ import annotations

import pytest

from imcpnn.netlists import cells as nc
from imcpnn.netlists.design import Fet, Mim, default_design

pytestmark = pytest.mark.lvs


def _lvs(tmp_path, name, layout_design, schematic_design=None, hierarchical=False):
    from imcpnn.layout import cells
    from imcpnn.layout.flow import draw
    from imcpnn.layout.lvs import run_lvs

    tmp_path.mkdir(parents=True, exist_ok=True)
    layout, _ = draw(layout_design, name)
    gds = tmp_path / f"{name}.gds"
    layout.write(str(gds))
    cdl = tmp_path / f"{name}.cdl"
    cdl.write_text(cells.schematic(name, schematic_design or layout_design, hierarchical))
    return run_lvs(gds, cdl, tmp_path / "lvs")


def test_synapse_lvs_clean(tmp_path):
    r = _lvs(tmp_path, nc.SYNAPSE, default_design())
    assert r.match, r.log.read_text()[-2000:]
    extracted = r.extracted.read_text()
    assert extracted.count("sky130_fd_pr__nfet_01v8 L=0.25 W=1") == 2
    assert extracted.count("sky130_fd_pr__pfet_01v8 L=0.25 W=1") == 2


def test_lvs_catches_a_changed_transistor(tmp_path):
    other = default_design().derive(syn_n_mem=Fet("nfet_01v8", 2.0, 0.25))
    assert not _lvs(tmp_path, nc.SYNAPSE, default_design(), other).match


def test_neuron_lvs_clean_and_mim_size_checked(tmp_path):
    d = default_design()
    assert _lvs(tmp_path / "same", nc.NEURON, d).match
    assert not _lvs(tmp_path / "other", nc.NEURON, d, d.derive(c_m=Mim("cap_mim_m3_2", 7.0, 8.0))).match


def test_layer_lvs_clean(tmp_path):
    r = _lvs(tmp_path, nc.layer_name(2, 1), default_design())
    assert r.match, r.log.read_text()[-2000:]


def test_hierarchical_layer_lvs_clean_and_checks_the_leaves(tmp_path):
    """The layer against its schematic in the layout's hierarchy (layer over synapse and neuron, what --per-cell
    layers are checked with): clean, and a changed transistor or MIM in a leaf is still a mismatch."""
    from imcpnn.layout.lvs import run_lvs

    d = default_design()
    name = nc.layer_name(2, 2)
    r = _lvs(tmp_path / "same", name, d, hierarchical=True)
    assert r.match, r.log.read_text()[-2000:]
    cdl = tmp_path / "same" / f"{name}.cdl"
    assert ".subckt imc_synapse " in cdl.read_text()
    # the layer's own wiring is compared too: one synapse with its spike lines swapped
    swapped = cdl.read_text().replace("XS0_1 mem_0 in_1 inb_1 ", "XS0_1 mem_0 inb_1 in_1 ")
    assert swapped != cdl.read_text()
    cdl.write_text(swapped)
    assert not run_lvs(tmp_path / "same" / f"{name}.gds", cdl, tmp_path / "swapped").match
    transistor = d.derive(syn_n_mem=Fet("nfet_01v8", 2.0, 0.25))
    assert not _lvs(tmp_path / "fet", name, d, transistor, hierarchical=True).match
    mim = d.derive(c_m=Mim("cap_mim_m3_2", 7.0, 8.0))
    assert not _lvs(tmp_path / "mim", name, d, mim, hierarchical=True).match
