"""`imc-extract run --post-layout`: the trim stage (its DC probes, the sensing trim, the firing transients) sees the
extracted cells like the plan does, and trims them to the schematic cell's behaviour at the nominal condition.

An extraction here is synthetic but simulated for real: the schematic leaves with 30 fF more on the neuron's
membrane (what the extracted wiring adds, docs/layout.md), so no KLayout is needed."""

from __future__ import annotations

import re

import pytest

from imcpnn.extract.plan import JobSet, firing_job
from imcpnn.extract.postlayout import ExtractedCells, plan_hook
from imcpnn.extract.trim import NOMINAL, log_current_at, i_unit_of, probe, sense_trim_job
from imcpnn.netlists import cells as nc
from imcpnn.netlists.design import default_design

LIB = '.lib "/nonexistent/sky130.lib.spice" tt'
EXTRA_F = 30e-15


def _cells(design) -> ExtractedCells:
    neuron = re.search(rf"(?ms)^\.subckt {nc.NEURON}\b.*?^\.ends {nc.NEURON}", nc.neuron_subckt(design)).group(0)
    neuron = neuron.replace(f".ends {nc.NEURON}", f"C_extra mem 0 {EXTRA_F:g}\n.ends {nc.NEURON}")
    return ExtractedCells({nc.SYNAPSE: nc.synapse_subckt(design), nc.NEURON: neuron}, {"mode": "test"})


def test_trim_stage_jobs_carry_the_extracted_cells():
    design = default_design()
    hook = plan_hook(_cells(design), LIB)
    post = [*probe(design, LIB, 27.0, 5, hook).jobs, sense_trim_job(design, LIB, 27.0, 0.45, hook),
            firing_job(design, LIB, 5, 96e-9, JobSet(27.0, hook))]
    schematic = [*probe(design, LIB, 27.0, 5).jobs, sense_trim_job(design, LIB, 27.0, 0.45),
                 firing_job(design, LIB, 5, 96e-9, JobSet(27.0))]
    assert all("C_extra mem 0" in j.netlist for j in post)
    assert not any("C_extra" in j.netlist for j in schematic)


@pytest.mark.spice
@pytest.mark.slow  # ten small DC and transient jobs
def test_post_layout_trim_holds_the_design_ramp_on_the_larger_membrane():
    from imcpnn.extract.run import _measure, _Runner, _Stage, _trims
    from imcpnn.spice.cache import ResultCache

    design = default_design()
    st = _Stage(design, 5, _cells(design))
    run = _Runner(1, ResultCache(), False, 600.0)
    measured, ref = _measure(st, [NOMINAL], run)
    post = measured[NOMINAL]
    # the probes measured the larger membrane, the reference is the schematic cell's
    assert post.c_m - ref.c_m == pytest.approx(EXTRA_F, rel=0.05)
    trim = _trims(st, [NOMINAL], measured, ref, run)[NOMINAL]
    # the same V_switch (DC: the sensing stage's devices are the same) and the design's ramp per phase: the
    # discharger carries alpha_dis of the larger i_unit, so v_b_dis rises
    assert trim.v_switch == pytest.approx(ref.v_switch)
    assert abs(trim.v_b_sense - design.v_b_sense) <= 2e-3
    assert trim.v_b_dis > design.v_b_dis + 1e-3
    i_dis = log_current_at(*post.dis, trim.v_b_dis)
    assert i_dis / i_unit_of(design, post, trim.v_switch) == pytest.approx(trim.alpha_dis, rel=0.01)
