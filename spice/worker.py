"""Pool worker: `python -m imcpnn.spice.worker FD` serves SimJobs over a socket until told to stop.

A fresh interpreter per worker (not fork, not multiprocessing's spawn): a libngspice live in the parent would not
survive a fork, and spawn would re-import the user's __main__, which breaks scripts without a main guard.

While a job runs, ngspice's own status line ("tran: 45.3%") is forwarded as ("progress", job index, fraction of the
job done), at most once a second, so a long transient shows progress instead of sitting at 0/N."""

from __future__ import annotations

import logging
import re
import sys
import time
from multiprocessing.connection import Connection

from imcpnn.errors import ImcError

_STATUS = re.compile(r"^\s*(\w+):\s*([0-9.]+)%")
PROGRESS_INTERVAL_S = 1.0


class _Progress:
    """Turns ngspice's per-analysis percentages into the fraction of the whole job (all its analyses)."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.idx: int | None = None
        self.n_analyses = 1
        self.done = 0
        self.last_pct = 0.0
        self.last_sent = 0.0

    def start(self, idx: int, job) -> None:
        from imcpnn.spice.session import ANALYSES

        self.idx, self.done, self.last_pct, self.last_sent = idx, 0, 0.0, time.monotonic()
        self.n_analyses = max(1, sum(c.split()[0].lower() in ANALYSES for c in job.commands if c.split()))

    def send_stat(self, message: str, ngspice_id: int) -> int:
        m = _STATUS.match(message)
        if m is None or self.idx is None:
            return 0
        pct = min(100.0, float(m.group(2)))
        if pct < self.last_pct:  # the next analysis of the job started
            self.done = min(self.done + 1, self.n_analyses - 1)
        self.last_pct = pct
        now = time.monotonic()
        if now - self.last_sent >= PROGRESS_INTERVAL_S:
            self.last_sent = now
            self.conn.send(("progress", self.idx, (self.done + pct / 100.0) / self.n_analyses))
        return 0


def main() -> None:
    logging.disable(logging.WARNING)
    from imcpnn.spice.engine import engine
    from imcpnn.spice.errors import SpiceError
    from imcpnn.spice.jobs import JobResult, execute

    conn = Connection(int(sys.argv[1]))
    progress = _Progress(conn)
    hooked = False
    conn.send("ready")
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        idx, job = msg
        if not hooked:
            try:  # on the first job, like the library itself: a worker that cannot load it still answers "ready"
                engine().send_stat = progress.send_stat  # PySpice calls the instance's send_stat per status line
                hooked = True
            except ImcError:
                pass  # execute() meets the same error and returns it with the job
        progress.start(idx, job)
        try:
            result = execute(job)
        except Exception as exc:  # noqa: BLE001  (a defect outside ngspice's own errors: one line with the job,
            # not a traceback on the user's terminal per retry while the pool replaces this worker)
            result = JobResult(job.label, error=SpiceError(f"{job.label}: {type(exc).__name__}: {exc}"))
        progress.idx = None
        conn.send((idx, result))


if __name__ == "__main__":
    main()
