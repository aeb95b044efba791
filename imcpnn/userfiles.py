"""Reading files the user names: every way that can fail is one ConfigError naming the file, never a traceback."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np

from imcpnn.errors import ConfigError


def read_user_text(path: str | Path, what: str) -> str:
    """The UTF-8 text of a user's file; `what` names it in the message ("cell params file", "config")."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{what} {p} is a directory, not a file")
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {p} is not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8") from None
    except FileNotFoundError:
        raise ConfigError(f"{what} {p} not found") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {p}: {exc.strerror or exc}") from None


def load_csv_matrix(path: str | Path, what: str, skiprows: int = 0) -> np.ndarray:
    """A numeric CSV as a 2-D float array (one row per sample); empty, ragged or non-numeric files are ConfigErrors."""
    p = Path(path)
    text = read_user_text(p, what)
    if not text.strip():
        raise ConfigError(f"{what} {p} is empty: one row per sample, comma-separated numbers")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy warns about empty input before raising/returning
            x = np.loadtxt(io.StringIO(text), delimiter=",", ndmin=2, skiprows=skiprows)
    except ValueError as exc:
        raise ConfigError(f"{what} {p}: not a numeric CSV ({str(exc).splitlines()[0]})") from None
    if x.size == 0:
        raise ConfigError(f"{what} {p} holds no samples: one row per sample, comma-separated numbers")
    return x
