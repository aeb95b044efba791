"""The matched example design (docs/examples/design-matched.yaml): it loads and validates, and it scales exactly the
devices it says (same W/L, 16x the gate area) while every other field keeps the built-in value."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from imcpnn.netlists import default_design, load_design

ROOT = Path(__file__).resolve().parents[2]
SCALED = ("syn_n_mem", "syn_p_mem", "dis_bias")


def test_matched_design_scales_area_at_the_same_aspect_ratio():
    d = load_design(ROOT / "docs" / "examples" / "design-matched.yaml")
    base = default_design()
    assert d.name == "sky130-rcspike-matched"
    for name in SCALED:
        new, old = getattr(d, name), getattr(base, name)
        assert new.flavour == old.flavour
        assert abs(new.w / new.l - old.w / old.l) < 1e-12, name
        assert abs(new.w * new.l / (old.w * old.l) - 16.0) < 1e-9, name
    for f in fields(base):
        if f.name not in SCALED + ("name",):
            assert getattr(d, f.name) == getattr(base, f.name), f.name
