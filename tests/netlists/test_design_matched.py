"""The matched example design (docs/examples/design-matched.yaml): it loads and validates, and it scales exactly the
devices it says (NMOS memory and discharger bias: same W/L, 16x the gate area; PMOS memory: twice the W/L, 32x the
area) while every other field keeps the built-in value."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from imcpnn.netlists import default_design, load_design

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
        if f.name not in (*SCALED, "name"):
            assert getattr(d, f.name) == getattr(base, f.name), f.name
