"""Bad arguments: one line, non-zero exit, existing cell.json untouched (subprocesses: the CLI leaves via os._exit)."""

import subprocess
import sys

import pytest
from pathlib import Path


def _run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "imcpnn.cli.extract", "run", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("args,needle", [
    (["--corner", "zz"], "unknown corner"),
    (["--design", "no-such-design"], "neither a built-in name"),
    (["--temp", "500"], "--temp"),
    (["--temp", "-40,warm"], "comma-separated list"),
    (["--temp", "-40,27,500"], "--temp 500 C outside"),
])
def test_bad_args_one_line(tmp_path, args, needle):
    out = tmp_path / "cell.json"
    out.write_text('{"previous": true}\n')
    r = _run(*args, "--out", str(out), "--no-cache", "-q", cwd=tmp_path)
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], r.stderr
    assert out.read_text() == '{"previous": true}\n'


def test_a_grid_names_each_condition_and_keeps_existing_cells(tmp_path):
    """--corner a,b --temp x,y writes cell_<corner>_<temp>C.json; an existing one stops the run before simulating."""
    taken = tmp_path / "cell_ff_-40C.json"
    taken.write_text('{"previous": true}\n')
    r = _run("--corner", "ss,ff", "--temp", "-40,85", "--out", str(tmp_path / "cell.json"), "-q", cwd=tmp_path)
    assert r.returncode != 0 and "cell_ff_-40C.json already exists" in r.stderr, r.stderr
    assert taken.read_text() == '{"previous": true}\n'


def test_bad_option_value(tmp_path):
    r = _run("--fan-in", "-1", cwd=tmp_path)
    assert r.returncode != 0 and "fan-in" in r.stderr


def test_save_is_atomic(tmp_path, monkeypatch):
    import os

    from imcpnn.cell import load_cell

    good = load_cell(Path(__file__).parents[1] / "fixtures" / "cell_paper.json")
    out = tmp_path / "cell.json"
    good.save(out)
    before = out.read_text()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        good.model_copy(update={"lambda_n": 0.5}).save(out)
    assert out.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["cell.json"]


def test_timeout_reaches_the_jobs(tmp_path):
    """--timeout is the pool's per-job limit: at 1 s a cold extraction's first transient is stopped, with the limit
    named, and no cell is written."""
    out = tmp_path / "cell.json"
    r = _run("--timeout", "1", "--out", str(out), "--no-cache", "-q", "-j", "1", cwd=tmp_path)
    assert r.returncode != 0 and "1 s timeout" in r.stderr, r.stderr[-2000:]
    assert not out.exists()


def test_timeout_must_be_positive(tmp_path):
    r = _run("--timeout", "0", cwd=tmp_path)
    assert r.returncode != 0 and "--timeout" in r.stderr
