"""Fixes for PySpice 1.5 on ngspice >= 36 and numpy 2 (docs/toolchain.md). Applied once, before any simulation.

1. Shared mode: PySpice flags every stderr line not starting with "Warning:" as an error, but ngspice 39 prints
   informational lines ("Note: ...", "Trying gmin stepping", "Supplies reduced", "Using SPARSE ..."). We classify each
   line: known-benign lines are logged, lines that look like genuine errors are recorded (for typed exceptions).
2. Subprocess mode: ngspice prints "Note:" lines before the raw file's "Circuit:" header, and numpy 2 removed binary
   `np.fromstring`; we skip to the header and read with `np.frombuffer`.
3. The "Unsupported Ngspice version" log line is harmless; it is filtered.
"""

from __future__ import annotations

import logging
import re
import types

import numpy as np

_APPLIED = False
log = logging.getLogger("imcpnn.spice")

_NOTICE = re.compile(r"^(note|warning):", re.IGNORECASE)
_FATAL = re.compile(r"(error|fail|abort|too small)", re.IGNORECASE)
_BENIGN = re.compile(
    r"^(trying gmin|trying source|supplies reduced|using |gmin step|source step|"
    r"reference value|doing analysis|no\. of data|circuit:|initial transient|transient op|total analysis|"
    r"option |reset re-loads circuit|\s*$)", re.IGNORECASE)
_ERRORISH = re.compile(
    r"(error|fail|abort|singular|too small|unknown|could not|can't find|cannot|no such|undefined|not found|"
    r"mismatch|illegal|bad |unrecognized|timestep)", re.IGNORECASE)


def is_error_line(content: str) -> bool:
    """True when an ngspice output line reports a genuine error (used for both stdout and stderr)."""
    text = content.strip()
    if _NOTICE.match(text):
        return False
    if _FATAL.search(text):
        return True
    if _BENIGN.match(text):
        return False
    return bool(_ERRORISH.search(text))


def _send_char(message_c, ngspice_id, user_data):  # replaces NgSpiceShared._send_char
    # lazy (here and in apply): PySpice is loaded with libngspice only; at the top it would slow every CLI start
    from PySpice.Spice.NgSpice.Shared import ffi, ffi_string_utf8

    self = ffi.from_handle(user_data)
    message = ffi_string_utf8(message_c)
    prefix, _, content = message.partition(" ")
    errors = self.__dict__.setdefault("_imc_error_lines", [])
    if prefix == "stderr":
        self._stderr.append(content)
    else:
        self._stdout.append(content)
    if is_error_line(content):
        errors.append(content.strip())
        log.debug("ngspice error: %s", content)
    else:
        log.debug("ngspice: %s", content)
    return 0


class _NumpyShim(types.SimpleNamespace):
    """numpy with a working binary `fromstring` for PySpice's raw-file reader."""

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def fromstring(data, count=-1, dtype=float, **_):
        return np.frombuffer(data, count=count, dtype=dtype).copy()


def _skip_to_header(original):
    def _read_header(self, stdout):
        start = stdout.find(b"Circuit:")
        return original(self, stdout[start:] if start > 0 else stdout)
    return _read_header


class _DropUnsupported(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Unsupported Ngspice version" not in record.getMessage()


def apply() -> None:
    """Idempotently patch PySpice. Call before creating any NgSpiceShared instance."""
    global _APPLIED
    if _APPLIED:
        return
    from PySpice.Spice import RawFile as base_raw
    from PySpice.Spice.NgSpice import RawFile as ng_raw
    from PySpice.Spice.NgSpice.Shared import NgSpiceShared

    NgSpiceShared._send_char = staticmethod(_send_char)
    base_raw.np = _NumpyShim()
    ng_raw.RawFile._read_header = _skip_to_header(ng_raw.RawFile._read_header)
    logging.getLogger("PySpice").addFilter(_DropUnsupported())
    for name in ("PySpice.Spice.NgSpice.Shared.NgSpiceShared", "PySpice.Spice.NgSpice.Shared"):
        logging.getLogger(name).addFilter(_DropUnsupported())
    _APPLIED = True
