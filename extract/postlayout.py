"""Characterising the extracted cell (`imc-extract run --post-layout`): the paper's flow, where the model is fitted
on the laid-out circuit with its parasitics.

Every characterisation netlist carries the synapse and neuron subcircuits that netlists/cells.py writes; here their
definitions are swapped for the per-cell extractions of imcpnn.layout (each leaf drawn as in a layer row, LVS
clean, klayout-pex 2.5D), under the same names and ports. So the column transients (C_eff vs fan-in), the firing
transients, the leak, the synapse I(V) curves and bias tables, and the kick layers (whose layer subcircuits
instantiate the leaves by name) all see the parasitics. The discharger and sensing DC sweeps use the neuron's
blocks alone: at DC the extracted capacitors do nothing and the devices are the LVS-matched same ones."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Callable

from imcpnn.errors import ConfigError
from imcpnn.netlists.cells import NEURON, SYNAPSE
from imcpnn.netlists.design import CellDesign
from imcpnn.pdk.flat import flatten_netlist

#: the cells whose definitions are replaced by their extractions
LEAVES = (SYNAPSE, NEURON)
#: the comment imcpnn.pdk.flat writes above the model cards of a netlist in the flat device form
FLAT_FORM = re.compile(r"(?m)^\* flat device form:")


@dataclass(frozen=True)
class ExtractedCells:
    """The extracted leaf subcircuits (name -> subcircuit text, netlist ports, ground 0) and their provenance."""

    blocks: dict[str, str]
    provenance: dict


def extracted_cells(design: CellDesign, mode: str = "CC") -> ExtractedCells:
    """Draw, LVS and extract the synapse and the neuron of ``design`` (cached by content, imcpnn.layout.flow)."""
    # imported here: the layout stage needs KLayout and klayout-pex (make setup-layout), the schematic path not
    from imcpnn.layout.flow import post_layout

    blocks, leaves = {}, {}
    for leaf in LEAVES:
        r = post_layout(design, leaf, mode, in_layer=True)
        text = r.subckt.read_text()
        blocks[leaf] = text
        leaves[leaf] = {"sha256": hashlib.sha256(text.encode()).hexdigest(), "tools": r.record["tools"],
                        "mem_cap_fF": r.record["cap_fF"].get("mem")}
    digest = hashlib.sha256("".join(blocks[k] for k in LEAVES).encode()).hexdigest()
    return ExtractedCells(blocks, {"mode": mode, "per_cell": True, "extraction_sha256": digest, "cells": leaves})


def _block(text: str, name: str) -> str:
    """The ``.subckt name ... .ends`` block of ``text`` (the whole lines)."""
    m = re.search(rf"(?ims)^\.subckt\s+{name}\b.*?^\.ends\b[^\n]*", text)
    if m is None:
        raise ConfigError(f"the extraction holds no subcircuit {name}")
    return m.group(0)


def substitute_cells(text: str, cells: ExtractedCells, lib_line: str) -> str:
    """``text`` (a complete netlist) with the synapse and neuron definitions replaced by the extracted ones, in the
    netlist's own device form. A netlist without them is an error: it would silently stay schematic."""
    for leaf in LEAVES:
        new = _block(cells.blocks[leaf], leaf)
        text, n = re.subn(rf"(?ims)^\.subckt\s+{leaf}\b.*?^\.ends\b[^\n]*", lambda _: new, text, count=1)
        if n != 1:
            raise ConfigError(f"post-layout: the netlist defines no {leaf} to replace")
    # the extracted devices are sky130 wrapper instances: in a netlist of the flat device form (the plan derives it
    # for its large columns) they become model-bin instances too, else a thousand wrappers need gigabytes
    return flatten_netlist(text, lib_line) if FLAT_FORM.search(text) else text


@dataclass(frozen=True)
class PostLayoutPlan:
    """What the characterisation plan and the trim stage change for the extracted cells: each job's netlist. The
    stimuli come from the condition's points like every other condition's, measured on the extracted cells by the
    trim stage's own probes (extract/run.py, extract/trim.py)."""

    netlist: Callable[[str], str]


def plan_hook(cells: ExtractedCells | None, lib_line: str) -> PostLayoutPlan | None:
    """The plan's post-layout hook (None: the schematic netlists, unchanged)."""
    if cells is None:
        return None
    return PostLayoutPlan(lambda text: substitute_cells(text, cells, lib_line))
