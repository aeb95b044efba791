"""Cells per condition for `imc-verify grid --cells`: found by name (or `cell_<corner>.json` at the right
temperature), never a wrong one; and the weights a programmed chip applies at a condition, through its cell's tables."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from imcpnn.cell import load_cell
from imcpnn.errors import ConfigError
from imcpnn.verify.condition_model import effective_weights
from imcpnn.verify.conditions import Condition, condition_cell
from imcpnn.verify.mapping import Scales

CELL = Path(__file__).resolve().parents[1] / "fixtures" / "cell_paper.json"  # tt, 27 C
W = [np.array([[0.5, -0.7, 1.1], [-0.2, 0.9, -1.3]]), np.array([[0.8, -0.6]])]


def test_a_condition_finds_its_own_cell_and_no_other(tmp_path):
    pat = "cell_{corner}_{temp}C.json"  # imc-extract run's names with several temperatures
    assert condition_cell(tmp_path, Condition("tt", 27.0), pat) is None
    shutil.copy(CELL, tmp_path / "cell_tt.json")  # its name at one temperature: used when that is the condition's
    assert condition_cell(tmp_path, Condition("tt", 27.0), pat)[1].name == "cell_tt.json"
    assert condition_cell(tmp_path, Condition("tt", 85.0), pat) is None
    shutil.copy(CELL, tmp_path / "cell_tt_27C.json")
    assert condition_cell(tmp_path, Condition("tt", 27.0), pat)[1].name == "cell_tt_27C.json"
    shutil.copy(CELL, tmp_path / "cell_ss_-40C.json")  # named for ss / -40 C but extracted at tt / 27 C
    with pytest.raises(ConfigError, match="extracted at tt / 27 C, not at ss / -40 C"):
        condition_cell(tmp_path, Condition("ss", -40.0), pat)
    assert condition_cell(tmp_path, Condition("ss", -40.0), "c_{corner}{temp}.json") is None


def test_effective_weights_follow_the_condition_tables(tmp_path):
    cell = load_cell(CELL)
    s = Scales(1.1, 0.9)
    for got, w in zip(effective_weights(W, cell, cell, s, clip=False), W):
        assert np.allclose(got, w, rtol=1e-6)  # at its own condition the chip applies the trained weights
    # a condition where every branch drives twice the current at the same gate voltage
    d = json.loads(CELL.read_text())
    for br in d["bias_tables"].values():
        br["i_v0"] = [2 * i for i in br["i_v0"]]
    (tmp_path / "hot.json").write_text(json.dumps(d))
    hot = load_cell(tmp_path / "hot.json")
    for got, w in zip(effective_weights(W, cell, hot, s, clip=False), W):
        assert np.allclose(got, 2 * w, rtol=1e-6)


def test_a_condition_cell_sets_the_trimmed_neuron_biases_and_nothing_else():
    from imcpnn.cell import CellParams, design_sha256
    from imcpnn.netlists import CellDesign
    from imcpnn.verify.grid import design_at

    base = CellDesign().derive(device_form="flat", reltol=1e-5)
    cell = load_cell(CELL)
    d = dict(cell.design, v_b_dis=0.4557, v_b_sense=1.4204)  # what imc-extract's trim gave at sf / 85 C
    trimmed = CellParams.model_validate(dict(cell.model_dump(by_alias=True), design=d, design_sha256=design_sha256(d)))
    got = design_at(base, trimmed)
    assert (got.v_b_dis, got.v_b_sense) == (0.4557, 1.4204)
    assert got.derive(v_b_dis=base.v_b_dis, v_b_sense=base.v_b_sense) == base  # device form, options kept
    assert design_at(base, None) is base
