"""A simulation job (netlist + commands) and its execution inside one process."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from imcpnn.spice.analyses import Command, Vector, command_lines, vector_name
from imcpnn.spice.engine import engine, engine_lock
from imcpnn.spice.errors import SpiceConvergenceError, SpiceError
from imcpnn.spice.memory import peak_rss_mb, reset_peak_rss
from imcpnn.spice.session import ANALYSES, Plot, Session

# Tried once when a job fails to converge and retry_with_aids is set: Gear integration, looser tolerances, more
# iterations, a larger gmin. They change numerics slightly, so they are opt-in and reported.
CONVERGENCE_AIDS = ("option method=gear", "option reltol=0.003", "option gmin=1e-11", "option itl4=200",
                    "option itl1=500")


@dataclass(frozen=True)
class SimJob:
    """Load `netlist`, then run `commands` in order. Every analysis command yields one plot in the result.

    `commands` are records (:mod:`imcpnn.spice.analyses`) or command text; `vectors` (records or names) limits what
    comes back from each plot (None: everything). Both are kept as ngspice text: that is what the cache key hashes.

    `seed`: the random-number seed (ngspice `setseed`) set before the netlist is loaded and again before every
    `reset`, so that the per-instance mismatch draws of a `*_mm` section (AGAUSS) are reproducible and the same for
    every analysis of the job (an `alterparam` changes a knob, not the sample). None: ngspice's own sequence."""

    netlist: str
    commands: tuple[Command, ...]
    vectors: tuple[Vector, ...] | None = None
    label: str = "job"
    retry_with_aids: bool = False
    seed: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "commands", tuple(line for c in self.commands for line in command_lines(c)))
        if self.vectors is not None:
            object.__setattr__(self, "vectors", tuple(vector_name(v) for v in self.vectors))
        if self.seed is not None and not (isinstance(self.seed, int) and 0 <= self.seed < 2 ** 31):
            raise ValueError(f"seed must be an integer in [0, 2**31) (got {self.seed!r})")


@dataclass
class JobResult:
    """One plot per analysis of the job (read them with Plot.voltage / current / time / sweep), or the error."""

    label: str
    plots: list[Plot] = field(default_factory=list)
    error: SpiceError | None = None
    from_cache: bool = False
    seconds: float = 0.0
    used_aids: bool = False
    peak_rss_mb: float | None = None  # of the process that ran it, during the job (None: from the cache)

    def __post_init__(self):
        self.plots = [p if isinstance(p, Plot) else Plot(f"{self.label}[{k}]", p) for k, p in enumerate(self.plots)]

    @property
    def ok(self) -> bool:
        return self.error is None

    def unwrap(self) -> list[Plot]:
        if self.error is not None:
            raise self.error
        return self.plots


@contextmanager
def _seeded(seed: int | None):
    """Seed ngspice's random numbers before the netlist loads (its draws are the first analysis' sample)."""
    if seed is not None:
        engine().exec_command(f"setseed {seed}")
    yield


def _run(job: SimJob, extra: tuple[str, ...] = ()) -> list[Plot]:
    plots: list[Plot] = []
    with engine_lock(), _seeded(job.seed), Session(job.netlist, title=job.label) as s:
        for c in extra:
            s.cmd(c)
        for c in job.commands:
            word = c.split()[0].lower()
            if word in ANALYSES:
                plots.append(s.run(c, job.vectors))
                continue
            if word == "reset" and job.seed is not None:
                s.cmd(f"setseed {job.seed}")  # a reset draws again: the same seed gives the same sample
            s.cmd(c)
    return plots


def execute(job: SimJob) -> JobResult:
    """Run a job in this process (used by pool workers and the Dask backend). Errors are returned, not raised."""
    reset_peak_rss()
    result = _execute(job)
    result.peak_rss_mb = peak_rss_mb()
    return result


def _execute(job: SimJob) -> JobResult:
    t0 = time.perf_counter()
    try:
        return JobResult(job.label, _run(job), seconds=time.perf_counter() - t0)
    except SpiceConvergenceError as exc:
        if not job.retry_with_aids:
            return JobResult(job.label, error=exc, seconds=time.perf_counter() - t0)
        try:
            return JobResult(job.label, _run(job, CONVERGENCE_AIDS), seconds=time.perf_counter() - t0, used_aids=True)
        except SpiceError as exc2:
            return JobResult(job.label, error=exc2, seconds=time.perf_counter() - t0)
    except SpiceError as exc:
        return JobResult(job.label, error=exc, seconds=time.perf_counter() - t0)
