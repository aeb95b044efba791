"""The trim's floor on the sensing stage's drive (extract/trim.py DRIVE_FLOOR), in ngspice: at ss, -40 C holding
V_switch left the stage's bias PMOS barely on (2 % of the nominal drive, t_min 0.2 T, spikes 0.3 T late); the floor
gives it half the nominal drive there and leaves a condition where the held V_switch does not starve it alone."""

import numpy as np
import pytest

from imcpnn.extract.plan import JobSet, sense_job
from imcpnn.extract.run import trim_conditions
from imcpnn.extract.trim import DRIVE_FLOOR, NOMINAL, drive_at, drive_job, switch_point
from imcpnn.netlists import default_design
from imcpnn.pdk import lib_line
from imcpnn.spice.cache import ResultCache
from imcpnn.spice.pool import run_jobs

pytestmark = [pytest.mark.spice, pytest.mark.slow]

COLD_SLOW, COLD_FAST = ("ss", -40.0), ("sf", -40.0)


def test_drive_floor_binds_only_where_holding_v_switch_starves_the_sense_stage():
    d = default_design()
    trims = trim_conditions(d, [COLD_SLOW, COLD_FAST], workers=1, cache=ResultCache(), progress=False)
    slow, fast = trims[COLD_SLOW], trims[COLD_FAST]
    jobs = [drive_job(d, lib_line(NOMINAL[0]), NOMINAL[1]), drive_job(d, lib_line("ss"), -40.0),
            sense_job(slow.apply(d), lib_line("ss"), JobSet(-40.0)),
            sense_job(fast.apply(d), lib_line("sf"), JobSet(-40.0))]
    results = run_jobs(jobs, workers=1, cache=ResultCache(), progress=False)
    nominal, cold, sense_slow, sense_fast = (r.plots[0] for r in results)
    nominal_drive = drive_at(nominal, d.v_b_sense)
    # the trimmed stage drives at least the floor, where the V_switch-holding bias gave a few per cent of it
    assert drive_at(cold, slow.v_b_sense) >= 0.99 * DRIVE_FLOOR * nominal_drive
    assert slow.floor is not None and slow.floor.held_drive < 0.1
    # the trim's V_switch is the stage's own at its bias: above the held one (v_th and i_unit follow)
    assert switch_point(d, sense_slow) == pytest.approx(slow.v_switch, abs=1e-6)
    assert slow.v_switch > slow.floor.held_v_switch + 0.05
    # sf, -40 C: enough drive at the held V_switch, so its trim holds it as before
    assert fast.floor is None and switch_point(d, sense_fast) == pytest.approx(fast.v_switch, abs=2e-3)
    assert np.isclose(fast.v_switch, slow.floor.held_v_switch)
