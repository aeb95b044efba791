"""imc-layout: help and usage errors answer without the layout stage; a refused overwrite is one line."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "imcpnn.cli.layout", *args], capture_output=True, text=True,
                          timeout=120)


def test_help_version_and_bad_cell():
    assert _cli("-h").returncode == 0
    p = _cli("--version")
    assert p.returncode == 0 and p.stdout.strip() == "imc-layout, version 0.1.0"
    p = _cli("extract", "0x3", "-o", "x.spice")
    assert p.returncode == 2 and p.stderr.strip().startswith("error: cell '0x3'") and "Traceback" not in p.stderr


@pytest.mark.layout
def test_draw_refuses_to_replace_a_file(tmp_path):
    out = tmp_path / "syn.gds"
    assert _cli("draw", "imc_synapse", "-o", str(out)).returncode == 0
    assert out.stat().st_size > 1000 and out.with_suffix(".cdl").read_text().startswith(".subckt imc_synapse")
    p = _cli("draw", "imc_synapse", "-o", str(out))
    assert p.returncode == 2 and p.stderr.strip() == f"error: {out} exists; pass --force to replace it"
