"""Running many independent jobs: a local process pool (one libngspice per worker) or a Dask cluster.

The local pool kills a worker whose job passes its timeout (libngspice cannot be interrupted from outside) and starts
a fresh one; a worker that dies is replaced too; either way that job is reported as failed and the others finish.
Results come back in submission order.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from multiprocessing.connection import Connection, wait
from typing import Callable, Sequence

from tqdm import tqdm

from imcpnn.errors import ConfigError
from imcpnn.spice.cache import ResultCache, job_key
from imcpnn.spice.engine import shared_version_cached, worker_env
from imcpnn.spice.errors import SpiceTimeout, SpiceWorkerDied
from imcpnn.spice.jobs import JobResult, SimJob, execute
from imcpnn.spice.progress import JobStatus, reporting


class _Worker:
    def __init__(self, mem_limit_gb: float | None = None):
        parent, child = socket.socketpair()
        limit = [] if mem_limit_gb is None else [repr(float(mem_limit_gb))]
        # stderr goes to a file (a pipe nobody reads could fill and block the worker) so that a worker that dies can
        # be reported with its last words; its own session, so that one killpg also ends anything it started.
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, "-m", "imcpnn.spice.worker", str(child.fileno()), *limit],
                                     pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL, stderr=self.stderr,
                                     env=worker_env(), start_new_session=True)
        child.close()
        self.conn = Connection(parent.detach())
        self.job: int | None = None
        self.deadline = 0.0
        self.ready = False

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr_tail(self, limit: int = 400) -> str:
        """The last non-empty stderr line(s) of the worker, up to `limit` characters, on one line."""
        self.stderr.seek(0)
        lines = [ln.strip() for ln in self.stderr.read().decode(errors="replace").splitlines() if ln.strip()]
        return " | ".join(lines[-2:])[-limit:] or "no output on stderr"

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait(5)
        self.conn.close()
        self.stderr.close()


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


class _JobProgress:
    """A bar over the jobs that really run (cache hits are named, not counted: they would make the rate, and so the
    ETA, look far faster than the simulations are), advanced by each job's own fraction as ngspice reports it."""

    def __init__(self, total: int, cached: int, label: str, enabled: bool):
        desc = f"{label} ({cached} cached)" if cached else label
        self.bar = tqdm(total=total, desc=desc, disable=not enabled or total == 0, file=sys.stderr,
                        mininterval=0.5 if sys.stderr.isatty() else 10.0, leave=False, smoothing=0.0,
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total_fmt} jobs "
                                   "[{elapsed}<{remaining}]")
        self.frac = [0.0] * total

    def advance(self, i: int, fraction: float) -> None:
        fraction = min(1.0, max(fraction, self.frac[i]))
        if fraction > self.frac[i]:
            self.bar.update(fraction - self.frac[i])
            self.frac[i] = fraction

    def close(self) -> None:
        self.bar.close()


#: workers that die before they report ready, in a row, before the pool gives up: the environment is broken (a
#: worker that cannot import, a missing library), and restarting it again would only spin.
MAX_EARLY_DEATHS = 3


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C so that the pool's workers are killed on the way out."""


@contextmanager
def _sigterm_as_interrupt():
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise _Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_local(jobs: Sequence[SimJob], workers: int, timeout: float, on_done: Callable[[int, JobResult], None],
              retries_on_crash: int = 1, on_progress: Callable[[int, float], None] | None = None,
              mem_limit_gb: float | None = None) -> None:
    """on_progress(i, fraction): job i is that far along (from ngspice's status line, about once a second).
    mem_limit_gb: each worker's address space is capped there (spice/memory.py)."""
    if workers < 1:
        raise ConfigError(f"workers must be >= 1 (got {workers}): an empty pool would wait forever")
    run = _LocalRun(jobs, timeout, on_done, retries_on_crash, on_progress, mem_limit_gb)
    clean = False
    try:
        with _sigterm_as_interrupt():
            run.pool.extend(_Worker(mem_limit_gb) for _ in range(min(workers, len(jobs))))
            while run.remaining:
                run.dispatch()
                ready = wait([w.conn for w in run.pool], timeout=0.5)
                now = time.monotonic()
                for i in range(len(run.pool)):
                    run.poll(i, ready, now)
        clean = True
    finally:
        _close(run.pool, clean)


