"""What the three CLIs share: -h, --version, one error path (one line; tracebacks go to a log file), and one-line
errors for bad user files (reliability: docs/reliability.md, "Tracebacks, messages and the users' own paths")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from imcpnn.cli.train import main as train_cli
from imcpnn.cli.verify import main as verify_cli

CELL = Path(__file__).resolve().parent / "fixtures" / "cell_paper.json"
TOOLS = ("extract", "train", "verify")


def _cli(tool: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", f"imcpnn.cli.{tool}", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def _one_line_error(p, needle: str, code: int = 2) -> None:
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == code, p.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], p.stderr
    assert "Traceback" not in p.stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "iris"
    res = CliRunner().invoke(train_cli, ["run", "iris-bottomup", "--cell", str(CELL), "--out", str(out),
                                         "--set", "epochs=1", "--set", "threads=1", "--set", "solver=dstd",
                                         "--set", "steps=4", "--no-progress"])
    assert res.exit_code == 0, res.output
    return out


# ----------------------------------------------------------------------------------------------- conventions
@pytest.mark.parametrize("tool", TOOLS)
def test_help_and_version_on_every_tool(tool):
    p = _cli(tool, "-h")
    assert p.returncode == 0 and "Usage:" in p.stdout
    p = _cli(tool, "--version")
    assert p.returncode == 0 and p.stdout.strip() == f"imc-{tool}, version 0.1.0"


def test_unexpected_error_is_one_line_with_a_log(tmp_path, monkeypatch):
    import imcpnn.verify.compare as C

    def boom(*a, **k):
        raise RuntimeError("something nobody foresaw")

    monkeypatch.setattr(C, "compare", boom)
    monkeypatch.setenv("IMC_LOG_DIR", str(tmp_path / "logs"))
    res = CliRunner().invoke(verify_cli, ["compare", "a", "b"])
    lines = res.stderr.strip().splitlines()
    assert res.exit_code == 70 and len(lines) == 1, res.stderr
    assert lines[0].startswith("error: internal error (RuntimeError: something nobody foresaw)")
    logs = list((tmp_path / "logs").glob("imc-verify-*.log"))
    assert len(logs) == 1 and str(logs[0]) in lines[0]
    assert "Traceback" in logs[0].read_text() and "boom" in logs[0].read_text()


def test_train_errors_have_the_same_style(tmp_path):
    res = CliRunner().invoke(train_cli, ["resume", str(tmp_path / "nothing")])
    assert res.exit_code == 2 and res.stderr.startswith("error: ") and "not a run directory" in res.stderr


def test_doctor_names_no_missing_option(monkeypatch):
    from imcpnn.cli.doctor import _dask

    monkeypatch.setitem(sys.modules, "distributed", None)  # as if dask.distributed were not installed
    check = _dask()
    assert not check.ok and "--scheduler" not in check.detail  # no CLI has a --scheduler option


# ----------------------------------------------------------------------------------------------- user files
def test_cell_that_is_a_directory_or_not_utf8(tmp_path):
    p = _cli("verify", "run", "--weights", "w.npz", "--inputs", "x.csv", "--cell", str(tmp_path))
    _one_line_error(p, "is a directory")
    bad = tmp_path / "cell.json"
    bad.write_bytes(b'{"name": "\xff\xfe"}')
    p = _cli("verify", "run", "--weights", "w.npz", "--inputs", "x.csv", "--cell", str(bad))
    _one_line_error(p, "not UTF-8")


def test_config_not_utf8_or_a_directory(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_bytes(b"name: \xff\n")
    res = CliRunner().invoke(train_cli, ["run", str(cfg), "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "not UTF-8" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    res = CliRunner().invoke(train_cli, ["run", str(tmp_path), "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "is a directory" in res.stderr and not (tmp_path / "r").exists()


def test_bad_set_value_names_the_set_not_the_shipped_yaml(tmp_path):
    res = CliRunner().invoke(train_cli, ["run", "iris-bottomup", "--cell", str(CELL), "--out", str(tmp_path / "r"),
                                         "--set", "lr=fast"])
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("error: --set lr=fast:") and ".yaml" not in res.stderr


def test_corrupt_npz_empty_inputs_and_biases(tmp_path):
    (tmp_path / "w.npz").write_bytes(b"PK\x03\x04 not really a zip")
    np.savetxt(tmp_path / "x.csv", np.full((2, 5), 0.5), delimiter=",")
    args = ["run", "--inputs", str(tmp_path / "x.csv"), "--cell", str(CELL), "--weights"]
    _one_line_error(_cli("verify", *args, str(tmp_path / "w.npz")), "not a readable .npz")
    np.savez(tmp_path / "ok.npz", l0=np.zeros((3, 5)))
    (tmp_path / "x.csv").write_text("")
    _one_line_error(_cli("verify", *args, str(tmp_path / "ok.npz")), "is empty")
    np.savetxt(tmp_path / "x.csv", np.full((2, 5), 0.5), delimiter=",")
    torch.save({"fc.weight": torch.zeros(3, 5), "fc.bias": torch.ones(3)}, tmp_path / "w.pt")
    _one_line_error(_cli("verify", *args, str(tmp_path / "w.pt")), "holds biases (fc.bias)")


def test_labels_are_checked_against_inputs_and_outputs(tmp_path):
    np.savez(tmp_path / "w.npz", l0=np.zeros((3, 5)))
    np.savetxt(tmp_path / "x.csv", np.full((2, 5), 0.5), delimiter=",")
    (tmp_path / "y.csv").write_text("0\n3\n")
    p = _cli("verify", "run", "--weights", str(tmp_path / "w.npz"), "--inputs", str(tmp_path / "x.csv"),
             "--labels", str(tmp_path / "y.csv"), "--cell", str(CELL))
    _one_line_error(p, "[0, 2]")
    from imcpnn.cell import load_cell
    from imcpnn.verify.sources import from_files

    (tmp_path / "y.csv").write_text("0\n2\n")
    net = from_files(tmp_path / "w.npz", tmp_path / "x.csv", load_cell(CELL), labels=tmp_path / "y.csv")
    assert net.test_labels.tolist() == [0, 2]


def test_design_file_with_a_string_for_a_number(tmp_path):
    d = tmp_path / "design.json"
    d.write_text(json.dumps({"vdd": "1.8 V"}))
    p = _cli("extract", "run", "--design", str(d), "--out", str(tmp_path / "cell.json"), "-q", "--no-cache")
    _one_line_error(p, "cell-design field 'vdd'")


def test_cache_entry_that_is_a_directory(tmp_path):
    from imcpnn.errors import ConfigError
    from imcpnn.spice.cache import ResultCache

    cache = ResultCache(tmp_path)
    key = "ab" + "0" * 62
    (tmp_path / "ab" / f"{key}.npz").mkdir(parents=True)
    with pytest.raises(ConfigError, match="cannot be read"):
        cache.get(key)


def test_lib_that_fails_to_load_is_a_spice_error(tmp_path):
    code = ("from imcpnn.spice.session import Session\n"
            f"Session('t\\n.lib \"{tmp_path / 'bad.lib'}\" tt\\nr1 a 0 1k\\nv1 a 0 1\\n')\n")
    (tmp_path / "bad.lib").write_text("* no sections here\n")
    p = subprocess.run([sys.executable, "-c", "from imcpnn.cli.common import user_errors\n"
                        "user_errors(lambda: exec(" + repr(code) + "))()"], capture_output=True, text=True,
                       timeout=60)
    _one_line_error(p, "section definition tt not found")


# ----------------------------------------------------------------------------------------------- runs
def test_checkpoint_missing_a_key_or_of_another_shape(trained, tmp_path):
    import shutil

    rd = tmp_path / "copy"
    shutil.copytree(trained, rd)
    ck = torch.load(rd / "checkpoint.pt", weights_only=False)
    model = ck["model"]
    torch.save({**ck, "model": {k: v for k, v in list(model.items())[1:]}}, rd / "checkpoint.pt")
    res = CliRunner().invoke(train_cli, ["eval", str(rd)])
    assert res.exit_code == 2 and "does not match the run's config" in res.stderr, res.output
    k0 = next(iter(model))
    torch.save({**ck, "model": {**model, k0: torch.zeros(2, 2)}}, rd / "checkpoint.pt")
    res = CliRunner().invoke(train_cli, ["eval", str(rd)])
    assert res.exit_code == 2 and "does not match the run's config" in res.stderr, res.output


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file without read permission")
def test_unreadable_checkpoint_is_not_called_damaged(trained, tmp_path):
    import shutil

    rd = tmp_path / "locked"
    shutil.copytree(trained, rd)
    (rd / "checkpoint.pt").chmod(0)
    res = CliRunner().invoke(train_cli, ["eval", str(rd)])
    assert res.exit_code == 2 and "cannot read checkpoint" in res.stderr and "damaged" not in res.stderr


def test_eval_follows_the_configured_device(trained, tmp_path):
    import shutil

    res = CliRunner().invoke(train_cli, ["eval", str(trained)])
    assert res.exit_code == 0 and json.loads(res.stdout)["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    if torch.cuda.is_available():
        return
    rd = tmp_path / "cuda-run"
    shutil.copytree(trained, rd)
    cfg = (rd / "config.yaml").read_text().replace("device: cpu", "device: cuda")
    assert "device: cuda" in cfg
    (rd / "config.yaml").write_text(cfg)
    res = CliRunner().invoke(train_cli, ["eval", str(rd)])  # was: evaluated on the CPU without a word
    assert res.exit_code == 2 and "no CUDA device" in res.stderr


def test_overrides_are_recorded(trained):
    rec = json.loads((trained / "run.json").read_text())
    assert rec["config"] == "iris-bottomup" and rec["overrides"] == ["epochs=1", "threads=1", "solver=dstd", "steps=4"]


def test_run_cell_copy_does_not_block_cell(trained, tmp_path):
    import shutil

    from imcpnn.verify.sources import from_run

    rd = tmp_path / "stale"
    shutil.copytree(trained, rd)
    (rd / "cell.json").write_text("{ stale")
    net, cell = from_run(rd, 2, 2, with_cell=False)
    assert cell is None and len(net.test_inputs) == 2


# ----------------------------------------------------------------------------------------------- compare
def _summary(flow: str, source: str, rmse: float) -> dict:
    return {"schema_version": 1, "flow": flow, "source": source, "n_samples": 10, "rmse_ns": rmse,
            "rmse_ns_fired": rmse, "rmse_ns_per_layer": [rmse], "class_agreement": 1.0,
            "accuracy_model": None, "accuracy_spice": None, "scale": {"pos": 1.0, "neg": 1.0},
            "model": {"e_plus": 1.0, "e_minus": -1.0, "e_dis": "inf"}}


def test_compare_run_dirs_and_malformed_summaries(trained, tmp_path):
    _one_line_error(_cli("verify", "compare", str(trained), str(trained)), "training run without a verification")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "summary.json").write_text(json.dumps({"flow": "x", "rmse_ns": "n/a"}))
    _one_line_error(_cli("verify", "compare", str(bad), str(bad)), "not a verification summary")


def test_compare_three_sides_labelled_from_their_summaries(tmp_path):
    dirs = []
    for flow, src, rmse in (("bottom-up", "run a", 2.0), ("top-down", "run b", 40.0), ("custom", "w.npz", 4.0)):
        d = tmp_path / src.replace(" ", "_")
        d.mkdir()
        (d / "summary.json").write_text(json.dumps(_summary(flow, src, rmse)))
        dirs.append(str(d))
    p = _cli("verify", "compare", *dirs, "--out", str(tmp_path / "cmp"))
    assert p.returncode == 0, p.stderr
    md = (tmp_path / "cmp" / "comparison.md").read_text()
    assert "| | bottom-up (run a) | top-down (run b) | custom (w.npz) |" in md
    assert "top-down (run b) 20.0x" in md and "custom (w.npz) 2.0x" in md


def test_a_closed_pipe_is_not_an_internal_error():
    p = subprocess.Popen([sys.executable, "-m", "imcpnn.cli.train", "configs"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    p.stdout.close()  # like `imc-train configs | head -0`: the reader is gone before the first line
    err = p.stderr.read()
    p.wait(60)
    assert "internal error" not in err and "Traceback" not in err, err


@pytest.mark.parametrize("tool,args,needle", [
    ("train", ["run", "--bogus"], "No such option '--bogus'"),
    ("extract", ["run", "--fan-in", "-1"], "Invalid value for '--fan-in'"),
    ("verify", ["nocmd"], "No such command 'nocmd'"),
])
def test_click_usage_errors_in_the_same_style(tool, args, needle):
    p = _cli(tool, *args)
    _one_line_error(p, needle)
    assert f"-h`)" in p.stderr
