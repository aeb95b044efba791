"""Parsing SPICE model libraries: the `.include`/`.lib` closure of a file and its `.lib` sections."""

from __future__ import annotations

import posixpath
import re
from typing import Callable

_INCLUDE = re.compile(r"""^\s*\.(include|inc|lib)\s+["']?([^"'\s]+)["']?(?:\s+(\S+))?""", re.IGNORECASE)


def referenced_files(text: str, here: str) -> list[str]:
    """Paths (posix, relative to the library root) that `text`, located at `here`, includes or pulls a .lib from."""
    out: list[str] = []
    base = posixpath.dirname(here)
    for line in text.splitlines():
        m = _INCLUDE.match(line)
        if not m:
            continue
        kind, target, section = m.group(1).lower(), m.group(2), m.group(3)
        if kind == "lib" and section is None:
            continue  # `.lib name` opens a section; it names no file
        out.append(posixpath.normpath(posixpath.join(base, target)))
    return out


def closure(root: str, read: Callable[[str], str]) -> list[str]:
    """Every file reachable from `root` through .include/.lib, in discovery order. `read` raises KeyError if absent."""
    seen: list[str] = []
    stack = [root]
    while stack:
        path = stack.pop()
        if path in seen:
            continue
        text = read(path)
        seen.append(path)
        stack.extend(reversed(referenced_files(text, path)))
    return seen


def lib_sections(text: str) -> dict[str, list[str]]:
    """Map `.lib NAME` -> the lines between it and `.endl NAME`."""
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        s = line.strip()
        low = s.lower()
        if current is None and low.startswith(".lib ") and len(s.split()) == 2:
            current = s.split()[1]
            sections[current] = []
        elif current is not None and low.startswith(".endl"):
            current = None
        elif current is not None:
            sections[current].append(line)
    return sections


def cut_subckts(text: str, names: tuple[str, ...]) -> tuple[str, dict[str, str]]:
    """Split a model file into (text outside any .subckt, {name: subckt block}) for the wanted subckt names."""
    outside: list[str] = []
    blocks: dict[str, list[str]] = {}
    current: str | None = None
    keep = {n.lower() for n in names}
    for line in text.splitlines():
        low = line.strip().lower()
        if current is None and low.startswith(".subckt"):
            name = low.split()[1]
            current = name
            if name in keep:
                blocks[name] = [line]
            continue
        if current is not None:
            if current in blocks:
                blocks[current].append(line)
            if low.startswith(".ends"):
                current = None
            continue
        outside.append(line)
    return "\n".join(outside), {k: "\n".join(v) for k, v in blocks.items()}
