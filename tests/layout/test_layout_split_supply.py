"""A per-cell extracted layer for energy reporting: the synapses on their own supply port (vdd_syn), the wiring
capacitance of the one vdd split between the two ports."""

from __future__ import annotations

import pytest

from imcpnn.netlists import cells as nc
from imcpnn.netlists.design import default_design

pytestmark = pytest.mark.pex


def test_per_cell_layer_splits_the_supply():
    from imcpnn.layout.flow import layer_from_cells

    plain, rec = layer_from_cells(default_design(), 2, 1)
    split, rec_split = layer_from_cells(default_design(), 2, 1, split_supply=True)
    assert split.splitlines()[0].split()[2:] == nc.layer_ports(2, 1, True)
    syn = [l for l in split.splitlines() if l.endswith(f"{nc.SYNAPSE}_pex") and l.startswith("X")]
    assert len(syn) == 2 and all(l.split()[6] == "vdd_syn" for l in syn)
    caps, caps_split = rec["cap_fF"], rec_split["cap_fF"]
    assert caps_split["vdd_syn"] > 0 and caps_split["vdd"] > 0
    assert caps_split["vdd"] + caps_split["vdd_syn"] == pytest.approx(caps["vdd"], rel=1e-9)
