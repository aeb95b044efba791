"""An interrupted `imc-verify grid` resumes: the transients it finished are not simulated again."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

CELL = Path(__file__).resolve().parents[1] / "fixtures" / "cell_paper.json"


@pytest.mark.spice
@pytest.mark.slow
def test_an_interrupted_grid_resumes_from_its_finished_transients(tmp_path):
    rng = np.random.default_rng(5)
    np.savez(tmp_path / "w.npz", l0=rng.uniform(-0.8, 1.2, (2, 2)), l1=rng.uniform(-0.8, 1.2, (2, 2)))
    np.savetxt(tmp_path / "x.csv", rng.uniform(0, 0.8, (4, 2)), delimiter=",")
    cmd = [sys.executable, "-m", "imcpnn.cli.verify", "grid", "--weights", str(tmp_path / "w.npz"), "--inputs",
           str(tmp_path / "x.csv"), "--cell", str(CELL), "--scale-mode", "none", "--clip", "--chunks", "2",
           "--jobs", "1", "--corners", "tt,ss,ff", "--out", str(tmp_path / "grid")]
    env = {**os.environ, "IMC_CACHE_DIR": str(tmp_path / "cache")}
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list((tmp_path / "cache").glob("*/*.npz")) and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.05)
    first.send_signal(signal.SIGTERM)  # stopped after its first transient, in the batch of 6
    first.wait(timeout=60)
    assert not (tmp_path / "grid" / "grid.json").exists()

    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    m = re.search(r"batch done: (\d+) of the 6 transients were in the result cache", p.stderr)
    assert m and int(m.group(1)) >= 1, p.stderr
    rows = json.loads((tmp_path / "grid" / "grid.json").read_text())["conditions"]
    assert [r["name"] for r in rows] == ["tt_27C", "ss_27C", "ff_27C"]
