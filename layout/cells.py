"""Layouts of the synapse, the neuron and an N_in x N_out layer, drawn from the same CellDesign (and the same
subcircuit text) as the netlists."""

from __future__ import annotations

import re

import klayout.db as kdb

from imcpnn.errors import ConfigError

from imcpnn.netlists import cells as nc
from imcpnn.netlists.design import CellDesign

from . import cellgen
from . import devices as D
from . import layers as L
from .devices import DBU
from .netlist import BODY, GROUND, Device, bodies_on_pin, flat_devices, lvs_schematic

#: the nets that run along a row of the array (membrane, supplies) and those down a column (spikes, biases)
ROW_NETS = (GROUND, "vdd", "mem")
SYNAPSE_COLUMNS = ("spk", "spkb")
NEURON_COLUMNS = ("ph", "phb", "rstb", "v0", "vbdis", "vbsense")


def layer_shape(name: str) -> tuple[int, int] | None:
    """(n_in, n_out) of a layer's cell name, None for a leaf cell."""
    m = re.fullmatch(r"imc_layer_(\d+)x(\d+)", name)
    return (int(m.group(1)), int(m.group(2))) if m else None


def cell_ports(name: str, design: CellDesign) -> list[str]:
    """The ports of a cell (synapse, neuron or layer) plus the ground the netlists leave implicit."""
    shape = layer_shape(name)
    if shape is not None:
        return nc.layer_ports(*shape) + [GROUND]
    head = next((l for l in nc.subcircuits(design).splitlines() if l.startswith(f".subckt {name} ")), None)
    if head is None:
        raise ConfigError(f"layout: no cell {name}")
    return head.split()[2:] + [GROUND]


def cell_devices(name: str, design: CellDesign) -> list[Device]:
    """The cell's devices, flattened (netlists/cells.py is their one source)."""
    shape = layer_shape(name)
    if shape is None:
        return flat_devices(nc.subcircuits(design), name)
    text = nc.subcircuits(design) + nc.layer_subckt(design, *shape) + "\n"
    return flat_devices(text, name)


def schematic(name: str, design: CellDesign, hierarchical: bool = False) -> str:
    """The LVS schematic of a cell, flat; ``hierarchical``: a layer as drawn, its synapse and neuron instances over
    the two leaf subcircuits, which KLayout compares cell by cell (fast for large layers, :func:`layer_schematic`)."""
    shape = layer_shape(name)
    if hierarchical and shape is not None:
        return layer_schematic(design, *shape)
    return lvs_schematic(name, cell_ports(name, design), cell_devices(name, design))


def layer_schematic(design: CellDesign, n_in: int, n_out: int) -> str:
    """The layer's LVS schematic in the layout's hierarchy: the netlists' layer body (netlists/cells.py) over the
    synapse and the neuron, each flat, with their NMOS bodies on a pin of their own (netlist.BODY) that the layer
    joins to ground, as the deck's global substrate net is joined."""
    name = nc.layer_name(n_in, n_out)
    lines = [f".subckt {name} {' '.join(cell_ports(name, design))}"]
    for line in nc.layer_body(n_in, n_out):
        *nodes, leaf = line.split()
        lines.append(" ".join([*nodes, GROUND, GROUND, leaf]))
    lines.append(f".ends {name}")
    leaves = [lvs_schematic(leaf, cell_ports(leaf, design) + [BODY], bodies_on_pin(cell_devices(leaf, design)))
              for leaf in (nc.SYNAPSE, nc.NEURON)]
    return "\n".join(lines) + "\n" + "".join(leaves)


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


def row_span(design: CellDesign) -> tuple[float, float]:
    """The height (y0, y1) every cell of a layer row is drawn to: the taller of synapse and neuron."""
    probe = new_layout()
    _, e_syn = draw_leaf(probe, nc.SYNAPSE, design, SYNAPSE_COLUMNS)
    _, e_neu = draw_leaf(probe, nc.NEURON, design, NEURON_COLUMNS)
    return min(e_syn.y0, e_neu.y0), max(e_syn.y1, e_neu.y1)


def leaf_in_layer_layout(design: CellDesign, name: str) -> tuple[kdb.Layout, kdb.Cell]:
    """The synapse or the neuron alone, drawn as in a layer (to the row's height)."""
    layout = new_layout()
    columns = SYNAPSE_COLUMNS if name == nc.SYNAPSE else NEURON_COLUMNS
    cell, _ = draw_leaf(layout, name, design, columns, row_span(design))
    return layout, cell


def layer_layout(design: CellDesign, n_in: int, n_out: int) -> tuple[kdb.Layout, kdb.Cell]:
    """The N_in x N_out layer: synapse (i, j) in row i (output neuron), column j (input), neuron i at the row's
    right end.  Rows share their membrane and supply tracks by abutment, columns their spike (synapses) and
    clock/bias lines (neurons); a metal3 strap on the left joins every row's vdd and ground; the top cell's labels
    name the layer's ports as netlists/cells.layer_ports does."""
    if n_in < 1 or n_out < 1:
        raise ValueError("n_in and n_out must be >= 1")
    span = row_span(design)
    layout = new_layout()
    syn, e_syn = draw_leaf(layout, nc.SYNAPSE, design, SYNAPSE_COLUMNS, span)
    neu, e_neu = draw_leaf(layout, nc.NEURON, design, NEURON_COLUMNS, span)
    top = layout.create_cell(nc.layer_name(n_in, n_out))
    pitch = span[1] - span[0]

    def put(cell: kdb.Cell, x: float, y: float) -> None:
        top.insert(kdb.DCellInstArray(cell.cell_index(), kdb.DTrans(x, y)))

    def name(extent: cellgen.Extent, port: str, x: float, y: float, text: str) -> None:
        px, py = extent.labels[port]
        D.label(top, L.MET2, text, x + px, y + py)

    for i in range(n_out):
        y = i * pitch
        for j in range(n_in):
            x = j * e_syn.x1
            put(syn, x, y)
            name(e_syn, "vgn", x, y, f"vn_{i}_{j}")
            name(e_syn, "vgp", x, y, f"vp_{i}_{j}")
            if i == 0:
                name(e_syn, "spk", x, y, f"in_{j}")
                name(e_syn, "spkb", x, y, f"inb_{j}")
        x = n_in * e_syn.x1
        put(neu, x, y)
        name(e_neu, "mem", x, y, f"mem_{i}")
        name(e_neu, "spk", x, y, f"out_{i}")
        name(e_neu, "spkb", x, y, f"outb_{i}")
        if i == 0:
            for port in NEURON_COLUMNS + ("vdd", GROUND):
                name(e_neu, port, x, y, port)
    for k, net in enumerate(("vdd", GROUND)):
        xs = -1.0 - k * cellgen.COLUMN_PITCH
        D.box(top, L.MET3, xs - L.MET3_WIDTH / 2, span[0], xs + L.MET3_WIDTH / 2, n_out * pitch + span[0])
        for i in range(n_out):
            ys = i * pitch + e_syn.tracks[net]
            D.box(top, L.MET2, xs - 0.3, ys - cellgen.TRACK_WIDTH / 2, 0.0, ys + cellgen.TRACK_WIDTH / 2)
            D.via2(top, xs, ys)
    return layout, top
