"""pyproject.toml builds without setuptools warnings of its own making (check by hand:
`.venv/bin/pip install -v --no-deps -e . 2>&1 | grep -i warn`): an SPDX license string, and every folder that ships
package data listed as a package."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_license_is_an_spdx_string():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert isinstance(project["license"], str)


def test_package_data_lives_in_listed_packages():
    st = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    for pkg, patterns in st["package-data"].items():
        assert pkg in st["packages"], pkg
        assert all("/" not in p for p in patterns), f"{pkg}: {patterns} reach into a folder that is not a package"