class _LocalRun:
    """The bookkeeping of one run_local call: which worker holds which job, retries, early deaths."""

    def __init__(self, jobs: Sequence[SimJob], timeout: float, on_done: Callable[[int, JobResult], None],
                 retries_on_crash: int, on_progress: Callable[[int, float], None] | None = None,
                 mem_limit_gb: float | None = None):
        self.jobs, self.timeout, self.on_done, self.retries = jobs, timeout, on_done, retries_on_crash
        self.on_progress, self.mem_limit_gb = on_progress, mem_limit_gb
        self.pending = list(range(len(jobs)))[::-1]
        self.crashes = {i: 0 for i in range(len(jobs))}
        self.pool: list[_Worker] = []
        self.remaining = len(jobs)
        self.early_deaths = 0

    def dispatch(self) -> None:
        for w in self.pool:
            if w.ready and w.job is None and self.pending:
                w.job = self.pending.pop()
                w.deadline = time.monotonic() + self.timeout
                w.conn.send((w.job, self.jobs[w.job]))

    def finish(self, idx: int, result: JobResult) -> None:
        self.remaining -= 1
        self.on_done(idx, result)

    def replace(self, i: int) -> None:
        if not self.pool[i].ready:
            self.early_deaths += 1
            if self.early_deaths >= MAX_EARLY_DEATHS:
                raise SpiceWorkerDied(f"ngspice worker exited (code {self.pool[i].proc.poll()}) before it was ready, "
                                      f"{self.early_deaths} times in a row: {self.pool[i].stderr_tail()}")
        self.pool[i].kill()
        self.pool[i] = _Worker(self.mem_limit_gb)

    def poll(self, i: int, ready: list, now: float) -> None:
        """Handle worker i: its message (ready, a result), its death or its job's timeout."""
        w = self.pool[i]
        msg = None
        if w.conn in ready:
            try:
                msg = w.conn.recv()
            except (EOFError, OSError):
                msg = None
        if msg == "ready":
            w.ready = True
            self.early_deaths = 0
        elif isinstance(msg, tuple) and len(msg) == 3 and msg[0] == "progress":
            if self.on_progress is not None:
                self.on_progress(msg[1], msg[2])
        elif msg is not None:
            w.job = None
            self.finish(*msg)
        elif w.job is None:
            if not w.alive() or w.conn in ready:  # died while idle: just replace it
                self.replace(i)
        elif not w.alive() or w.conn in ready:
            job, code, tail = w.job, w.proc.poll(), w.stderr_tail()
            self.replace(i)
            self.crashes[job] += 1
            if self.crashes[job] <= self.retries:
                self.pending.append(job)
            else:
                cap = "" if self.mem_limit_gb is None else f" (its memory is capped at {self.mem_limit_gb:g} GB)"
                self.finish(job, JobResult(self.jobs[job].label, error=SpiceWorkerDied(
                    f"{self.jobs[job].label}: worker died (exit code {code}) running this job{cap}: {tail}")))
        elif now > w.deadline:
            job = w.job
            self.replace(i)
            self.finish(job, JobResult(self.jobs[job].label, error=SpiceTimeout(
                f"{self.jobs[job].label}: killed after its {self.timeout:g} s timeout"), seconds=self.timeout))


def _close(pool: list[_Worker], clean: bool) -> None:
    """Stop the workers: politely after a finished run, at once (with anything they started) otherwise."""
    if clean:
        for w in pool:
            try:
                w.conn.send(None)
            except (OSError, BrokenPipeError):
                pass
    for w in pool:
        try:
            if clean:
                w.proc.wait(2)
        except subprocess.TimeoutExpired:
            pass
        w.kill()


def check_dask_memory(client, mem_limit_gb: float) -> None:
    """On Dask the cluster sets each worker's memory (``dask worker --memory-limit``); refuse a cluster whose workers
    may use more than ``mem_limit_gb`` (or have no limit at all)."""
    for addr, w in client.scheduler_info().get("workers", {}).items():
        limit = w.get("memory_limit") or 0
        if not 0 < limit <= mem_limit_gb * 1024 ** 3 * 1.0001:
            have = f"{limit / 1024 ** 3:.2f} GB" if limit else "no limit"
            raise ConfigError(f"Dask worker {addr} has memory_limit {have}, above --worker-mem-gb {mem_limit_gb:g}: "
                              f"start the workers with --memory-limit {mem_limit_gb:g}GB")


