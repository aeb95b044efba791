"""The job plan (no simulation): temperature, fan-in, one library load per job, distinct netlists per temperature."""

import pytest

from imcpnn.extract.firing import injection_currents
from imcpnn.extract.kicks import KickGates
from imcpnn.extract.plan import FAN_INS, Stimuli, plan, with_temperature
from imcpnn.spice.analyses import fmt


def test_with_temperature_replaces_or_adds():
    assert ".temp 85" in with_temperature("* t\n.lib x tt\n.temp 27\nR1 a 0 1\n.end\n", 85)
    assert ".temp 27" not in with_temperature("* t\n.lib x tt\n.temp 27\n.end\n", 85)
    out = with_temperature("* t\n.lib x tt\nR1 a 0 1\n.end\n", -40)
    assert out.splitlines()[2] == ".temp -40"


@pytest.mark.spice
def test_plan_temperature_and_fan_in():
    from imcpnn.netlists import default_design
    from imcpnn.pdk import lib_line

    d = default_design()
    points = Stimuli(96e-9, KickGates((0.38, 0.5, 0.6, 0.66), (1.32, 1.2, 1.1, 0.95), 0.53))
    p27 = plan(d, lib_line("tt"), points, temp=27, fan_in=7)
    p85 = plan(d, lib_line("tt"), points, temp=85, fan_in=7)
    assert 7 in p27.fan_ins and set(FAN_INS) <= set(p27.fan_ins)
    # the stimuli are the condition's: column current and firing charges from its i_unit, kick gates as given
    assert p27.i_inj == points.column_current == pytest.approx(0.629 * 96e-9, rel=1e-2)
    assert [c for c in p27.fire.commands if c.startswith("alterparam")] == [
        f"alterparam iinj={fmt(i)}" for i in injection_currents(96e-9)]
    assert [g for _, g in p27.kicks.tests] == [0.38, 0.5, 0.6, 0.66, 1.32, 1.2, 1.1, 0.95]
    assert all(".temp 85" in j.netlist for j in p85.jobs)
    assert set(p27.netlists) == set(p85.netlists)
    assert all(p27.netlists[k] != p85.netlists[k] for k in p27.netlists)
    # 16 biases per branch, each its own dc sweep inside two jobs
    n_sweeps = sum(sum(c.startswith("dc vmem") for c in curves.job.commands) for b in p27.branches if b.name == "p"
                   for curves in b.curves)
    assert n_sweeps >= 15
