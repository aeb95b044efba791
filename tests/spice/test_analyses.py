"""Typed commands and results (no simulator): the records write exactly the command text the cache keys were made
of, and results are read by what they are."""

from __future__ import annotations

import numpy as np
import pytest

from imcpnn.spice.analyses import Current, Dc, Op, SetParam, Tran, Voltage, command_lines
from imcpnn.spice.cache import job_key
from imcpnn.spice.jobs import JobResult, SimJob
from imcpnn.spice.session import Plot


def test_command_text():
    assert Op().command() == "op"
    assert Dc("vmem", 0.3, 1.4, 0.05).command() == "dc vmem 0.3 1.4 0.05"
    assert Dc("vmem", 0, 1.3, 0.002).command() == "dc vmem 0 1.3 0.002"
    assert Dc("vgn", 0.25, 0.9, 0.005).scale == "v-sweep" and Dc("iin", 0, 1e-6, 1e-8).scale == "i-sweep"
    assert Tran(5e-9, 2e-6, 0.0, 2.5e-8).command() == "tran 5e-09 2e-06 0 2.5e-08"
    assert Tran(1e-9, 1e-4).command() == "tran 1e-09 0.0001"
    assert Tran(1e-9, 1e-4, 1e-5).command() == "tran 1e-09 0.0001 1e-05"
    assert SetParam("vg", 0.3733333333).commands() == ("alterparam vg=0.373333", "reset")
    assert command_lines("op") == ("op",)


def test_job_of_records_is_the_job_of_their_text():
    """Same text, same cache key: a plan written with records hits the results cached from command strings."""
    net = "* t\nr1 a 0 1k\nvmem a 0 1\n.end\n"
    typed = SimJob(net, (SetParam("vg", 0.55), Dc("vmem", 0.3, 1.4, 0.05)), ("v-sweep", Current("VMEM")))
    text = SimJob(net, ("alterparam vg=0.55", "reset", "dc vmem 0.3 1.4 0.05"), ("v-sweep", "vmem#branch"))
    assert typed == text
    assert job_key(typed.netlist, typed.commands, typed.vectors, "39") == \
        job_key(text.netlist, text.commands, text.vectors, "39")
    assert SimJob(net, (Tran(1e-9, 1e-6),), ("time", Voltage("Mem"))).vectors == ("time", "mem")


def test_results_are_read_by_what_they_are():
    cached = {"v-sweep": np.array([0.0, 1.0]), "vmem#branch": np.array([-1e-6, -2e-6]), "mem": np.array([1.3, 1.2]),
              "time": np.array([0.0, 1e-9])}
    r = JobResult("x", [cached], from_cache=True)
    pl = r.plots[0]
    assert isinstance(pl, Plot)
    np.testing.assert_array_equal(pl.current("VMEM"), cached["vmem#branch"])
    np.testing.assert_array_equal(pl.voltage("mem"), cached["mem"])
    np.testing.assert_array_equal(pl.sweep, cached["v-sweep"])
    np.testing.assert_array_equal(pl.time, cached["time"])
    with pytest.raises(KeyError, match="no branch current for 'vdd'"):
        pl.current("vdd")
    with pytest.raises(KeyError, match="i-sweep"):
        Plot("p", {"time": np.zeros(2)}).sweep
