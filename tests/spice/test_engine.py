"""The ngspice engine: sessions, typed errors, cache, the process pool and its fault handling, the Dask backend."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from imcpnn.pdk import lib_line
from imcpnn.spice import Session, SpiceSyntaxError, SpiceTimeout
from imcpnn.spice.cache import ResultCache, job_key
from imcpnn.spice.compat import is_error_line
from imcpnn.spice.jobs import SimJob
from imcpnn.spice.pool import run_jobs

pytestmark = pytest.mark.spice


def nfet(vg: str = "{vg}", corner: str = "tt") -> str:
    return (f"nfet sweep\n{lib_line(corner)}\n.param vg=0.9\n"
            f"XM1 d g 0 0 sky130_fd_pr__nfet_01v8 W=1 L=0.15\nvd d 0 1.8\nvg g 0 {vg}\n")


HANG = "hang\nr1 a 0 1k\nc1 a 0 1u\ni1 0 a 1m\n"  # a 100 s transient at a 1 ps step never finishes


def test_compat_classifies_ngspice_lines():
    for benign in ("Note: Compatibility modes selected: hs a", "Trying gmin stepping", "Supplies reduced to 50%",
                   "Using SPARSE 1.3 as Direct Linear Solver", "Warning: singular matrix at step 3",
                   # the reset echoes the netlist's title, which may hold any word (here one of the error words)
                   "Reset re-loads circuit * mismatch instances of the synapse"):
        assert not is_error_line(benign), benign
    for bad in ("Error: unknown subckt: xm1", "doAnalyses: TRAN:  Timestep too small; time = 1e-9",
                "gmin stepping failed", "run simulation(s) aborted"):
        assert is_error_line(bad), bad


def test_alterparam_equals_fresh_load():
    with Session(nfet()) as s:
        s.alterparam(vg=1.2)
        reused = s.run("dc vd 0 1.8 0.01").i("vd")
    with Session(nfet("1.2")) as s:
        fresh = s.run("dc vd 0 1.8 0.01").i("vd")
    np.testing.assert_array_equal(reused, fresh)
    assert -fresh[-1] > 100e-6


def test_syntax_error_names_the_line():
    bad = nfet().replace("sky130_fd_pr__nfet_01v8 W", "sky130_fd_pr__nfet_09v9 W")
    with pytest.raises(SpiceSyntaxError) as err:
        Session(bad)
    assert "nfet_09v9" in str(err.value) and err.value.lines


def test_unknown_device_in_command():
    with Session(nfet()) as s, pytest.raises(SpiceSyntaxError, match="xm7"):
        s.cmd("alter xm7 w=2")


def test_cache_hit_miss_and_corruption(tmp_cache):
    job = SimJob(nfet("1.0"), ("op",), ("vd#branch",), "a")
    first = run_jobs([job], workers=1, cache=tmp_cache, progress=False)[0]
    assert first.ok and not first.from_cache
    second = run_jobs([job], workers=1, cache=tmp_cache, progress=False)[0]
    assert second.from_cache
    np.testing.assert_array_equal(first.plots[0]["vd#branch"], second.plots[0]["vd#branch"])
    # a changed netlist or corner is a different key
    assert run_jobs([SimJob(nfet("1.0", "ss"), ("op",), ("vd#branch",))], workers=1, cache=tmp_cache,
                    progress=False)[0].from_cache is False
    assert run_jobs([SimJob(nfet("1.01"), ("op",), ("vd#branch",))], workers=1, cache=tmp_cache,
                    progress=False)[0].from_cache is False
    # corrupt the entry: detected, discarded, recomputed with the same numbers
    from imcpnn.spice.engine import shared_version_cached

    key = job_key(job.netlist, job.commands, job.vectors, shared_version_cached())
    path = tmp_cache._path(key)
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF
    path.write_bytes(bytes(data))
    third = run_jobs([job], workers=1, cache=tmp_cache, progress=False)[0]
    assert not third.from_cache
    np.testing.assert_array_equal(first.plots[0]["vd#branch"], third.plots[0]["vd#branch"])


def test_pool_timeout_kills_hung_job_and_finishes_others():
    jobs = [SimJob(nfet(str(v)), ("op",), ("vd#branch",), f"ok{v}") for v in (0.8, 1.0)]
    jobs.insert(1, SimJob(HANG, ("tran 1e-12 100",), None, "hang"))
    t0 = time.monotonic()
    res = run_jobs(jobs, workers=2, timeout=4, progress=False)
    assert time.monotonic() - t0 < 30
    assert [r.ok for r in res] == [True, False, True]
    assert isinstance(res[1].error, SpiceTimeout)
    assert -res[2].plots[0]["vd#branch"][0] > -res[0].plots[0]["vd#branch"][0] > 0


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def test_dead_worker_is_replaced_and_its_job_retried():
    slow = SimJob(HANG, ("tran 1e-9 2e-3",), ("time",), "slow")  # ~1-3 s of work: time to kill the worker
    jobs = [slow] + [SimJob(nfet(str(v)), ("op",), ("vd#branch",), f"ok{v}") for v in (0.7, 0.9, 1.1)]
    killed = []

    def killer():
        time.sleep(0.8)
        for pid in _children(os.getpid()):
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            except ProcessLookupError:
                pass

    th = threading.Thread(target=killer)
    th.start()
    res = run_jobs(jobs, workers=1, timeout=60, progress=False)
    th.join()
    assert killed, "no worker process found to kill"
    assert all(r.ok for r in res), [str(r.error) for r in res]


@pytest.mark.slow
def test_dask_backend_on_local_cluster():
    from dask.distributed import LocalCluster

    jobs = [SimJob(nfet(str(v)), ("op",), ("vd#branch",), f"d{v}") for v in (0.8, 1.2)]
    local = run_jobs(jobs, workers=2, progress=False)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        remote = run_jobs(jobs, scheduler=cluster.scheduler_address, progress=False)
    for a, b in zip(local, remote):
        assert b.ok
        np.testing.assert_array_equal(a.plots[0]["vd#branch"], b.plots[0]["vd#branch"])


def test_missing_libngspice_is_one_line_error(tmp_path):
    code = "from imcpnn.cli.common import user_errors\n" \
           "from imcpnn.spice import Session\n" \
           "user_errors(lambda: Session('t\\nr1 a 0 1\\nv1 a 0 1\\n'))()\n"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "NGSPICE_LIBRARY_PATH": str(tmp_path / "libngspice-missing.so")})
    assert p.returncode == 3
    assert p.stderr.strip().startswith("error: cannot load libngspice") and p.stderr.strip().count("\n") == 0


def test_doctor_reports_missing_ngspice_cli():
    env = {**os.environ, "PATH": os.path.dirname(sys.executable)}
    p = subprocess.run([sys.executable, "-m", "imcpnn.cli.extract", "doctor"], capture_output=True, text=True,
                       env=env, timeout=120)
    assert p.returncode == 1
    assert "ngspice CLI" in p.stdout and "FAIL" in p.stdout and "apt-get install ngspice" in p.stdout
