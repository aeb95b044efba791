"""Atomic file writes: an interrupted write leaves the previous good file in place.

A new file gets the permissions an ordinary `open()` would give it (0666 less the umask); a replaced file keeps its
own. The directory is fsynced after the rename, so the new name survives a power cut too."""

from __future__ import annotations

import json
import os
import secrets
import stat
import tempfile
from pathlib import Path
from typing import Any

from imcpnn.errors import ImcError


def _umask() -> int:
    try:  # Linux reports it without changing it
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    # elsewhere it can only be read by setting it: set it straight back
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _target_mode(path: Path) -> int:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return 0o666 & ~_umask()


def fsync_dir(path: str | os.PathLike) -> None:
    """Make a rename or a new entry in directory `path` durable (best effort where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _target_mode(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)
    return path


def atomic_create_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Create `path` holding `data`, complete, or raise FileExistsError if it exists: the file is written under a
    temporary name and hard-linked to its final name (a link never replaces), so of several writers exactly one
    succeeds and no reader ever sees a partial file."""
    path = Path(path)
    tmp = atomic_write_bytes(path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.new"), data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: exclusive create
        with open(path, "xb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
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
