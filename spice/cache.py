"""Content-hashed on-disk cache of simulation results.

Key = sha256 of (netlist text, content hash of every model file the netlist includes, the version libngspice itself
reports (not the CLI's, which may be missing or another build), the commands, and the random seed of a seeded job:
a mismatch section draws per instance, so another seed is another circuit).
The section (corner) is in the netlist's `.lib` line, so a changed netlist, corner or PDK can never hit a stale entry.
Each entry stores its own checksum; a corrupted entry is detected, discarded and recomputed.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import sys
from pathlib import Path

import numpy as np

from imcpnn.atomic import atomic_write_bytes, unwritable_reason
from imcpnn.errors import ConfigError
from imcpnn.paths import user_cache_dir
from imcpnn.pdk.library import file_closure_hash

_LIBREF = re.compile(r"""^\s*\.(?:lib|include|inc)\s+["']?([^"'\s]+)""", re.IGNORECASE | re.MULTILINE)


def default_cache_dir() -> Path:
    return user_cache_dir("sim", "IMC_CACHE_DIR")


def models_hash(netlist: str) -> str:
    """Hash of the content of every model/include file a netlist names (closure included)."""
    h = hashlib.sha256()
    for path in _LIBREF.findall(netlist):
        digest = file_closure_hash(path) if Path(path).is_file() else "missing"
        h.update(f"{path}={digest}\n".encode())
    return h.hexdigest()


def job_key(netlist: str, commands: tuple[str, ...], vectors: tuple[str, ...] | None, ngspice_version: str,
            seed: int | None = None) -> str:
    fields = {"netlist": netlist, "models": models_hash(netlist), "ngspice": ngspice_version,
              "commands": list(commands), "vectors": None if vectors is None else list(vectors)}
    if seed is not None:  # only then: the keys of unseeded jobs stay what they were (warm caches remain valid)
        fields["seed"] = seed
    payload = json.dumps(fields, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


class ResultCache:
    """A cache directory that cannot be written is not an error: the work runs without storing results (one
    warning), rather than failing after its first job and losing every result."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()
        self.hits = 0
        self.misses = 0
        reason = unwritable_reason(self.root)
        self.writable = reason is None
        if reason:
            _warn_unwritable(self.root, reason)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npz"

    def get(self, key: str) -> list[dict[str, np.ndarray]] | None:
        path = self._path(key)
        if path.is_dir():  # a directory where an entry belongs: not ours to delete, and no result could replace it
            raise ConfigError(f"simulation cache entry {path} cannot be read (Is a directory): remove it, or run "
                              "with --no-cache")
        try:
            blob = path.read_bytes()
        except OSError:  # absent, or a cache root or file that cannot be read: a miss, the job runs
            self.misses += 1
            return None
        digest, _, payload = blob.partition(b"\n")
        try:
            if hashlib.sha256(payload).hexdigest().encode() != digest:
                raise ValueError("checksum mismatch")
            with np.load(io.BytesIO(payload), allow_pickle=False) as z:
                n = int(z["__nplots__"])
                plots: list[dict[str, np.ndarray]] = [{} for _ in range(n)]
                for name in z.files:
                    if name == "__nplots__":
                        continue
                    idx, _, vec = name.partition("::")
                    plots[int(idx)][vec] = z[name]
        except Exception:
            path.unlink(missing_ok=True)  # corrupted: discard, the caller recomputes
            self.misses += 1
            return None
        self.hits += 1
        return plots

    def put(self, key: str, plots: list[dict[str, np.ndarray]]) -> None:
        if not self.writable:
            return
        arrays = {f"{i}::{name}": np.asarray(v) for i, p in enumerate(plots) for name, v in p.items()}
        arrays["__nplots__"] = np.array(len(plots))
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        payload = buf.getvalue()
        try:
            atomic_write_bytes(self._path(key), hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
        except OSError as exc:  # e.g. the disk filled up during the run
            self.writable = False
            _warn_unwritable(self.root, exc.strerror or type(exc).__name__)


def _warn_unwritable(root: Path, reason: str) -> None:
    print(f"warning: simulation cache {root} cannot be written ({reason}); running without it (set IMC_CACHE_DIR "
          f"or pass --no-cache)", file=sys.stderr, flush=True)
