"""Atomic file writes: an interrupted write leaves the previous good file in place."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from imcpnn.errors import ImcError


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int = 2) -> Path:
    """Write strict JSON: NaN or infinity (which json would write as the invalid tokens NaN / Infinity) is refused
    and the earlier file stays."""
    try:
        text = json.dumps(obj, indent=indent, sort_keys=False, allow_nan=False)
    except ValueError:
        raise ImcError(f"{path}: refusing to write a result that holds NaN or infinity (not valid JSON); "
                       f"the earlier file is kept") from None
    return atomic_write_text(path, text + "\n")


def unwritable_reason(directory: str | os.PathLike) -> str | None:
    """Why no file can be written in `directory` (created if missing), or None when one can. A real probe (a
    temporary file), because permission bits say nothing for root, a read-only mount or a path through a file."""
    if Path(directory).exists() and not Path(directory).is_dir():
        return "Not a directory"
    try:
        Path(directory).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None
