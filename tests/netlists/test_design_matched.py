"""The matched example design (docs/examples/design-matched.yaml): it loads and validates, and it scales exactly the
devices it says (NMOS memory and discharger bias: same W/L, 16x the gate area; PMOS memory: twice the W/L, 32x the
area) and re-biases the discharger to the built-in firing ramp, while every other field keeps the built-in
value."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from imcpnn.netlists import default_design, discharger_tb, load_design

from netlists_helpers import run_ngspice
from test_cell_spice import measure_c_eff

ROOT = Path(__file__).resolve().parents[2]
#: device -> (W/L, W L) as multiples of the built-in device's
SCALED = {"syn_n_mem": (1.0, 16.0), "syn_p_mem": (2.0, 32.0), "dis_bias": (1.0, 16.0)}


def test_matched_design_scales_only_the_mismatch_critical_devices():
    d = load_design(ROOT / "docs" / "examples" / "design-matched.yaml")
    base = default_design()
    assert d.name == "sky130-rcspike-matched"
    for name, (ratio, area) in SCALED.items():
        new, old = getattr(d, name), getattr(base, name)
        assert new.flavour == old.flavour
        assert abs((new.w / new.l) / (old.w / old.l) - ratio) < 1e-9, name
        assert abs(new.w * new.l / (old.w * old.l) - area) < 1e-9, name
    for f in fields(base):
        if f.name not in (*SCALED, "name", "v_b_dis"):
            assert getattr(d, f.name) == getattr(base, f.name), f.name


def _ramp_rate(design, lib_line) -> float:
    """The discharge current at V0 over C_eff at the design fan-in (A/F): the firing ramp's rate."""
    tb = discharger_tb(design, lib_line)
    a, _ = run_ngspice(tb.text, [tb.analysis.command()], ["i(vmem)"])
    return float(tb.sign * np.interp(design.v0, a[:, 0], a[:, 1])) / measure_c_eff(design, lib_line, 5)


@pytest.mark.spice
def test_matched_discharger_keeps_the_built_in_firing_ramp(lib_line):
    """Which potentials fire within the firing phase follows the ramp; at the built-in bias the long-channel
    discharger gave twice the current and neurons without input fired."""
    matched = _ramp_rate(load_design(ROOT / "docs" / "examples" / "design-matched.yaml"), lib_line)
    assert matched == pytest.approx(_ramp_rate(default_design(), lib_line), rel=0.02)
