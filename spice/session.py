"""A netlist loaded once into libngspice, then driven with commands (`alter`, `alterparam`, analyses).

Loading the model library is the expensive part; a session pays it once and every sweep point after that costs
milliseconds (docs/toolchain.md). Results come back as plain numpy arrays keyed by ngspice's vector names.
"""

from __future__ import annotations

import re
from typing import Iterable

import numpy as np

from imcpnn.spice.analyses import Analysis, Current, Tran, Vector, Voltage, vector_name
from imcpnn.spice.engine import engine, engine_lock
from imcpnn.spice.errors import SpiceConvergenceError, SpiceError, SpiceSyntaxError

ANALYSES = ("op", "dc", "tran", "ac", "noise", "tf", "sens", "pz", "disto")
_CONVERGENCE = re.compile(r"(timestep too small|gmin stepping failed|source stepping failed|singular matrix|"
                          r"no convergence|iteration limit|convergence)", re.IGNORECASE)
_SYNTAX = re.compile(r"(error on line|unknown|could not find|no such|undefined|not found|syntax|unrecognized|"
                     r"illegal|mismatch|too few|too many|bad )", re.IGNORECASE)


class Plot(dict):
    """Vectors of one analysis: name -> np.ndarray, read by what they are: ``voltage('n')``, ``current('vsrc')``,
    ``time`` (transient), ``sweep`` (dc)."""

    def __init__(self, name: str, vectors: dict[str, np.ndarray]):
        super().__init__(vectors)
        self.name = name

    def voltage(self, node: str) -> np.ndarray:
        key = Voltage(node).vector
        for k in (key, f"v({key})"):
            if k in self:
                return self[k]
        raise KeyError(f"no voltage vector for node '{key}' in plot {self.name} (have: {', '.join(sorted(self))})")

    def current(self, source: str) -> np.ndarray:
        key = Current(source).vector
        if key not in self:
            raise KeyError(f"no branch current for '{source}' in plot {self.name} (have: {', '.join(sorted(self))})")
        return self[key]

    @property
    def time(self) -> np.ndarray:
        return self._scale(Tran.scale)

    @property
    def sweep(self) -> np.ndarray:
        """The swept source's values of a dc analysis."""
        return self._scale("v-sweep", "i-sweep")

    def _scale(self, *names: str) -> np.ndarray:
        for k in names:
            if k in self:
                return self[k]
        raise KeyError(f"no {' or '.join(names)} vector in plot {self.name} (have: {', '.join(sorted(self))})")

    v = voltage  # short names, as in ngspice's v(node) and i(source)
    i = current


def classify(lines: list[str], what: str) -> SpiceError:
    text = "; ".join(lines[:6]) or "ngspice reported an error"
    if any(_CONVERGENCE.search(line) for line in lines):
        return SpiceConvergenceError(f"{what}: simulation did not converge: {text}", lines)
    if any(_SYNTAX.search(line) for line in lines):
        return SpiceSyntaxError(f"{what}: netlist error: {text}", lines)
    return SpiceError(f"{what}: {text}", lines)


class Session:
    """One circuit in this process's libngspice. Use as a context manager; only one session is live at a time."""

    def __init__(self, netlist: str, title: str = "netlist"):
        self.title = title
        self._ng = engine()
        self._lock = engine_lock()
        self._lock.acquire()
        try:
            self._raw("remcirc", check=False)
            self._ng.destroy()
            self._load(netlist)
        except BaseException:
            self._lock.release()
            raise
        self._open = True

    def _errors(self) -> list[str]:
        return self._ng.__dict__.setdefault("_imc_error_lines", [])

    def _raw(self, command: str, check: bool = True) -> str:
        self._errors().clear()
        out = self._ng.exec_command(command)
        errs = list(self._errors())
        if check and errs:
            raise classify(errs, f"{self.title}: '{command}'")
        return out

    def _load(self, netlist: str) -> None:
        lines = netlist.splitlines()
        if not lines or lines[-1].strip().lower() != ".end":
            lines.append(".end")
        self._errors().clear()
        try:
            self._ng.load_circuit("\n".join(lines))
        except NameError as exc:  # PySpice 1.5 signals a failed ngSpice_Circ with a bare NameError
            errs = list(self._errors()) or [str(exc)]
            raise classify(errs, f"{self.title}: loading") from None
        errs = list(self._errors())
        if errs:
            raise classify(errs, f"{self.title}: loading")

    def cmd(self, command: str) -> str:
        """Run any ngspice command (lower-case device names: shared mode requires it); errors raise typed exceptions."""
        return self._raw(command)

    def alter(self, device: str, value: float | None = None, **params: float) -> None:
        if value is not None:
            self._raw(f"alter {device.lower()} dc={value!r}")
        for k, v in params.items():
            self._raw(f"alter {device.lower()} {k}={v!r}")

    def alterparam(self, **params: float) -> None:
        """Change .param values and re-expand the netlist from memory (no file re-read)."""
        for k, v in params.items():
            self._raw(f"alterparam {k}={v!r}")
        self._raw("reset")

    def run(self, analysis: str | Analysis, vectors: Iterable[Vector] | None = None) -> Plot:
        """Run one analysis (a record, or its text: 'op', 'dc vmem 0 1.8 0.01', 'tran 1n 3u', ...) and return its
        vectors."""
        text = analysis if isinstance(analysis, str) else analysis.command()
        if text.split()[0].lower() not in ANALYSES:
            raise ValueError(f"not an analysis command: {text!r}")
        self._raw(text)
        return self.current_plot(vectors)

    def current_plot(self, vectors: Iterable[Vector] | None = None) -> Plot:
        # lazy: PySpice comes with libngspice (engine()); at the top it would slow every CLI start
        from PySpice.Spice.NgSpice.Shared import FFI, ffi, ffi_string_utf8

        lib = self._ng._ngspice_shared
        plot_name = ffi_string_utf8(lib.ngSpice_CurPlot())
        names: list[str] = []
        arr = lib.ngSpice_AllVecs(plot_name.encode())
        i = 0
        while arr[i] != FFI.NULL:
            names.append(ffi_string_utf8(arr[i]))
            i += 1
        wanted = None if vectors is None else {vector_name(w) for w in vectors}
        out: dict[str, np.ndarray] = {}
        for name in names:
            if wanted is not None and name.lower() not in wanted:
                continue
            info = lib.ngGet_Vec_Info(f"{plot_name}.{name}".encode())
            n = info.v_length
            if info.v_compdata == FFI.NULL:
                out[name.lower()] = np.frombuffer(ffi.buffer(info.v_realdata, n * 8), dtype=np.float64).copy()
            else:
                raw = np.frombuffer(ffi.buffer(info.v_compdata, n * 16), dtype=np.float64)
                out[name.lower()] = raw[0::2] + 1j * raw[1::2]
        if wanted is not None and wanted - set(out):
            missing = ", ".join(sorted(wanted - set(out)))
            raise SpiceSyntaxError(f"{self.title}: no vector(s) {missing} in plot {plot_name} (have: {', '.join(names)})")
        return Plot(plot_name, out)

    def close(self) -> None:
        if getattr(self, "_open", False):
            self._open = False
            try:
                self._raw("remcirc", check=False)
                self._ng.destroy()
            finally:
                self._lock.release()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
