"""Faults that used to lose or mix up data: file modes, overwrites, interrupted and concurrent runs."""

from __future__ import annotations

import os
import stat

from imcpnn.atomic import atomic_write_text


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_write_respects_umask_and_keeps_existing_mode(tmp_path):
    old = os.umask(0o022)
    try:
        new = atomic_write_text(tmp_path / "new.txt", "a")
        assert _mode(new) == 0o644
        os.umask(0o077)
        assert _mode(atomic_write_text(tmp_path / "private.txt", "a")) == 0o600
        # replacing a file keeps that file's mode, whatever the umask
        shared = tmp_path / "shared.txt"
        shared.write_text("old")
        os.chmod(shared, 0o644)
        atomic_write_text(shared, "new")
        assert _mode(shared) == 0o644 and shared.read_text() == "new"
    finally:
        os.umask(old)
