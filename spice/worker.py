"""Pool worker: `python -m imcpnn.spice.worker FD [MEM_GB]` serves SimJobs over a socket until told to stop; with
MEM_GB its address space is capped there (spice/memory.py), before libngspice loads.

A fresh interpreter per worker (not fork, not multiprocessing's spawn): a libngspice live in the parent would not
survive a fork, and spawn would re-import the user's __main__, which breaks scripts without a main guard.

While a job runs, ngspice's status line goes to the parent as ("progress", job index, fraction done) (spice/progress.py).
"""

from __future__ import annotations

import logging
import sys
from multiprocessing.connection import Connection

from imcpnn.errors import ImcError
from imcpnn.spice.errors import SpiceError
from imcpnn.spice.jobs import JobResult, execute
from imcpnn.spice.memory import limit_memory
from imcpnn.spice.progress import JobStatus


def main() -> None:
    logging.disable(logging.WARNING)
    if len(sys.argv) > 2:
        limit_memory(float(sys.argv[2]))
    # PySpice and libngspice load here, after the worker's environment (thread count) is in place
    from imcpnn.spice.engine import engine

    conn = Connection(int(sys.argv[1]))
    status = JobStatus(lambda idx, fraction: conn.send(("progress", idx, fraction)))
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
                engine().send_stat = status.send_stat  # shadows PySpice's method, which only logs
                hooked = True
            except ImcError:
                pass  # execute() meets the same error and returns it with the job
        status.start(idx, job.commands)
        try:
            result = execute(job)
        except Exception as exc:  # noqa: BLE001  (a defect outside ngspice's own errors: one line with the job,
            # not a traceback on the user's terminal per retry while the pool replaces this worker)
            result = JobResult(job.label, error=SpiceError(f"{job.label}: {type(exc).__name__}: {exc}"))
        status.stop()
        conn.send((idx, result))


if __name__ == "__main__":
    main()
