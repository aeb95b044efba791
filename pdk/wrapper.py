"""Reading a sky130 device wrapper subcircuit: its ports, parameters, single element line and binned model cards.

The wrappers (`.subckt sky130_fd_pr__nfet_01v8 d g s b mult=1`, `.param l = 1 w = 1 ... swx_vth = {...}`, one
`M...` or `c...` line, then the `.model <base>.<n>` bins) are what the flat device form (imcpnn.pdk.flat) unrolls.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from imcpnn.errors import ConfigError

_ASSIGN = re.compile(r"([A-Za-z_]\w*)\s*=\s*(\{[^{}]*\}|[^\s{}=]+)")
# numbers (with exponent or SPICE suffix) first, so that the `E` of `1E-6` is never read as a name
_TOKEN = re.compile(r"(\d+\.?\d*(?:[eE][+-]?\d+)?[A-Za-z]*|\.\d+(?:[eE][+-]?\d+)?[A-Za-z]*)|([A-Za-z_]\w*)")
_RANDOM = re.compile(r"\b(agauss|gauss|aunif|unif|limit)\s*\(", re.IGNORECASE)
_BIN_LIMITS = ("lmin", "lmax", "wmin", "wmax")


@dataclass(frozen=True)
class Card:
    """One `.model` bin: its name suffix, type and parameter text, with its bin limits (metres)."""

    suffix: str
    kind: str
    body: str
    limits: dict[str, float]


@dataclass(frozen=True)
class Wrapper:
    name: str
    ports: tuple[str, ...]
    params: dict[str, str]  # in definition order: header defaults, then the .param block
    element: str  # `m` or `c`
    element_nodes: tuple[str, ...]
    model: str | None  # bin base name of an `m` element
    element_params: dict[str, str]
    cards: tuple[Card, ...]


def logical_lines(block: str) -> list[str]:
    """SPICE lines with `+` continuations joined and comment lines (which may sit between continuations) dropped."""
    out: list[str] = []
    for raw in block.splitlines():
        s = raw.strip()
        if not s or s.startswith("*"):
            continue
        if s.startswith("+"):
            if not out:
                raise ConfigError("a model file starts with a continuation line")
            out[-1] += " " + s[1:]
        else:
            out.append(s)
    return out


def assignments(text: str) -> tuple[dict[str, str], str]:
    """(`name = value` pairs in order with names lower-cased and braces removed, the text left without them)."""
    found = {m.group(1).lower(): m.group(2).strip("{}").strip() for m in _ASSIGN.finditer(text)}
    return found, _ASSIGN.sub(" ", text)


def substitute(expr: str, env: dict[str, str]) -> str:
    """`expr` with every name in `env` replaced by its (parenthesised) value; numbers and other names kept."""
    def repl(m: re.Match) -> str:
        name = m.group(2)
        if name is None or name.lower() not in env:
            return m.group(0)
        return f"({env[name.lower()]})"
    return _TOKEN.sub(repl, expr)


def names_in(expr: str) -> set[str]:
    return {m.group(2).lower() for m in _TOKEN.finditer(expr) if m.group(2)}


def random_calls(expr: str) -> int:
    return len(_RANDOM.findall(expr))


def _card(line: str, wrapper: str) -> Card:
    head = line.split(None, 3)
    if len(head) < 3 or "." not in head[1]:
        raise ConfigError(f"wrapper {wrapper}: model card {head[1] if len(head) > 1 else line!r} is not a binned card")
    body = head[3] if len(head) > 3 else ""
    values, _ = assignments(body)
    try:
        limits = {k: float(values[k]) for k in _BIN_LIMITS}
    except (KeyError, ValueError):
        raise ConfigError(f"wrapper {wrapper}: model {head[1]} lacks numeric lmin/lmax/wmin/wmax") from None
    return Card(head[1].split(".", 1)[1], head[2].lower(), body, limits)


def parse_wrapper(block: str) -> Wrapper:
    """A wrapper subcircuit's parts; refuses any shape the flat form cannot reproduce exactly."""
    lines = logical_lines(block)
    header, rest = assignments(lines[0])
    tokens = rest.split()
    if len(tokens) < 3 or tokens[0].lower() != ".subckt" or not lines[-1].lower().startswith(".ends"):
        raise ConfigError(f"not a subcircuit block: {lines[0][:60]!r}")
    name, ports = tokens[1].lower(), tuple(t.lower() for t in tokens[2:])
    params = dict(header)
    elements, cards = [], []
    for line in lines[1:-1]:
        low = line.lower()
        if low.startswith(".param"):
            params.update(assignments(line[len(".param"):])[0])
        elif low.startswith(".model"):
            cards.append(_card(line, name))
        elif low[0] in "mc":
            elements.append(line)
        else:
            raise ConfigError(f"wrapper {name}: line {line[:40]!r} has no flat equivalent")
    if len(elements) != 1:
        raise ConfigError(f"wrapper {name} holds {len(elements)} elements; the flat form needs exactly one")
    eparams, rest = assignments(elements[0])
    tokens = rest.split()
    kind = tokens[0][0].lower()
    n_nodes = 4 if kind == "m" else 2
    nodes = tuple(t.lower() for t in tokens[1:1 + n_nodes])
    model = tokens[1 + n_nodes].lower() if kind == "m" and len(tokens) == 2 + n_nodes else None
    if len(nodes) != n_nodes or not set(nodes) <= set(ports) or (kind == "m") != (model is not None) \
            or (kind == "c" and len(tokens) != 1 + n_nodes):
        raise ConfigError(f"wrapper {name}: element {elements[0][:60]!r} is not a port-connected device")
    if kind == "m" and not cards:
        raise ConfigError(f"wrapper {name} holds no model cards for {model}")
    return Wrapper(name, ports, params, kind, nodes, model, eparams, tuple(cards))
