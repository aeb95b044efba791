"""The process-wide libngspice instance (one per process: libngspice keeps global state)."""

from __future__ import annotations

import ctypes.util
import os
import shutil
import subprocess
import sys
import threading

from imcpnn.spice import compat
from imcpnn.spice.errors import NgspiceMissing

_lock = threading.RLock()
_instance = None


def library_name() -> str:
    """The shared library PySpice should open: NGSPICE_LIBRARY_PATH if set, else libngspice.so(.0)."""
    env = os.environ.get("NGSPICE_LIBRARY_PATH")
    if env:
        return env
    return "libngspice.so" if ctypes.util.find_library("ngspice") else "libngspice.so.0"


def ngspice_threads() -> str:
    """OpenMP threads per ngspice instance. Debian's libngspice evaluates BSIM4 devices with OpenMP; with several
    simulator processes on few cores, libgomp's spin-waiting threads oversubscribe the machine and transients become
    many times slower (measurement: docs/toolchain.md). Parallelism comes from the process pool instead: one thread
    per instance."""
    return os.environ.get("IMC_NGSPICE_THREADS", "1")


def worker_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": ngspice_threads()}


def engine():
    """The NgSpiceShared instance of this process, created on first use with the compatibility fixes applied."""
    global _instance
    with _lock:
        if _instance is None:
            # Only effective if libgomp is not loaded yet in this process (pool workers: always).
            os.environ["OMP_NUM_THREADS"] = ngspice_threads()
            compat.apply()
            # lazy: libngspice and its OpenMP runtime come with PySpice, after OMP_NUM_THREADS is set above
            from PySpice.Spice.NgSpice.Shared import NgSpiceShared

            NgSpiceShared.LIBRARY_PATH = library_name()
            try:
                _instance = NgSpiceShared.new_instance()
            except OSError as exc:
                raise NgspiceMissing(f"cannot load libngspice ({exc}); install it with "
                                     "`apt-get install ngspice libngspice0 libngspice0-dev` (or `make setup`)") from None
            # ngspice calls omp_set_num_threads() itself from its `num_threads` variable (default 2), ignoring
            # OMP_NUM_THREADS: set it explicitly.
            _instance.exec_command(f"set num_threads={ngspice_threads()}")
            _instance.exec_command("set ngbehavior=hsa")
            _instance.exec_command("set ng_nomodcheck")
        return _instance


def engine_lock() -> threading.RLock:
    return _lock


def shared_version() -> str:
    """ngspice version of the shared library, e.g. '39'."""
    return str(engine().ngspice_version)


def cli_version() -> str | None:
    """Version line of the ngspice CLI, or None when it is not on PATH."""
    exe = shutil.which("ngspice")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "-v"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in out.splitlines():
        if "ngspice-" in line:
            return line.strip().strip("*").strip()
    return out.strip().splitlines()[0] if out.strip() else None


def shared_version_cached() -> str:
    """ngspice version for cache keys and provenance: the version the shared library itself reports, the library the
    pool workers load (the CLI may be absent or another build). Asked once per process, in a child process, so that
    libngspice and its OpenMP threads stay out of this one. IMC_NGSPICE_VERSION overrides."""
    global _version
    if _version is None:
        _version = os.environ.get("IMC_NGSPICE_VERSION") or _library_version()
    return _version


def _library_version() -> str:
    code = "from imcpnn.spice.engine import shared_version; print(shared_version())"
    try:
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                           env=worker_env())
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NgspiceMissing(f"cannot ask libngspice for its version ({exc})") from None
    lines = p.stdout.strip().splitlines()
    if p.returncode != 0 or not lines:
        why = (p.stderr.strip().splitlines() or ["no output"])[-1]
        raise NgspiceMissing(f"cannot load libngspice to read its version: {why}")
    return f"ngspice-{lines[-1].strip()}"


_version: str | None = None
