"""Per-user cache locations (one rule for every stage)."""

from __future__ import annotations

import os
from pathlib import Path


def user_cache_dir(sub: str, env_var: str) -> Path:
    """`$env_var` if set, else `$XDG_CACHE_HOME/imc-pnn/<sub>` (default `~/.cache/imc-pnn/<sub>`)."""
    env = os.environ.get(env_var)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "imc-pnn" / sub
