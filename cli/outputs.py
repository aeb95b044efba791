"""Output paths are checked before any simulation or fit runs, so a bad --out or --report costs seconds, not the run."""

from __future__ import annotations

from pathlib import Path

from imcpnn.atomic import unwritable_reason
from imcpnn.errors import ConfigError


def check_output_dir(path: Path, option: str) -> None:
    """The directory's parent must take new entries (outputs may be staged beside it and renamed into place), and
    the directory itself, where it exists already, must take files."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {path} is a file; give a directory")
    for where in (path.parent, path) if path.is_dir() else (path.parent,):
        reason = unwritable_reason(where)
        if reason:
            raise ConfigError(f"{option} {path}: cannot write in {where} ({reason}); pick another {option}")


def check_output_file(path: Path, option: str) -> None:
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a directory; give a file name")
    reason = unwritable_reason(path.parent)
    if reason:
        raise ConfigError(f"{option} {path}: cannot write in {path.parent} ({reason}); pick another {option}")
