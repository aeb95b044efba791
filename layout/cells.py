"""Layouts of the synapse, the neuron and an N_in x N_out layer, drawn from the same CellDesign (and the same
subcircuit text) as the netlists."""

from __future__ import annotations

import klayout.db as kdb

from imcpnn.netlists import cells as nc
from imcpnn.netlists.design import CellDesign

from . import cellgen
from .devices import DBU
from .netlist import GROUND, Device, flat_devices

#: the nets that run along a row of the array (membrane, supplies) and those down a column (spikes, biases)
ROW_NETS = (GROUND, "vdd", "mem")
SYNAPSE_COLUMNS = ("spk", "spkb")
NEURON_COLUMNS = ("ph", "phb", "rstb", "v0", "vbdis", "vbsense")


def cell_ports(name: str, design: CellDesign) -> list[str]:
    """The ports of a leaf cell: its subcircuit's ports plus the ground the netlists leave implicit."""
    text = nc.subcircuits(design)
    head = next(l for l in text.splitlines() if l.startswith(f".subckt {name} "))
    return head.split()[2:] + [GROUND]


def cell_devices(name: str, design: CellDesign) -> list[Device]:
    return flat_devices(nc.subcircuits(design), name)


def draw_leaf(layout: kdb.Layout, name: str, design: CellDesign, columns: tuple[str, ...],
              span: tuple[float, float] | None = None) -> tuple[kdb.Cell, cellgen.Extent]:
    """Draw the leaf cell ``name`` (imc_synapse or imc_neuron) into ``layout``."""
    cell = layout.create_cell(name)
    ports = cell_ports(name, design)
    plan = cellgen.place(cell, cell_devices(name, design), keep=set(ports))
    return cell, cellgen.route(cell, plan, ports, ROW_NETS, columns, span)


def new_layout() -> kdb.Layout:
    layout = kdb.Layout()
    layout.dbu = DBU
    return layout


def synapse_layout(design: CellDesign) -> tuple[kdb.Layout, kdb.Cell]:
    layout = new_layout()
    cell, _ = draw_leaf(layout, nc.SYNAPSE, design, SYNAPSE_COLUMNS)
    return layout, cell


def neuron_layout(design: CellDesign) -> tuple[kdb.Layout, kdb.Cell]:
    layout = new_layout()
    cell, _ = draw_leaf(layout, nc.NEURON, design, NEURON_COLUMNS)
    return layout, cell
