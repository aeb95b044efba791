"""Seeded jobs: a mismatch section's per-instance draws are reproducible, the same for every analysis of a job (an
alterparam + reset changes a knob, not the sample), and part of the cache key."""

from __future__ import annotations

import numpy as np
import pytest

from imcpnn.pdk import lib_line
from imcpnn.spice.analyses import Op, SetParam
from imcpnn.spice.cache import job_key
from imcpnn.spice.jobs import SimJob
from imcpnn.spice.pool import run_jobs

pytestmark = pytest.mark.spice

N = 6


def _pairs(corner: str = "tt_mm") -> str:
    """N identical nfet_01v8 (W 1, L 0.15) at Vgs 0.7 V, Vds 1.8 V, each with its own 0 V source."""
    lines = ["* seeded draws", lib_line(corner), ".param vg=0.7", "Vd d 0 1.8", "Vg g 0 {vg}"]
    for k in range(N):
        lines += [f"Vs{k} s{k} 0 0", f"XM{k} d g s{k} 0 sky130_fd_pr__nfet_01v8 W=1 L=0.15 nf=1"]
    return "\n".join(lines + [".end"]) + "\n"


def _currents(seed: int | None, commands=(Op(),)) -> list[np.ndarray]:
    job = SimJob(_pairs(), tuple(commands), tuple(f"vs{k}#branch" for k in range(N)), label="mm", seed=seed)
    (res,) = run_jobs([job], inline=True, progress=False)
    return [np.array([p[f"vs{k}#branch"][0] for k in range(N)]) for p in res.unwrap()]


def test_same_seed_same_draws_other_seed_others():
    a, b, c = _currents(3)[0], _currents(3)[0], _currents(4)[0]
    np.testing.assert_array_equal(a, b)
    assert np.std(a) > 0.1 * np.mean(a)           # the instances differ from each other (~30 % at this bias)
    assert np.all(np.abs(c / a - 1) > 1e-6)       # another seed: every instance drawn anew


def test_reset_keeps_the_sample_of_a_seeded_job():
    first, low, back = _currents(7, (Op(), SetParam("vg", 0.6), Op(), SetParam("vg", 0.7), Op()))
    np.testing.assert_array_equal(first, back)
    assert np.all(low < first)


def test_seed_is_in_the_cache_key_and_unseeded_keys_are_unchanged():
    net, cmds = _pairs(), ("op",)
    plain = job_key(net, cmds, None, "39")
    assert job_key(net, cmds, None, "39", None) == plain
    assert len({plain, job_key(net, cmds, None, "39", 1), job_key(net, cmds, None, "39", 2)}) == 3
    with pytest.raises(ValueError, match="seed"):
        SimJob(net, cmds, seed=-1)
