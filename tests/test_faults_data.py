"""Faults that used to lose or mix up data: file modes, overwrites, interrupted and concurrent runs."""

from __future__ import annotations

import csv
import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from imcpnn.atomic import atomic_write_text
from imcpnn.cli.train import main as cli
from imcpnn.errors import ImcError
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
    assert "checkpoint.pt is damaged; using checkpoints/epoch_0003.pt" in err
    assert _same_model(torch.load(rd / "checkpoint.pt", weights_only=False), _reference(tmp_path))


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
