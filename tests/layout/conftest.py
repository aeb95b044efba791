"""The layout tests need KLayout's Python module (the [layout] extra); LVS also the klayout executable, extraction
klayout-pex (make setup-layout).  Without them they skip with the reason; IMC_REQUIRE_LAYOUT=1 makes that an
error instead (CI)."""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest


def _missing() -> dict[str, str | None]:
    module = (None if importlib.util.find_spec("klayout")
              else "KLayout's Python module is not installed (pip install '.[layout]')")
    exe = None if shutil.which("klayout") else "the klayout executable is not installed (make setup-layout)"
    kpex = None if importlib.util.find_spec("klayout_pex") else "klayout-pex is not installed (make setup-layout)"
    return {"layout": module, "lvs": module or exe or kpex, "pex": module or exe or kpex}


def pytest_collection_modifyitems(config, items):
    missing = _missing()
    for item in items:
        for mark in ("layout", "lvs", "pex"):
            reason = missing[mark]
            if item.get_closest_marker(mark) is not None and reason:
                if os.environ.get("IMC_REQUIRE_LAYOUT") == "1":
                    raise pytest.UsageError(f"layout tests required but: {reason}")
                item.add_marker(pytest.mark.skip(reason=reason))
