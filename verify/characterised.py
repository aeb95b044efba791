"""Is a cell used inside what it was characterised for? One-line warnings for imc-train run and imc-verify run.

A cell is characterised over a range of fan-ins (the C_eff points of its fan-in law, imcpnn/neuron.py) and, for
layers fed by neurons, of fan-outs (the spike-line loads its neuron-fed kicks were measured at), at one process
corner: a layer outside those ranges, or a verification at another corner, runs on extrapolated values.
"""

from __future__ import annotations

import math
from typing import Sequence

from imcpnn.cell import CellParams


def characterisation_warnings(weights: Sequence, cell: CellParams, corner: str | None = None) -> list[str]:
    """Warnings (one line each) for layers whose fan-in (or, fed by neurons, fan-out of their input lines) lies
    outside the range the cell was characterised for, and for a corner other than the cell's. `weights`: per layer,
    anything with a shape (n_out, n_in[, kh, kw])."""
    out = []
    fan_ins = sorted(f.n_in for f in cell.c_m_per_fanin)
    fan_outs = sorted(cell.kick_fan_outs())
    for layer, w in enumerate(weights, start=1):
        shape = tuple(w.shape)
        fan_in = math.prod(shape[1:])
        if not fan_ins[0] <= fan_in <= fan_ins[-1]:
            out.append(f"layer {layer} has fan-in {fan_in}, outside the fan-ins {fan_ins[0]}..{fan_ins[-1]} the cell "
                       f"was characterised for (C_eff measured at {fan_ins}): the fan-in law extrapolates its charge "
                       f"scale (re-extract with this imc-extract, which measures up to 1024)")
        # a neuron-fed layer's inputs are spike lines that each drive one synapse per neuron of this layer
        if layer > 1 and fan_outs and not fan_outs[0] <= shape[0] <= fan_outs[-1]:
            out.append(f"layer {layer}'s input spike lines have fan-out {shape[0]}, outside the fan-outs "
                       f"{fan_outs[0]}..{fan_outs[-1]} the cell's neuron-fed kicks were measured at: the kicks and "
                       f"turn-on delays are extrapolated")
    if corner is not None and corner != cell.provenance.corner:
        out.append(f"corner {corner} differs from the cell's characterisation corner {cell.provenance.corner}: "
                   f"the model uses {cell.provenance.corner} values (extract a cell at {corner} to compare like "
                   f"with like)")
    return out
