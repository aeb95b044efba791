"""The grid report: each condition's accuracy loss against the condition the chip was programmed at, the Monte-Carlo
group's p50 / p95 loss, and the worst case, in grid.json and grid.md."""

from __future__ import annotations

import json

from imcpnn.verify.conditions import Condition
from imcpnn.verify.grid_report import condition_row, write_grid_report


def _summary(acc: float) -> dict:
    out = {"both_fired": 40, "both_silent": 100, "only_circuit_fired": 5, "only_model_fired": 5}
    return {"accuracy_spice": acc, "class_agreement": acc, "rmse_ns": 1.0, "rmse_ns_fired": 2.0,
            "accuracy_model": 1.0, "n_samples": 50, "scale": {"pos": 1.0, "neg": 1.0}, "errors_per_layer": [out]}


def test_losses_against_the_programming_condition_and_the_worst_case(tmp_path):
    accs = {Condition("ss", 85): 0.9, Condition("tt", 27): 0.98, Condition("ff", -40): 0.96}
    accs.update({Condition("tt", 27, seed=s): a for s, a in zip(range(1, 6), (0.5, 0.7, 0.98, 0.6, 0.4))})
    rows = [condition_row(c, _summary(a)) for c, a in accs.items()]
    meta = {"source": "run x", "n_samples": 50, "programming": "p", "seconds_this_call": 1.0,
            "simulated_this_call": 8, "settings": {"program_at": Condition("tt", 27).to_dict()}}
    md = write_grid_report(tmp_path, rows, meta).read_text()
    grid = json.loads((tmp_path / "grid.json").read_text())
    loss = {r["name"]: r["accuracy_loss_points"] for r in grid["conditions"]}
    assert abs(loss["ss_85C"] - 8.0) < 1e-9 and loss["tt_27C"] == 0.0 and abs(loss["ff_-40C"] - 2.0) < 1e-9
    assert abs(loss["tt_mm_27C_seed5"] - 58.0) < 1e-9 and grid["worst_case"] == "tt_mm_27C_seed5"
    (mc,) = grid["monte_carlo"]
    assert abs(mc["accuracy_loss_points_p50"] - 38.0) < 1e-9  # losses 48, 28, 0, 38, 58
    assert abs(mc["accuracy_loss_points_p95"] - 56.0) < 1e-9  # numpy's linear percentile between 48 and 58
    assert "| ss_85C | 90.0% | +8.0 |" in md and "+38.0 / +56.0" in md
    assert "Worst case: tt_mm_27C_seed5, accuracy 40.0% (+58.0 points against tt_27C)." in md


def test_no_loss_without_the_programming_condition(tmp_path):
    rows = [condition_row(Condition("ss", 85), _summary(0.9))]
    meta = {"source": "run x", "n_samples": 50, "programming": "p", "seconds_this_call": 1.0,
            "simulated_this_call": 1, "settings": {"program_at": Condition("tt", 27).to_dict()}}
    md = write_grid_report(tmp_path, rows, meta).read_text()
    assert json.loads((tmp_path / "grid.json").read_text())["worst_case"] is None
    assert "| ss_85C | 90.0% | - |" in md and "Worst case" not in md
