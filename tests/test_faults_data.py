"""Faults that used to lose or mix up data: file modes, overwrites, interrupted and concurrent runs."""

from __future__ import annotations

import csv
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from imcpnn.atomic import atomic_write_text
from imcpnn.cli.train import main as cli
from imcpnn.errors import ImcError
from imcpnn.cell import load_cell
from imcpnn.pdk import find_pdk, lib_line
from imcpnn.train import loop as L
from imcpnn.train import resume, run, train


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_write_respects_umask_and_keeps_existing_mode(tmp_path):
    old = os.umask(0o022)
    try:
        new = atomic_write_text(tmp_path / "new.txt", "a")
        assert _mode(new) == 0o644
        os.umask(0o077)
        assert _mode(atomic_write_text(tmp_path / "private.txt", "a")) == 0o600
        # replacing a file keeps that file's mode, whatever the umask
        shared = tmp_path / "shared.txt"
        shared.write_text("old")
        os.chmod(shared, 0o644)
        atomic_write_text(shared, "new")
        assert _mode(shared) == 0o644 and shared.read_text() == "new"
    finally:
        os.umask(old)


# ------------------------------------------------------------------------------------------------ training runs
CELL = Path(__file__).resolve().parent / "fixtures" / "cell_paper.json"
FAST = {"epochs": 4, "solver": "dstd", "steps": 4, "sigma": 0.01, "batch_size": 25, "keep_checkpoints": 0,
        "threads": 1}


def _trained(tmp_path, epochs_done: int = 3) -> Path:
    rd = L.create_run("iris-bottomup", tmp_path / "r", sets=FAST, cell=CELL)
    train(rd, progress=False, stop_after=epochs_done)
    return rd


def _reference(tmp_path) -> dict:
    rd, _ = run("iris-bottomup", out=tmp_path / "ref", sets=FAST, cell=CELL, progress=False)
    return torch.load(rd / "checkpoint.pt", weights_only=False)


def _same_model(a: dict, b: dict) -> bool:
    return a["epoch"] == b["epoch"] and all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_resume_without_checkpoint_pt_continues_from_newest_epoch_file(tmp_path, capsys):
    rd = _trained(tmp_path)
    first = (rd / "checkpoints" / "epoch_0001.pt").read_bytes()
    (rd / "checkpoint.pt").unlink()
    assert resume(rd, progress=False)["epochs_done"] == 4
    assert "resuming after epoch 3 from checkpoints/epoch_0003.pt" in capsys.readouterr().err
    assert (rd / "checkpoints" / "epoch_0001.pt").read_bytes() == first  # not trained again from epoch 1
    assert _same_model(torch.load(rd / "checkpoint.pt", weights_only=False), _reference(tmp_path))


def test_damaged_checkpoint_pt_leaves_epoch_file_intact_and_resume_uses_it(tmp_path, capsys):
    rd = _trained(tmp_path)
    with open(rd / "checkpoint.pt", "r+b") as fh:  # a crash or a full disk truncates it in place
        fh.truncate(100)
    assert (rd / "checkpoints" / "epoch_0003.pt").stat().st_size > 100  # an independent copy, not a hard link
    assert resume(rd, progress=False)["epochs_done"] == 4
    err = capsys.readouterr().err
    assert "checkpoint.pt was damaged; restored it from checkpoints/epoch_0003.pt" in err
    assert _same_model(torch.load(rd / "checkpoint.pt", weights_only=False), _reference(tmp_path))


def test_finished_run_with_damaged_checkpoint_pt_gets_a_hint_and_resume_restores_it(tmp_path, capsys):
    rd = _trained(tmp_path, 4)
    (rd / "checkpoint.pt").write_bytes(b"damaged")
    with pytest.raises(ImcError, match="checkpoint.pt is damaged; `imc-train resume .*` restores it from"):
        L.load_run(rd)
    assert resume(rd, progress=False)["epochs_done"] == 4
    assert "restored it from checkpoints/epoch_0004.pt" in capsys.readouterr().err
    assert L.load_run(rd).config.optim.epochs == 4


def test_no_readable_checkpoint_is_refused_not_restarted(tmp_path):
    rd = _trained(tmp_path, 2)
    for p in [rd / "checkpoint.pt", *(rd / "checkpoints").iterdir()]:
        p.write_bytes(b"damaged")
    with pytest.raises(ImcError, match="no readable checkpoint"):
        resume(rd, progress=False)
    assert (rd / "checkpoints" / "epoch_0001.pt").read_bytes() == b"damaged"