def run_dask(jobs: Sequence[SimJob], scheduler: str, timeout: float, on_done: Callable[[int, JobResult], None],
             mem_limit_gb: float | None = None) -> None:
    """Same jobs on a dask.distributed cluster. Workers should run one thread each (one libngspice per process)."""
    # lazy: dask.distributed takes about a second to import and only a --scheduler run needs it
    from dask.distributed import Client, as_completed
    from dask.distributed import TimeoutError as DaskTimeout

    with Client(scheduler, timeout=30) as client:
        if mem_limit_gb is not None:
            check_dask_memory(client, mem_limit_gb)
        futures = {client.submit(execute, job, pure=False, key=f"imc-{i}-{time.time_ns()}"): i
                   for i, job in enumerate(jobs)}
        start = time.monotonic()
        try:
            for fut in as_completed(futures, timeout=timeout * max(1, len(jobs))):
                i = futures[fut]
                try:
                    on_done(i, fut.result(timeout=max(1.0, timeout - (time.monotonic() - start))))
                except Exception as exc:  # a worker that died or a task that raised
                    on_done(i, JobResult(jobs[i].label, error=SpiceWorkerDied(f"{jobs[i].label}: {exc}")))
        except DaskTimeout:
            for fut, i in futures.items():
                if not fut.done():
                    fut.cancel()
                    on_done(i, JobResult(jobs[i].label, error=SpiceTimeout(f"{jobs[i].label}: timed out on Dask")))


def run_jobs(jobs: Sequence[SimJob], *, workers: int | None = None, timeout: float = 300.0,
             cache: ResultCache | None = None, progress: bool = True, label: str = "simulating",
             scheduler: str | None = None, inline: bool = False,
             mem_limit_gb: float | None = None) -> list[JobResult]:
    """Run jobs (cached ones are answered from the cache), return results in order.

    workers=None: one per core. scheduler: a dask.distributed address to use a cluster instead of local processes.
    inline: run in this process (no timeout; for a single quick job or debugging). mem_limit_gb: the most memory a
    worker may use (local workers are capped; Dask workers must have that memory_limit or less)."""
    if mem_limit_gb is not None and not (math.isfinite(mem_limit_gb) and mem_limit_gb > 0):
        raise ConfigError(f"worker memory limit must be a number of GB > 0 (got {mem_limit_gb})")
    if workers is not None and workers < 1:
        raise ConfigError(f"workers must be >= 1 (got {workers}): an empty pool would wait forever")
    results: list[JobResult | None] = [None] * len(jobs)
    keys: list[str | None] = [None] * len(jobs)
    todo: list[int] = []
    version = shared_version_cached()
    for i, job in enumerate(jobs):
        if cache is not None:
            keys[i] = job_key(job.netlist, job.commands, job.vectors, version, job.seed)
            hit = cache.get(keys[i])
            if hit is not None:
                results[i] = JobResult(job.label, hit, from_cache=True)
                continue
        todo.append(i)

    bar = _JobProgress(len(todo), len(jobs) - len(todo), label, progress)

    def done(local_idx: int, result: JobResult) -> None:
        i = todo[local_idx]
        results[i] = result
        if cache is not None and result.ok and not result.used_aids:
            cache.put(keys[i], result.plots)
        bar.advance(local_idx, 1.0)

    sub = [jobs[i] for i in todo]
    if sub:
        if scheduler:
            run_dask(sub, scheduler, timeout, done, mem_limit_gb)
        elif mem_limit_gb is None and (inline or (len(sub) == 1 and workers == 1)):
            with reporting(JobStatus(bar.advance)) as status:
                for k, job in enumerate(sub):
                    status.start(k, job.commands)
                    done(k, execute(job))
        else:
            run_local(sub, workers or default_workers(), timeout, done, on_progress=bar.advance,
                      mem_limit_gb=mem_limit_gb)
    bar.close()
    return results  # type: ignore[return-value]  # every slot is filled above
