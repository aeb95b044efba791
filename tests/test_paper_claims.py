"""The paper-claims table (scripts/paper_claims.py) and its result files (imcpnn/results.py)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
from pathlib import Path

import pytest

from imcpnn.errors import ConfigError
from imcpnn.results import read_results, write_result

ROOT = Path(__file__).resolve().parents[1]
CELL = ROOT / "tests" / "fixtures" / "cell_paper.json"


def _load(rel: str):
    path = ROOT / rel
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _script():
    return _load("scripts/paper_claims.py")


def _paper_claim_numbers() -> list[str]:
    text = (ROOT / "docs" / "paper.md").read_text()
    section = text.split("## 7.1", 1)[1].split("## 7.2", 1)[0]
    return re.findall(r"^\| (\d+) \|", section, flags=re.M)


def _rows(md: str) -> dict[str, list[str]]:
    rows = {}
    for line in md.splitlines():
        if line.startswith("| ") and not line.startswith("| # "):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            rows.setdefault(cells[0], cells)
    return rows


def _result(folder: Path, claim: str, **kw) -> Path:
    args = {"figure": "1.0 ns", "status": "partial", "why": "a reason", "command": "make it",
            "conditions": {"seeds": 1}, **kw}
    return write_result(folder, claim, **args)


def test_every_paper_claim_has_a_row(tmp_path):
    numbers = _paper_claim_numbers()
    assert numbers == [str(i) for i in range(1, 9)]
    _result(tmp_path, "3", figure="90.1 %", status="differs", why="fewer epochs")
    md = _script().render(read_results(tmp_path))
    rows = _rows(md)
    assert set(numbers) <= set(rows)
    assert rows["3"][3] == "90.1 %" and rows["3"][5].startswith("**differs**: fewer epochs")
    assert rows["1"][3] == "-" and rows["1"][5] == "not yet measured"
    assert rows["4"][5].startswith("not possible here:")
    for sub in ("Table 3", "Fig. 4d", "App. D", "6", "2 (TTFS)", "8 (ladder)"):
        assert sub in rows, sub
    assert "`imc-verify ladder " in rows["8 (ladder)"][4]


def test_main_writes_the_table_and_extra_rows(tmp_path):
    res = tmp_path / "results"
    _result(res, "new-claim", figure="42", paper_claim="a new claim", paper_figure="41")
    out = tmp_path / "pc.md"
    assert _script().main(["--results", str(res), "--out", str(out)]) == 0
    rows = _rows(out.read_text())
    assert rows["new-claim"][1:4] == ["a new claim", "41", "42"]


def test_bad_result_files_are_one_line_errors(tmp_path, capsys):
    (tmp_path / "3.json").write_text(json.dumps({"schema": 1, "claim": "3", "figure": "x", "status": "great",
                                                 "command": "c", "date": "d", "conditions": {}}))
    out = tmp_path / "pc.md"
    assert _script().main(["--results", str(tmp_path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "status 'great'" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    (tmp_path / "3.json").write_text("{")
    with pytest.raises(ConfigError, match="not readable JSON"):
        read_results(tmp_path)


def test_write_result_checks_and_names(tmp_path):
    with pytest.raises(ConfigError, match="needs a 'why'"):
        _result(tmp_path, "3", why="")
    with pytest.raises(ConfigError, match="claim id"):
        _result(tmp_path, "../x")
    p = _result(tmp_path, "3")
    p.rename(tmp_path / "4.json")
    with pytest.raises(ConfigError, match="name it 3.json"):
        read_results(tmp_path)


def test_from_cell_compares_with_table_2(tmp_path):
    mod = _script()
    mod.from_cell(CELL, tmp_path)  # the fixture holds Table 2's values
    res = read_results(tmp_path)["7"]
    assert res["status"] == "reproduced" and "E+ 2.80" in res["figure"]
    assert res["data"]["relative_difference"]["e_rev_plus"] == pytest.approx(0, abs=1e-9)


def test_from_comparison(tmp_path):
    comp = tmp_path / "comparison.json"
    sides = [{"label": "bottom-up (run a)", "dir": "a", "rmse_ns": 1.0, "rmse_ns_fired": 2.0},
             {"label": "top-down (run b)", "dir": "b", "rmse_ns": 5.0, "rmse_ns_fired": 8.0}]
    comp.write_text(json.dumps({"sides": sides}))
    mod = _script()
    mod.from_comparison(comp, tmp_path / "r")
    res = read_results(tmp_path / "r")["8"]
    assert res["status"] == "partial" and "(4.0x)" in res["figure"]
    comp.write_text(json.dumps({"sides": sides[:1]}))
    assert mod.main(["from-comparison", str(comp), "--results", str(tmp_path / "r"),
                     "--out", str(tmp_path / "pc.md")]) == 2


def test_from_ladder(tmp_path):
    def level(name, fired, alls):
        return {"level": name, "as_verified": {"layers": [{"rmse_ns": 9.0, "rmse_ns_fired": 9.0},
                                                          {"rmse_ns": alls, "rmse_ns_fired": fired}]}}

    lad = tmp_path / "ladder.json"
    lad.write_text(json.dumps({"n_samples": 3, "calibrated": False,
                               "levels": [level("paper", 20.0, 15.0), level("+threshold", 7.0, 5.0),
                                          level("+fan-in", 1.5, 1.0)]}))
    mod = _script()
    mod.from_ladder(lad, tmp_path / "r")
    res = read_results(tmp_path / "r")["8-ladder"]
    assert "paper 20.00; +threshold 7.00; +fan-in 1.50" in res["figure"] and "15.00 -> 1.00" in res["figure"]
    assert res["status"] == "differs" and "15.00 ns" in res["why"]
    lad.write_text(json.dumps({"levels": []}))
    assert mod.main(["from-ladder", str(lad), "--results", str(tmp_path / "r"), "--out", str(tmp_path / "pc.md")]) == 2


def test_committed_table_is_current():
    md = _script().render(read_results(ROOT / "docs" / "results"))
    assert (ROOT / "docs" / "paper-claims.md").read_text() == md, "run python scripts/paper_claims.py"


def test_dstd_error_claim_reads_the_slopes(tmp_path):
    mod = _load("benchmarks/dstd_error.py")
    ideal = [[m ** -2 / e for e in mod.E_VALUES] for m in mod.M_VALUES]
    mod.write_claim(str(tmp_path), ideal)
    res = read_results(tmp_path)["1"]
    assert res["status"] == "reproduced" and res["data"]["slope_M"] == pytest.approx(-2)
    shallow = [[m ** -2 / e ** 0.5 for e in mod.E_VALUES] for m in mod.M_VALUES]
    mod.write_claim(str(tmp_path), shallow)
    res = read_results(tmp_path)["1"]
    assert res["status"] == "partial" and "shallower than |E|^-1" in res["why"]


def test_dstd_vs_exact_claim_uses_the_largest_layer(tmp_path):
    mod = _load("benchmarks/dstd_vs_exact.py")
    a = mod._args(["--n-in", "100", "1000", "--result", str(tmp_path), "--device", "cpu"])
    side = {"mem_method": "VmHWM"}
    rows = [{"model": "rcspike", "steps": 10, "n_in": 100, "speedup": 17.0, "mem_ratio": 16.0, "exact": side},
            {"model": "rcspike", "steps": 10, "n_in": 1000, "speedup": 85.0, "mem_ratio": 133.0, "exact": side}]
    mod.write_claim(a, rows, (1.0, 2.0))
    res = read_results(tmp_path)["2"]
    assert res["status"] == "reproduced" and res["figure"].startswith("85x faster, 133x less memory at n_in 1000")
    assert "--n-in 100 1000" in res["command"] and "M 10," in res["figure"]
    assert "2-ttfs" not in read_results(tmp_path)


def test_dstd_vs_exact_writes_each_measured_model(tmp_path):
    """--model both: claim 2 from the RC-Spike rows only, 2-ttfs from the TTFS rows; --model ttfs leaves 2 alone."""
    mod = _load("benchmarks/dstd_vs_exact.py")
    a = mod._args(["--model", "both", "--result", str(tmp_path), "--device", "cpu"])
    side = {"mem_method": "VmHWM"}
    rc = [{"model": "rcspike", "steps": 10, "n_in": n, "speedup": s, "mem_ratio": m, "exact": side}
          for n, s, m in ((100, 3.0, 4.0), (1000, 5.0, 50.0))]
    tt = [{"model": "ttfs", "steps": 20, "n_in": n, "speedup": s, "mem_ratio": m, "exact": side}
          for n, s, m in ((100, 30.0, 9.0), (300, 40.0, 12.0))]
    mod.write_claim(a, rc + tt, (1.0, 2.0))
    res = read_results(tmp_path)
    assert res["2"]["status"] == "partial" and res["2"]["figure"].startswith("5x faster, 50x less memory at n_in 1000")
    assert res["2-ttfs"]["status"] == "reproduced" and "40x faster, 12x less memory at n_in 300" in \
        res["2-ttfs"]["figure"] and "M 20, window [0, 2]" in res["2-ttfs"]["figure"]
    assert [r["model"] for r in res["2-ttfs"]["data"]["rows"]] == ["ttfs", "ttfs"]
    assert "--model ttfs --n-in 100 300" in res["2-ttfs"]["command"]
    tt[1]["mem_ratio"] = 0.8
    (tmp_path / "2.json").unlink()
    mod.write_claim(a, tt, (1.0, 2.0))
    res = read_results(tmp_path)
    assert res["2-ttfs"]["status"] == "differs" and "2" not in res


def _ann_table(ann: list[float], trained: list[float]) -> list[dict]:
    return [{"e_rev": e, "ann": x, "scaled_ann": x + 0.05, "alpha_plus": 1.0, "alpha_minus": 1.0,
             "trained_mean": t, "trained_seeds": [t]} for e, x, t in zip((1.0, 2.0, 4.0, 10.0, float("inf")), ann,
                                                                       trained)]


def test_ann_baseline_claim_statuses(tmp_path):
    mod = _load("benchmarks/ann_baseline.py")
    a = argparse.Namespace(config="digits-mlp", ann_e=100.0, e="1,2,4,10,inf", epochs=5, seeds=1, search_samples=360,
                           alpha_step=0.1, alpha_max=3.0, out="runs/x", result=str(tmp_path))
    held = [0.96, 0.97, 0.97, 0.97, 0.97]
    mod.write_claim(a, "rcspike", 0.97, _ann_table([0.10, 0.50, 0.90, 0.96, 0.97], held), 1.0)
    res = read_results(tmp_path)["6"]
    assert res["status"] == "reproduced" and res["figure"].startswith("ANN 97.0 % at |E| 100 -> 10.0 % at |E| 1")
    assert res["data"]["table"][-1]["e_rev"] == "inf" and "--result " + str(tmp_path) in res["command"]
    mod.write_claim(a, "rcspike", 0.97, _ann_table([0.10, 0.50, 0.90, 0.96, 0.97], [0.80] + held[1:]), 1.0)
    assert read_results(tmp_path)["6"]["status"] == "partial"
    # TTFS is judged below |E| 10: a drop at |E| 10 itself does not count, one at |E| 4 does
    mod.write_claim(a, "ttfs", 0.97, _ann_table([0.95, 0.96, 0.96, 0.50, 0.97], held), 1.0)
    assert read_results(tmp_path)["6-ttfs"]["status"] == "differs"
    mod.write_claim(a, "ttfs", 0.97, _ann_table([0.95, 0.96, 0.60, 0.96, 0.97], held), 1.0)
    res = read_results(tmp_path)["6-ttfs"]
    assert res["status"] == "reproduced" and "60.0 % at |E| 4" in res["figure"]


def test_digits_offset_claim_from_a_sweep_csv(tmp_path):
    mod = _load("benchmarks/digits_offset.py")
    rows = ["steps,offset,mean,std,min,max,count", "3,fixed,0.90,0,0,0,2", "3,random,0.975,0,0,0,2",
            "15,fixed,0.97,0,0,0,2", "15,random,0.978,0,0,0,2"]
    (tmp_path / "sweep.csv").write_text("\n".join(rows) + "\n")
    assert mod.main([str(tmp_path), "--results", str(tmp_path / "r")]) == 0
    res = read_results(tmp_path / "r")["3-offset"]
    assert res["status"] == "partial" and "fixed offset M 3 90.0 %" in res["figure"]
    (tmp_path / "sweep.csv").write_text("\n".join(rows[:3]) + "\n")
    assert mod.main([str(tmp_path), "--results", str(tmp_path / "r")]) == 2


def test_digits_claims_statuses_follow_the_numbers(tmp_path):
    pd = pytest.importorskip("pandas")
    mod = _load("benchmarks/digits_claims.py")
    rows = []
    for s in (0.0, 0.04):
        for e, early in ((1.0, 0.001), (100.0, 0.05)):
            for st in (0.0, 0.04):
                acc = 0.98 - (0.03 if e == 1.0 else 0) - (0.02 if st > s else 0)
                rows.append({"sigma": s, "e_rev": e, "seed": 0, "sigma_test": st, "accuracy": acc,
                             "early_fraction": early, "mean_time": 0.9, "q01_time": 0.5, "histogram": [1, 2]})
    mod.write_results(pd.DataFrame(rows), tmp_path, tmp_path / "r")
    res = read_results(tmp_path / "r")
    assert res["table3"]["status"] == "differs" and "costs at most 3.0 points" in res["table3"]["figure"]
    assert res["early-spikes"]["status"] == "partial" and "5.00 % at |E| 100" in res["early-spikes"]["figure"]
    assert "tested at σ 0.04: 94.5 % trained without noise, 96.5 % trained at σ 0.04" in res["noise"]["figure"]
