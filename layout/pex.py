"""Parasitic extraction with klayout-pex's 2.5D engine (capacitances, CC mode) from the LVS database, and the
extracted netlist rewritten as the subcircuit the netlists expect (same name and port order, ground as node 0)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from imcpnn.errors import ConfigError, MissingDependencyError

from .netlist import GROUND

_VALUE = re.compile(r"^([0-9.eE+-]+)([a-zA-Z]*)$")
_SCALE = {"": 1.0, "f": 1e-15, "a": 1e-18, "p": 1e-12, "n": 1e-9}


@dataclass(frozen=True)
class Extraction:
    subckt: str                      # the rewritten subcircuit text
    cap_to_net: dict[str, float]     # total extracted capacitance (F) on each net, its RC sub-nodes included
    seconds: float


MODES = ("CC", "RC")


def run_kpex(lvsdb: Path, cell: str, workdir: Path, mode: str = "CC", threads: int = 1) -> tuple[Path, float]:
    """klayout-pex, 2.5D engine, on an LVS database: capacitances (``mode`` CC) or capacitances and wire
    resistances (RC); devices such as the MIM are kept as devices (blackboxed), so that their own model gives their
    capacitance.  Returns the SPICE netlist it wrote and the seconds taken."""
    if mode not in MODES:
        raise ConfigError(f"extraction mode {mode!r}: use one of {MODES}")
    out = workdir / f"{cell}_kpex.spice"
    args = [sys.executable, "-m", "klayout_pex", "extract", "--pdk", "sky130A", "--lvsdb", str(lvsdb),
            "--cell", cell, "--2.5D", "--mode", mode, "--blackbox", "true", "--check", "true",
            # the version check asks the klayout executable (Debian: 0.28); the 2.5D engine runs on the
            # klayout Python module (>= 0.30) that this interpreter imports
            "--tool-version-checks", "warn", "--threads", str(threads),
            "--out-dir", str(workdir / "kpex"), "--out-netlist", str(out)]
    t0 = time.monotonic()
    proc = subprocess.run(args, capture_output=True, text=True)
    seconds = time.monotonic() - t0
    (workdir / f"{cell}_kpex.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0 or not out.is_file():
        text = proc.stdout + proc.stderr
        if "No module named klayout_pex" in text:
            raise MissingDependencyError("klayout-pex is not installed (make setup-layout)")
        last = [l for l in text.splitlines() if l.strip()][-1:] or ["no output"]
        raise MissingDependencyError(f"klayout-pex failed (exit {proc.returncode}): {last[0].strip()} "
                                     f"(log: {workdir / (cell + '_kpex.log')})")
    return out, seconds


def _logical(text: str) -> list[str]:
    lines: list[str] = []
    for raw in text.splitlines():
        if raw.startswith("+") and lines:
            lines[-1] += " " + raw[1:].strip()
        elif raw.strip() and not raw.startswith("*"):
            lines.append(raw.strip())
    return lines


def _farads(v: str) -> float:
    m = _VALUE.match(v)
    if m is None or m.group(2).lower() not in _SCALE:
        raise ConfigError(f"klayout-pex: cannot read the capacitance {v!r}")
    return float(m.group(1)) * _SCALE[m.group(2).lower()]


def _net(node: str) -> str:
    """The net a node of the kpex netlist belongs to (RC mode names a net's sub-nodes <net>.<piece>)."""
    return node.split(".", 1)[0]


def rewrite(text: str, name: str, ports: list[str]) -> tuple[str, dict[str, float]]:
    """The kpex netlist of ``name`` as subcircuit ``name`` with exactly ``ports`` (in that order; ground, the
    substrate, becomes node 0); internal nets and instance names made plain SPICE words."""
    lines = _logical(text)
    head = next((l for l in lines if l.lower().startswith(".subckt")), None)
    if head is None or head.split()[1] != name:
        raise ConfigError(f"klayout-pex wrote no subcircuit {name}")
    got = set(head.split()[2:]) - {GROUND}
    want = set(ports)
    if got != want:
        raise ConfigError(f"extracted {name}: ports differ from the netlist's (missing {sorted(want - got)[:8]}, "
                          f"extra {sorted(got - want)[:8]})")

    def node(n: str) -> str:
        if n == GROUND:
            return "0"
        if n in want:
            return n
        # an internal net ($12) or an RC sub-node (mem.$13.met2): one plain word that no port can be
        return "_" + re.sub(r"\W", "_", n.replace("\\", ""))

    body: list[str] = []
    caps: dict[str, float] = {}
    for line in lines:
        words = line.split()
        if words[0].lower() in (".subckt", ".ends"):
            continue
        kind = words[0][0].upper()
        inst = kind + "_" + re.sub(r"\W", "", words[0][1:])
        if kind == "C" and len(words) == 4:
            c = _farads(words[3])
            for n in {_net(words[1]), _net(words[2])}:
                caps[n] = caps.get(n, 0.0) + c
            body.append(f"{inst} {node(words[1])} {node(words[2])} {c:.6g}")
        elif kind == "R" and len(words) == 4:
            body.append(f"{inst} {node(words[1])} {node(words[2])} {float(words[3]):.6g}")
        elif kind == "X":
            at = next(k for k, w in enumerate(words) if w.startswith("sky130_fd_pr__"))
            body.append(" ".join([inst] + [node(n) for n in words[1:at]] + words[at:]))
        else:
            raise ConfigError(f"klayout-pex: unexpected line {line[:60]!r}")
    out = [f".subckt {name} {' '.join(ports)}", *body, f".ends {name}"]
    return "\n".join(out) + "\n", caps
