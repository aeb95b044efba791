"""Memory of a simulation process: the peak resident set of one job, and a hard cap on a pool worker.

The peak is per job although a worker runs many: Linux resets a process's high-water mark (VmHWM) when "5" is
written to its /proc/<pid>/clear_refs, so each job starts from its own baseline (the worker's libraries included)."""

from __future__ import annotations

import resource

_STATUS = "/proc/self/status"


def reset_peak_rss() -> bool:
    """Restart this process's peak-RSS count; False where the kernel does not offer it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float | None:
    """This process's peak resident set (MiB) since the last reset_peak_rss (or its start)."""
    try:
        with open(_STATUS) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def limit_memory(gb: float) -> None:
    """Cap this process's address space at ``gb`` GiB: a job that needs more fails (ngspice cannot allocate and
    the worker dies; the pool reports it) instead of pushing the machine into swap or the OOM killer."""
    limit = int(gb * 1024 ** 3)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
