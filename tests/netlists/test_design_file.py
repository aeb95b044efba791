"""The design file: documented field by field (docs/design-file.md), the shipped example loads, bad types are one
line naming the field."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest

from imcpnn.errors import ConfigError
from imcpnn.netlists import default_design, load_design
from imcpnn.netlists.design import CellDesign

ROOT = Path(__file__).resolve().parents[2]


def test_every_field_is_documented():
    doc = (ROOT / "docs" / "design-file.md").read_text()
    missing = [f.name for f in fields(CellDesign) if f"`{f.name}`" not in doc]
    assert not missing, missing


def test_the_example_loads_and_changes_what_it_says():
    d = load_design(ROOT / "docs" / "examples" / "design-wide-mim.yaml")
    base = default_design()
    assert d.name == "sky130-rcspike-widemim" and (d.c_m.w, d.c_m.l) == (9.0, 9.0)
    assert d.dis_bias.w == 1.5 and d.v_b_dis == 0.55 and d.syn_n_mem == base.syn_n_mem


@pytest.mark.parametrize("content,needle", [
    ({"syn_n_mem": {"flavour": "nfet_01v8", "w": "wide", "l": 0.25}}, "cell-design field 'syn_n_mem.w'"),
    ({"c_m": {"flavour": "cap_mim_m3_2", "w": 7, "l": 7, "colour": "red"}}, "cell-design field 'c_m.colour'"),
    ({"t_circ": [1e-6]}, "cell-design field 't_circ'"),
    ({"vdd_typo": 1.8}, "unknown cell-design fields ['vdd_typo']"),
])
def test_bad_fields_are_one_config_error(tmp_path, content, needle):
    p = tmp_path / "d.json"
    p.write_text(json.dumps(content))
    with pytest.raises(ConfigError) as e:
        load_design(p)
    assert needle in str(e.value) and "\n" not in str(e.value)
