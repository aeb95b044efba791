"""ngspice's own status line ("tran: 45.3%", sent about every 0.1 s while an analysis runs) as the fraction of a job
done, so a long transient shows progress instead of sitting at 0/N (pool workers forward it to the parent; the inline
path feeds the bar directly)."""

from __future__ import annotations

import re
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from imcpnn.spice.engine import engine
from imcpnn.spice.session import ANALYSES

_STATUS = re.compile(r"^\s*(\w+):\s*([0-9.]+)%")
INTERVAL_S = 1.0  # at most one report per second and job


class JobStatus:
    """Turns per-analysis percentages into the fraction of the whole job (all its analyses) and reports it."""

    def __init__(self, report: Callable[[int, float], None]):
        self.report = report
        self.idx: int | None = None
        self.n_analyses = 1
        self.done = 0
        self.last_pct = 0.0
        self.last_sent = 0.0

    def start(self, idx: int, commands: tuple[str, ...]) -> None:
        self.idx, self.done, self.last_pct, self.last_sent = idx, 0, 0.0, time.monotonic()
        self.n_analyses = max(1, sum(c.split()[0].lower() in ANALYSES for c in commands if c.split()))

    def stop(self) -> None:
        self.idx = None

    def send_stat(self, message: str, ngspice_id: int) -> int:
        """PySpice's NgSpiceShared.send_stat signature: install as `engine().send_stat`."""
        m = _STATUS.match(message)
        if m is None or self.idx is None:
            return 0
        pct = min(100.0, float(m.group(2)))
        if pct < self.last_pct:  # the next analysis of the job started
            self.done = min(self.done + 1, self.n_analyses - 1)
        self.last_pct = pct
        now = time.monotonic()
        if now - self.last_sent >= INTERVAL_S:
            self.last_sent = now
            self.report(self.idx, (self.done + pct / 100.0) / self.n_analyses)
        return 0


@contextmanager
def reporting(status: JobStatus) -> Iterator[JobStatus]:
    """Route this process's ngspice status lines to `status` while the block runs."""
    ng = engine()
    ng.send_stat = status.send_stat  # an instance attribute shadows PySpice's method, which only logs
    try:
        yield status
    finally:
        del ng.send_stat
