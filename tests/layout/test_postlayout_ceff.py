"""The post-layout characterisation measures the extracted membrane: C_eff grows over the schematic's by the
extraction's own membrane capacitance (wiring) plus the drains' junctions, which the extracted devices carry as
AS/AD/PS/PD and the schematic's do not."""

from __future__ import annotations

import pytest

from imcpnn.extract.fit import column_capacitance
from imcpnn.extract.kicks import KickGates
from imcpnn.extract.plan import Stimuli, plan
from imcpnn.netlists import cells as nc
from imcpnn.netlists.design import default_design
from imcpnn.spice.pool import run_jobs


#: the tt / 27 C stimuli (extract/trim.py derives them per condition; these are what it gives at tt)
POINTS = Stimuli(96.2e-9, KickGates((0.38, 0.5, 0.6, 0.66), (1.32, 1.2, 1.1, 0.95), 0.53))

pytestmark = [pytest.mark.pex, pytest.mark.spice, pytest.mark.slow]  # four column transients, a cold extraction

FAN_INS = (0, 5)
#: junction capacitance per um^2 of drain area and per um of its perimeter, zero bias, upper bounds for sky130 tt
#: diffusion: the model cards give cjs 1.21e-3 (n+) / 0.74e-3 (p+) F/m^2, cjsws up to 0.99e-10 and cjswgs (gate
#: edge) up to 2.5e-10 F/m; reverse bias (the membrane sits at 0.4..1.3 V) lowers all of them
CJ_MAX, CJSW_MAX = 2.0e-15, 0.25e-15
#: the fit window's lower edge (V): the tt cell's V_switch (0.444 V) rounded down; it only bounds the window
V_SWITCH = 0.44


def _c_eff(p, design) -> dict[int, float]:
    """C_eff at FAN_INS from the plan's own column transients, measured as imc-extract does."""
    cols = [c for c in p.columns if c.n_in in FAN_INS]
    results = run_jobs([c.job for c in cols], workers=1, progress=False)
    out = {}
    for col, r in zip(cols, results):
        plot = r.plots[0]
        out[col.n_in] = column_capacitance(plot.time, plot.voltage("mem"), col.i_inj, design.t_circ, p.t_inj,
                                           (V_SWITCH, design.v0),
                                           f"column {col.n_in}")
    return out


def _junction_bound(block: str) -> float:
    """Zero-bias junction capacitance (F) of the extracted devices' source/drain terminals on the membrane."""
    total = 0.0
    for line in block.splitlines():
        words = line.split()
        if not words or not words[0].startswith("X_"):
            continue
        params = dict(w.split("=") for w in words if "=" in w)
        for node, area, perim in ((words[1], "ad", "pd"), (words[3], "as", "ps")):
            if node == "mem" and area in params:
                total += float(params[area]) * CJ_MAX + float(params[perim]) * CJSW_MAX
    return total


def test_post_layout_c_eff_includes_the_extracted_membrane():
    from imcpnn.extract.postlayout import extracted_cells, plan_hook
    from imcpnn.pdk import lib_line

    design, lib = default_design(), lib_line("tt")
    cells = extracted_cells(design)
    c = {"schematic": _c_eff(plan(design, lib, POINTS), design),
         "post": _c_eff(plan(design, lib, POINTS, post_layout=plan_hook(cells, lib)), design)}
    wire = {leaf: v["mem_cap_fF"] * 1e-15 for leaf, v in cells.provenance["cells"].items()}
    junction = {leaf: _junction_bound(cells.blocks[leaf]) for leaf in (nc.SYNAPSE, nc.NEURON)}
    for n in FAN_INS:
        extra = c["post"][n] - c["schematic"][n]
        c_wire = wire[nc.NEURON] + n * wire[nc.SYNAPSE]
        c_junction = junction[nc.NEURON] + n * junction[nc.SYNAPSE]
        # at least the wiring (the fit's own scatter is well under 1 %: 0.97), at most wiring plus zero-bias junctions
        assert 0.97 * c_wire < extra < c_wire + c_junction, (n, extra, c_wire, c_junction)
