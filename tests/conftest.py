"""Shared fixtures. Tests that need ngspice + sky130 are marked `spice`; they skip with a reason only when the
toolchain is absent on a developer machine, and fail in CI (IMC_REQUIRE_SPICE=1, set by .ci/run)."""

from __future__ import annotations

import os
import shutil

import pytest


def _spice_ready() -> str | None:
    if shutil.which("ngspice") is None:
        return "ngspice not installed (make setup)"
    try:
        from imcpnn.pdk import find_pdk

        find_pdk()
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return str(exc)
    return None


def pytest_collection_modifyitems(config, items):
    reason = _spice_ready()
    if reason is None:
        return
    if os.environ.get("IMC_REQUIRE_SPICE") == "1":
        raise pytest.UsageError(f"spice tests required but toolchain missing: {reason}")
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "spice" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def tmp_cache(tmp_path):
    from imcpnn.spice.cache import ResultCache

    return ResultCache(tmp_path / "cache")


@pytest.fixture(scope="session")
def tt_cell(tmp_path_factory):
    """The default design extracted at tt (one extraction per test session, ~40 s cold)."""
    from imcpnn.extract.run import extract_corners
    from imcpnn.netlists import default_design
    from imcpnn.spice.cache import ResultCache

    root = tmp_path_factory.mktemp("tt_cell")
    cells, _ = extract_corners(default_design(), ["tt"], workers=2, cache=ResultCache(root / "cache"), progress=False)
    cell = cells["tt"][0]
    cell.save(root / "cell.json")
    return cell


@pytest.fixture(scope="session", autouse=True)
def _in_process_cli_exits_raise():
    """In-process CLI calls (click's CliRunner) must raise SystemExit, not end the test process: the CLIs leave with
    os._exit once libngspice is loaded in their process (to skip its crash-prone teardown), and an earlier test may
    have loaded it in this one. Session scope, so that module- and session-scoped fixtures that call a CLI are covered
    too (a function-scoped patch comes after them: a module fixture's CLI call ended a whole run with status 0)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("imcpnn.cli.common._ngspice_loaded", lambda: False)
        yield
