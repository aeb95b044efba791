"""Pool worker: `python -m imcpnn.spice.worker FD` serves SimJobs over a socket until told to stop.

A fresh interpreter per worker (not fork, not multiprocessing's spawn): a libngspice live in the parent would not
survive a fork, and spawn would re-import the user's __main__, which breaks scripts without a main guard."""

from __future__ import annotations

import logging
import sys
from multiprocessing.connection import Connection

from imcpnn.spice.jobs import execute


def main() -> None:
    logging.disable(logging.WARNING)
    conn = Connection(int(sys.argv[1]))
    conn.send("ready")
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        idx, job = msg
        conn.send((idx, execute(job)))


if __name__ == "__main__":
    main()
