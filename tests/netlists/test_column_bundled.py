"""The large C_eff columns bundle their off synapses into one instance with multiplier m (netlists/testbenches.py
``column_lines``): the plan writes them so, and in ngspice the bundle gives the membrane of the separate copies."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from imcpnn.extract.kicks import KickGates
from imcpnn.extract.plan import FAN_INS, LARGE_FAN_INS, Stimuli, c_eff_tran, plan
from imcpnn.netlists import column_tb, load_design

from netlists_helpers import run_ngspice

pytestmark = pytest.mark.spice
MATCHED = Path(__file__).resolve().parents[2] / "docs" / "examples" / "design-matched.yaml"
_SYNAPSE_LINE = re.compile(r"^XS\d+ mem .* imc_synapse( m=(\d+))?$", re.MULTILINE)


def test_plan_bundles_only_the_large_columns(lib_line):
    points = Stimuli(96e-9, KickGates((0.38, 0.5, 0.6, 0.66), (1.32, 1.2, 1.1, 0.95), 0.53))
    p = plan(load_design(MATCHED), lib_line, points)
    for col in p.columns:
        found = _SYNAPSE_LINE.findall(col.job.netlist)
        if col.n_in in LARGE_FAN_INS:
            assert [m for _, m in found] == [str(col.n_in)], col.n_in
        else:
            assert col.n_in in FAN_INS or col.n_in == 5
            assert len(found) == col.n_in and all(not m for m, _ in found), col.n_in


def test_bundled_column_equals_separate_synapses(lib_line):
    d = load_design(MATCHED).derive(device_form="flat")
    t_inj, tran = c_eff_tran(d)
    runs = []
    for bundled in (False, True):
        tb = column_tb(d, lib_line, 32, i_inj=60e-9, t_inj=t_inj, bundled=bundled)
        a, _ = run_ngspice(tb.text, [tran.command()], ["v(mem)"])
        runs.append(a)
    t = np.linspace(0.0, 2 * d.t_circ, 401)
    sep, bun = (np.interp(t, a[:, 0], a[:, 1]) for a in runs)
    assert np.ptp(sep) > 0.05                       # the membrane does move under the injection
    assert np.max(np.abs(sep - bun)) < 1e-4