def test_interrupt_while_checkpointing_keeps_records_in_step(tmp_path, monkeypatch, capsys):
    rd = L.create_run("iris-bottomup", tmp_path / "i", sets=FAST, cell=CELL)
    real = L.atomic_write_bytes

    def interrupted(path, data):
        if Path(path).name == "epoch_0002.pt":
            raise KeyboardInterrupt
        return real(path, data)

    monkeypatch.setattr(L, "atomic_write_bytes", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(rd, progress=False)
    summary = json.loads((rd / "summary.json").read_text())
    with open(rd / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    ck = torch.load(rd / "checkpoint.pt", weights_only=False)
    assert ck["epoch"] == summary["epochs_done"] == len(rows) == len(ck["history"]) == 1
    assert "epoch 1 is the last checkpointed one" in capsys.readouterr().err


def test_cli_interrupt_in_first_epoch_claims_no_checkpoint_and_run_can_be_repeated(tmp_path, monkeypatch):
    out = tmp_path / "r"
    args = ["run", "iris-bottomup", "--cell", str(CELL), "--out", str(out), "--no-progress",
            *[f"--set={k}={v}" for k, v in FAST.items()]]

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(L, "eval_net", interrupt)
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 130
    assert "is checkpointed" not in res.output and "nothing was checkpointed" in res.output
    monkeypatch.undo()
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output


def test_concurrent_runs_with_the_same_out_one_is_refused(tmp_path, monkeypatch):
    barrier = threading.Barrier(2)
    real = L.make_config

    def in_step(*a, **k):  # both runs pass validation at the same moment, then race for the directory
        got = real(*a, **k)
        barrier.wait(timeout=30)
        return got

    monkeypatch.setattr(L, "make_config", in_step)
    results: list = []

    def start():
        try:
            results.append(L.create_run("iris-bottomup", tmp_path / "r", sets=FAST, cell=CELL))
        except ImcError as exc:
            results.append(exc)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(isinstance(r, Path) for r in results) == 1
    assert any(isinstance(r, ImcError) and "already holds a run" in str(r) for r in results)


def test_a_run_being_trained_is_locked(tmp_path):
    rd = L.create_run("iris-bottomup", tmp_path / "r", sets=FAST, cell=CELL)
    code = ("import fcntl, sys, time; fh = open(sys.argv[1], 'a+'); fcntl.flock(fh, fcntl.LOCK_EX); "
            "print('locked', flush=True); time.sleep(30)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(rd / ".lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ImcError, match="being trained by another process"):
            train(rd, progress=False)
    finally:
        holder.kill()
        holder.wait()
    assert not (rd / "checkpoint.pt").exists()


@pytest.mark.parametrize("sets", [{"device": "cuda"}, {"dataset.name": "fashion_mnist", "model.arch": "mlp",
                                                        "model.sizes": [784, 10], "dataset.data_dir": "nowhere"}])
def test_failed_start_leaves_no_run_behind(tmp_path, sets):
    if sets.get("device") == "cuda" and torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    out = tmp_path / "r"
    for _ in range(2):  # the retry gets the same error, not "already holds a run"
        with pytest.raises(ImcError) as ei:
            run("iris-bottomup", out=out, sets={**FAST, **sets}, cell=CELL, progress=False)
        assert "already holds a run" not in str(ei.value)
        assert not out.exists()


# ------------------------------------------------------------------------------------------------ verifications
def _tiny_network(tmp_path) -> list[str]:
    """A 3-input, 2-neuron layer and two samples: a verification of it takes a few seconds."""
    np.savez(tmp_path / "w.npz", l0=np.full((2, 3), 0.5))
    np.savetxt(tmp_path / "x.csv", np.array([[0.1, 0.3, 0.0], [0.2, 0.5, 0.0]]), delimiter=",")
    return ["run", "--weights", str(tmp_path / "w.npz"), "--inputs", str(tmp_path / "x.csv"), "--cell", str(CELL),
            "--design", "sky130-rcspike", "--jobs", "1"]


def _imc_verify(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "imcpnn.cli.verify", *args], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.spice
def test_verify_refuses_to_replace_a_verification_and_force_replaces_it_whole(tmp_path):
    base, out = _tiny_network(tmp_path), tmp_path / "v"
    p = _imc_verify(*base, "--samples", "2", "--chunks", "2", "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert len(list((out / "netlists").glob("*.cir"))) == 2
    p = _imc_verify(*base, "--samples", "1", "--chunks", "1", "--out", str(out))
    assert p.returncode == 2 and "already holds a verification" in p.stderr and "--force" in p.stderr
    assert json.loads((out / "summary.json").read_text())["n_samples"] == 2
    p = _imc_verify(*base, "--samples", "1", "--chunks", "1", "--out", str(out), "--force")
    assert p.returncode == 0, p.stderr
    assert "replaced the previous verification" in p.stderr
    assert json.loads((out / "summary.json").read_text())["n_samples"] == 1
    # nothing of the 2-sample verification is left beside the new one
    assert [f.name for f in (out / "netlists").glob("*.cir")] == ["test_samples_000-000.cir"]
    assert sorted(f.name for f in tmp_path.iterdir() if f.name.startswith(".")) == []


@pytest.mark.spice
def test_two_verifies_with_the_same_out_never_lose_one(tmp_path):
    base, out = _tiny_network(tmp_path), tmp_path / "v"
    procs = [subprocess.Popen([sys.executable, "-m", "imcpnn.cli.verify", *base, "--samples", str(n), "--out",
                               str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in (1, 2)]
    outputs = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    ok = [o for o in outputs if o[0] == 0]
    refused = [o for o in outputs if o[0] != 0]
    assert all("already holds a verification" in o[2] for o in refused)
    written = sorted(d for d in tmp_path.iterdir() if (d / "summary.json").is_file())
    assert len(written) == len(ok)  # every verification that reported success is on disk, each in its own directory
    assert sorted(json.loads((d / "summary.json").read_text())["n_samples"] for d in written) == \
        sorted(n for n, o in zip((1, 2), outputs) if o[0] == 0)
    for code, stdout, _ in ok:
        report = stdout.strip().rsplit("report: ", 1)[1]
        assert Path(report).is_file()


# ------------------------------------------------------------------------------------------------ cell.json
def _imc_extract(*args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "imcpnn.cli.extract", "run", *args, "-q", "-j", "2"], cwd=cwd,
                          capture_output=True, text=True, timeout=900)


@pytest.mark.spice
def test_extract_keeps_an_existing_cell_unless_forced(tmp_path):
    out = tmp_path / "cell.json"
    out.write_bytes(CELL.read_bytes())
    p = _imc_extract("--out", str(out), cwd=tmp_path)
    assert p.returncode == 2 and "already exists" in p.stderr and "--force" in p.stderr
    assert out.read_bytes() == CELL.read_bytes()
    p = _imc_extract("--out", str(out), "--force", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert load_cell(out).provenance.corner == "tt" and out.read_bytes() != CELL.read_bytes()


def test_cell_written_meanwhile_is_kept_and_the_new_one_goes_beside_it(tmp_path):
    from imcpnn.cli.extract_run import _save

    cell, out = load_cell(CELL), tmp_path / "cell.json"
    out.write_text("someone else's\n")
    assert _save(cell, out, force=False) == tmp_path / "cell.new.json"
    assert out.read_text() == "someone else's\n"
    assert load_cell(tmp_path / "cell.new.json").to_json() == cell.to_json()
    assert _save(cell, out, force=True) == out and load_cell(out).to_json() == cell.to_json()


# ------------------------------------------------------------------------------------------------ simulation cache
@pytest.mark.spice
def test_cache_key_version_comes_from_the_library_not_the_cli_on_path(tmp_path):
    code = "from imcpnn.spice.engine import shared_version_cached; print(shared_version_cached())"
    env = {k: v for k, v in os.environ.items() if k != "IMC_NGSPICE_VERSION"}
    with_cli = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    without = subprocess.run([sys.executable, "-c", code], env={**env, "PATH": str(tmp_path)}, capture_output=True,
                             text=True, timeout=120)
    assert with_cli.returncode == without.returncode == 0, without.stderr
    assert without.stdout == with_cli.stdout and "unknown" not in without.stdout
    assert without.stdout.strip().startswith("ngspice-")


# ------------------------------------------------------------------------------------------------ exported netlists
@pytest.mark.spice
def test_exported_netlists_are_portable_and_the_printed_command_runs_one(tmp_path):
    if shutil.which("ngspice") is None:
        pytest.skip("the ngspice CLI is not on PATH")
    p = _imc_verify(*_tiny_network(tmp_path), "--samples", "1", "--chunks", "1", "--out", str(tmp_path / "v"))
    assert p.returncode == 0, p.stderr
    moved = tmp_path / "elsewhere" / "copy"  # as if copied to another machine
    shutil.copytree(tmp_path / "v", moved)
    shutil.rmtree(tmp_path / "v")
    cir = moved / "netlists" / "test_samples_000-000.cir"
    text = cir.read_text()
    assert str(find_pdk().root) not in text and '.include "pdk.spice"' in text
    assert (moved / "netlists" / "pdk.spice").read_text().strip().splitlines()[-1] == lib_line("tt")
    command = p.stderr.split("run a netlist by hand: ", 1)[1].splitlines()[0]
    assert command == f"ngspice -b -r test_samples_000-000.raw {tmp_path / 'v'}/netlists/test_samples_000-000.cir"
    assert "ngspice -b -r test_samples_000-000.raw netlists/test_samples_000-000.cir" in \
        (moved / "report.md").read_text()
    command = command.replace(str(tmp_path / "v"), str(moved))
    run_dir = tmp_path / "cwd"
    run_dir.mkdir()
    r = subprocess.run(command.split(), cwd=run_dir, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "rror" not in r.stdout + r.stderr, r.stdout + r.stderr
    assert (run_dir / "test_samples_000-000.raw").stat().st_size > 10_000
