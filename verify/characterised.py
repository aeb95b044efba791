"""Is a cell used inside what it was characterised for? One-line warnings for imc-train run and imc-verify run.

A cell's c_m and i_unit are taken at its `design_fan_in` (synapses per column, bias included) and all its numbers at
one process corner: a layer with another fan-in, or a verification at another corner, runs on extrapolated values.
"""

from __future__ import annotations

import math
from typing import Sequence

from imcpnn.cell import CellParams


def characterisation_warnings(weights: Sequence, cell: CellParams, corner: str | None = None) -> list[str]:
    """Warnings (one line each) for layers whose fan-in differs from the cell's design fan-in, and for a corner
    other than the cell's. `weights`: per layer, anything with a shape (n_out, n_in[, kh, kw])."""
    out = []
    measured = [f.n_in for f in cell.c_m_per_fanin]
    for layer, w in enumerate(weights, start=1):
        fan_in = math.prod(tuple(w.shape)[1:])
        if fan_in != cell.design_fan_in:
            law = ("C_eff from the fan-in law " + ("inside" if measured and min(measured) <= fan_in <= max(measured)
                                                   else "extrapolated beyond") + f" its measured fan-ins {measured}")
            out.append(f"layer {layer} has fan-in {fan_in} but the cell was characterised at design_fan_in "
                       f"{cell.design_fan_in}: {law}, kicks and firing law as measured at {cell.design_fan_in} "
                       f"(re-extract with --fan-in {fan_in} to compare like with like)")
    if corner is not None and corner != cell.provenance.corner:
        out.append(f"corner {corner} differs from the cell's characterisation corner {cell.provenance.corner}: "
                   f"the model uses {cell.provenance.corner} values (extract a cell at {corner} to compare like "
                   f"with like)")
    return out
