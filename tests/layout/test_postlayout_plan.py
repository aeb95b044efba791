"""`imc-extract run --post-layout`: the characterisation netlists carry the extracted synapse and neuron in place of
the schematic ones (every job, in its device form), and the schematic plan is untouched by the hook."""

from __future__ import annotations

import re

import pytest

from imcpnn.errors import ConfigError
from imcpnn.extract.kicks import KickGates
from imcpnn.extract.plan import Stimuli, plan, with_temperature
from imcpnn.netlists import cells as nc
from imcpnn.netlists.design import default_design
from imcpnn.netlists.testbenches import column_tb, synapse_branch_tb


#: the tt / 27 C stimuli (extract/trim.py derives them per condition; these are what it gives at tt)
POINTS = Stimuli(96.2e-9, KickGates((0.38, 0.5, 0.6, 0.66), (1.32, 1.2, 1.1, 0.95), 0.53))

LIB = '.lib "/nonexistent/sky130.lib.spice" tt'


def _device_lines(text: str, subckt: str) -> list[str]:
    block = re.search(rf"(?ms)^\.subckt {subckt}\b.*?^\.ends", text).group(0)
    return [line for line in block.splitlines()[1:-1] if line and not line.startswith("*")]


@pytest.mark.spice  # the plan's large columns are in the flat device form, read from the model library
def test_schematic_plan_keeps_its_netlists():
    """The hook is off by default: the jobs are the testbenches' own text (what the result cache keys on)."""
    from imcpnn.pdk import lib_line

    design, lib = default_design(), lib_line("tt")
    p = plan(design, lib, POINTS)
    by_label = {j.label: j.netlist for j in p.jobs}
    col = column_tb(design, lib, 5, i_inj=p.columns[0].i_inj, t_inj=p.t_inj)
    assert by_label["column:column5"] == with_temperature(col.text, 27.0)
    assert by_label["curves:n0"] == with_temperature(synapse_branch_tb(design, lib, "n").text, 27.0)
    assert all("C_ext" not in t for t in by_label.values())
    assert all(nc.synapse_subckt(design) in t for t in by_label.values() if "flat device form" not in t)


@pytest.mark.pex
@pytest.mark.spice
@pytest.mark.slow  # a cold extraction of the neuron takes about a minute (cached afterwards)
def test_post_layout_plan_substitutes_the_extracted_cells():
    from imcpnn.extract.postlayout import extracted_cells, plan_hook
    from imcpnn.pdk import lib_line

    design, lib = default_design(), lib_line("tt")
    cells = extracted_cells(design)
    assert cells.provenance["per_cell"] and len(cells.provenance["extraction_sha256"]) == 64
    schematic = {j.label: j.netlist for j in plan(design, lib, POINTS).jobs}
    post = {j.label: j.netlist for j in plan(design, lib, POINTS, post_layout=plan_hook(cells, lib)).jobs}
    assert post.keys() == schematic.keys()
    syn = _device_lines(cells.blocks[nc.SYNAPSE], nc.SYNAPSE)
    for label, text in post.items():
        assert text != schematic[label], label
        flat = "flat device form" in text
        got = _device_lines(text, nc.SYNAPSE)
        # the extracted wiring is there in either form; the devices are wrapper instances (subckt form) or, in the
        # flat form the plan uses for its large columns, model-bin instances like the rest of that netlist
        assert [l for l in got if l.startswith("C_")] == [l for l in syn if l.startswith("C_")], label
        assert all(l.startswith("M_") for l in got if not l.startswith("C_")) if flat else got == syn, label
        assert not any(re.match(r"X\S+ .*sky130_fd_pr__", l) for l in got) or not flat
        assert "cap_mim_m3_2" in "\n".join(_device_lines(text, nc.NEURON)) or flat


def test_substitution_refuses_a_netlist_without_the_cells():
    from imcpnn.extract.postlayout import ExtractedCells, substitute_cells

    blocks = {leaf: f".subckt {leaf} a\n.ends\n" for leaf in (nc.SYNAPSE, nc.NEURON)}
    cells = ExtractedCells(blocks, {})
    with pytest.raises(ConfigError, match="defines no imc_synapse"):
        substitute_cells(f"* nothing\n{LIB}\n.end\n", cells, LIB)


def test_pex_mode_without_post_layout_is_refused(tmp_path):
    from click.testing import CliRunner

    from imcpnn.cli.extract import main

    r = CliRunner().invoke(main, ["run", "--pex-mode", "RC", "--out", str(tmp_path / "c.json")])
    assert r.exit_code != 0 and "--pex-mode applies with --post-layout only" in r.output
