"""Result files: one small JSON per measured paper claim, written by the command that measured it.

`scripts/paper_claims.py` turns the folder of them (default `docs/results/`) into `docs/paper-claims.md`, so the
claims table is regenerated without re-running any measurement. A file holds (schema 1):

    {
      "schema": 1,
      "claim": "3",                 # the claim's id in scripts/paper_claims.py CLAIMS (e.g. "1", "5-wide", "noise")
      "figure": "97.9 % (digits)",  # the project's figure, one line of markdown, as the table shows it
      "status": "partial",          # reproduced | partial | differs | not possible here
      "why": "digits, not ...",     # one sentence: what the status rests on (required unless reproduced)
      "command": "imc-train ...",   # the command that wrote this file (re-run it to re-measure)
      "date": "2026-11-29T20:15Z",  # UTC, when it was measured
      "conditions": {...},          # what the figure depends on: data, epochs, seeds, machine, load ...
      "data": {...},                # optional: the numbers behind the figure
      "paper_claim": "...",         # optional, only for an id CLAIMS does not list: the row's claim text
      "paper_figure": "..."         #   and the paper's figure
    }

The file is `<folder>/<claim>.json`; a re-measurement replaces it (the command is the way to regenerate it, and
the previous date is reported on stderr).
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from imcpnn.atomic import atomic_write_json
from imcpnn.errors import ConfigError

SCHEMA = 1
STATUSES = ("reproduced", "partial", "differs", "not possible here")
REQUIRED = ("claim", "figure", "status", "command", "date", "conditions")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")


def check_result(res: Any, where: str) -> dict:
    """Validate a result dict (one line ConfigError naming `where` on a defect) and return it."""
    if not isinstance(res, dict):
        raise ConfigError(f"{where}: a result must be a JSON object")
    missing = [k for k in REQUIRED if k not in res]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)} (format: imcpnn/results.py)")
    if res.get("schema") != SCHEMA:
        raise ConfigError(f"{where}: schema {res.get('schema')!r}, this version reads {SCHEMA}")
    if not isinstance(res["claim"], str) or not _ID.match(res["claim"]):
        raise ConfigError(f"{where}: claim id {res['claim']!r} must be 1-40 letters, digits, '.', '_' or '-'")
    if res["status"] not in STATUSES:
        raise ConfigError(f"{where}: status {res['status']!r} is not one of {', '.join(STATUSES)}")
    if res["status"] != "reproduced" and not str(res.get("why", "")).strip():
        raise ConfigError(f"{where}: status {res['status']!r} needs a 'why'")
    for key in ("figure", "command", "date"):
        if not isinstance(res[key], str) or not res[key].strip() or "\n" in res[key]:
            raise ConfigError(f"{where}: '{key}' must be a non-empty one-line string")
    if not isinstance(res["conditions"], dict):
        raise ConfigError(f"{where}: 'conditions' must be an object")
    return res


def write_result(folder: str | Path, claim: str, *, figure: str, status: str, command: str, conditions: dict,
                 why: str = "", data: dict | None = None, **extra: str) -> Path:
    """Write `<folder>/<claim>.json` atomically (format in the module docstring); returns its path."""
    res = {"schema": SCHEMA, "claim": claim, "figure": figure, "status": status, "why": why, "command": command,
           "date": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()), "conditions": conditions,
           "data": data or {}, **extra}
    path = Path(folder) / f"{claim}.json"
    check_result(res, str(path))
    if path.is_file():
        try:
            old = json.loads(path.read_text()).get("date", "?")
        except (OSError, ValueError, AttributeError):
            old = "unreadable"
        print(f"{path}: replaces the result dated {old}", file=sys.stderr)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_json(path, res)


def read_results(folder: str | Path) -> dict[str, dict]:
    """Every `*.json` result in folder, by claim id (an empty dict for a missing folder)."""
    out: dict[str, dict] = {}
    folder = Path(folder)
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            res = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ConfigError(f"{path}: not readable JSON ({exc})") from None
        check_result(res, str(path))
        if path.stem != res["claim"]:
            raise ConfigError(f"{path}: holds claim {res['claim']!r}; name it {res['claim']}.json")
        out[res["claim"]] = res
    return out
