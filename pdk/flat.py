"""The flat device form: sky130 devices as direct `M`/`C` instances of their binned models, without the wrapper.

Why: each sky130 wrapper subcircuit holds all of its bins' `.model` cards, so ngspice copies every card for every
instance, and set-up time and memory grow far faster than the device count (figures: docs/circuit.md "Netlist
scale"). The flat form writes, once per netlist, the bins that can hold each geometry used, with the wrapper's
parameters substituted for that geometry, and turns every device line into an instance of those cards that carries
the wrapper's per-instance expressions (delvto, with its mismatch term).

Corners and mismatch: the global (corner) parameters stay symbolic in the cards, so one set of cards serves every
corner section and ngspice evaluates them once, as with the wrapper. The per-instance mismatch draws (AGAUSS in the
wrapper's `.param`s, switched on by MC_MM_SWITCH in the `*_mm` sections) stay on each instance line, so every device
still draws its own value. A wrapper whose random parameter would land in a shared card, or be drawn more than once
per device, is refused rather than changed.

Monte Carlo (`mc` section) is refused: there ngspice draws the process parameters (AGAUSS in the global `.param`s)
differently per copy of a card. Measured on two identical nfet_01v8 (W 1, L 0.25) in one `mc` run: with the wrapper
they differ slightly (0.03 % in current), with one shared flat card they are equal, with a flat card copy each they
differ by 3 %. Neither flat variant reproduces the wrapper, so `mc` stays with device_form "subckt".
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from imcpnn.errors import ConfigError, MissingDependencyError
from imcpnn.pdk.closure import _INCLUDE, closure, cut_subckts, lib_sections
from imcpnn.pdk.source import CAP_DEVICES, FET_DEVICES
from imcpnn.pdk.wrapper import Card, Wrapper, names_in, parse_wrapper, random_calls, substitute

SCALE = 1e-6  # the library's `.option scale=1.0u`: W and L are written in um, bin limits are in metres
_DEVICE_LINE = re.compile(r"^X(\S+)\s+(.*?)\s*\b(sky130_fd_pr__\w+)((?:\s+\w+=\S+)*)\s*$", re.IGNORECASE)
_REL_TOL = 1e-9
# Sections whose process draws come out partly per device in the wrapper form (see above): refused.
PER_INSTANCE_PROCESS = ("mc",)
_PAIR = re.compile(r"[A-Za-z_]\w*\s*=\s*(?:\{[^{}]*\}|[^\s{}=]+)")


def lib_file(lib_line: str) -> Path:
    """The model file a `.lib "<path>" <section>` or `.include "<path>"` line names."""
    m = _INCLUDE.match(lib_line.strip())
    if not m:
        raise ConfigError(f"cannot read the model file from {lib_line!r}")
    return Path(m.group(2))


@functools.lru_cache(maxsize=8)
def _wrappers(path: str, section: str | None, mtime_ns: int) -> dict[str, Wrapper]:
    root = Path(path)
    found: dict[str, Wrapper] = {}
    wanted = tuple(d.lower() for d in FET_DEVICES + CAP_DEVICES)

    def read(rel: str) -> str:
        p = Path(rel) if os.path.isabs(rel) else root.parent / rel
        if not p.is_file():
            raise MissingDependencyError(f"model file {p} (included by {root}) is missing: reinstall the PDK")
        text = p.read_text(errors="replace")
        if rel == root.name and section:  # only what the selected section includes
            sections = {k.lower(): v for k, v in lib_sections(text).items()}
            if section.lower() not in sections:
                raise ConfigError(f"model library {root} has no section {section}")
            return "\n".join(sections[section.lower()])
        return text

    for rel in closure(root.name, read):
        text = read(rel)
        if ".subckt" in text.lower():
            for name, block in cut_subckts(text, wanted)[1].items():
                w = parse_wrapper(block)
                if found.setdefault(name, w) != w:
                    raise ConfigError(f"{name} is defined twice, differently, in {root} {section or ''}")
    return found


def wrappers(lib_line: str) -> dict[str, Wrapper]:
    """The device wrappers that the library section behind `lib_line` defines, by lower-case subcircuit name."""
    m = _INCLUDE.match(lib_line.strip())
    p = lib_file(lib_line)
    if not p.is_file():
        raise MissingDependencyError(f"model library {p} is missing: run `imc-extract pdk install`")
    section = m.group(3) if m and m.group(1).lower() == "lib" else None
    return _wrappers(str(p), section, p.stat().st_mtime_ns)


def _resolve(w: Wrapper, given: dict[str, str]) -> dict[str, str]:
    """Every wrapper parameter as an expression of the instance values and global names only."""
    unknown = sorted(set(given) - set(w.params))
    if unknown:
        raise ConfigError(f"{w.name} has no parameter(s) {', '.join(unknown)}")
    env: dict[str, str] = {}
    for name, expr in w.params.items():
        env[name] = substitute(given.get(name, expr), env)
    return env


def _tag(given: dict[str, str]) -> str:
    text = "_".join(f"{k}{v}" for k, v in sorted(given.items()))
    return re.sub(r"[^A-Za-z0-9_]", lambda m: {".": "p", "-": "m"}.get(m.group(0), "x"), text)


def _fits(card: Card, l_m: float, widths: tuple[float, ...]) -> bool:
    lim = card.limits

    def inside(v: float, lo: float, hi: float) -> bool:
        return lo * (1 - _REL_TOL) <= v <= hi * (1 + _REL_TOL)
    return inside(l_m, lim["lmin"], lim["lmax"]) and any(inside(x, lim["wmin"], lim["wmax"]) for x in widths)


def model_cards(w: Wrapper, given: dict[str, str]) -> tuple[str, list[str]]:
    """(bin base name, `.model` lines) of the bins that can hold this geometry, wrapper parameters substituted.
    ngspice then picks the bin itself, by its own rule, among these few."""
    env = _resolve(w, given)
    try:
        l_m, w_m, nf = (float(eval_number(env[k])) for k in ("l", "w", "nf"))
    except KeyError as e:
        raise ConfigError(f"{w.name} has no parameter {e}") from None
    base = f"{w.name.removeprefix('sky130_fd_pr__')}__{_tag(given)}"
    lines = []
    for card in w.cards:
        if not _fits(card, l_m * SCALE, (w_m * SCALE, w_m * SCALE / nf)):
            continue
        body = re.sub(r"\{([^{}]*)\}", lambda m: "{" + substitute(m.group(1), env) + "}", card.body)
        if random_calls(body):
            raise ConfigError(f"{w.name}: a per-instance random parameter feeds the shared card {card.suffix}; "
                              "the flat device form cannot keep it, use device_form 'subckt'")
        pairs = [m.group(0) for m in _PAIR.finditer(body)]
        lines.append(f".model {base}.{card.suffix} {card.kind}")
        lines += ["+ " + " ".join(pairs[i:i + 4]) for i in range(0, len(pairs), 4)]
    if not lines:
        raise ConfigError(f"{w.name}: no model bin holds L={given.get('l')} W={given.get('w')}")
    return base, lines


def eval_number(expr: str) -> float:
    """A plain number, possibly parenthesised (instance W, L, nf are written as numbers)."""
    try:
        return float(expr.strip().strip("()").strip())
    except ValueError:
        raise ConfigError(f"instance geometry {expr!r} must be a plain number in the flat device form") from None


def element_line(w: Wrapper, name: str, nodes: list[str], given: dict[str, str], model: str | None,
                 extra: str = "") -> str:
    """The device as one `M`/`C` line; the wrapper's per-instance expressions (mismatch draws) on it."""
    if len(nodes) != len(w.ports):
        raise ConfigError(f"{w.name} takes {len(w.ports)} nodes, got {len(nodes)} on X{name}")
    env = _resolve(w, given)
    port = dict(zip(w.ports, nodes))
    out = [f"{w.element.upper()}{name}", *(port[n] for n in w.element_nodes)]
    if model:
        out.append(model)
    draws_wrapper = sum(random_calls(w.params[k]) for k in _reachable(w)) + \
        sum(random_calls(v) for v in w.element_params.values())
    draws_flat = 0
    for key, expr in w.element_params.items():
        value = substitute(expr, env)
        draws_flat += random_calls(value)
        try:
            out.append(f"{key}={float(value.strip('() ')):.12g}")
        except ValueError:
            out.append(f"{key}={{{value}}}")
    if draws_flat != draws_wrapper:
        raise ConfigError(f"{w.name}: a random parameter is used more than once per device; the flat device form "
                          "would draw it twice, use device_form 'subckt'")
    return " ".join(out) + extra


def _reachable(w: Wrapper) -> set[str]:
    """Wrapper parameters the element line depends on (each is drawn once per device in the wrapper)."""
    seen: set[str] = set()
    todo = set().union(*(names_in(v) for v in w.element_params.values())) & set(w.params)
    while todo:
        k = todo.pop()
        seen.add(k)
        todo |= (names_in(w.params[k]) & set(w.params)) - seen
    return seen


def flatten_netlist(text: str, lib_line: str) -> str:
    """`text` with every sky130 device line (`X<name> <nodes> sky130_fd_pr__<device> W=.. L=.. [nf=..] [m=..]`) in
    the flat form and the model cards they use placed once, right after `lib_line`."""
    section = _INCLUDE.match(lib_line.strip())
    if section and (section.group(3) or "").lower() in PER_INSTANCE_PROCESS:
        raise ConfigError(f"the flat device form does not keep the per-device part of the '{section.group(3)}' "
                          "section's process variation (see imcpnn.pdk.flat); use device_form 'subckt' for it")
    found = wrappers(lib_line)
    cards: dict[str, list[str]] = {}
    out = []
    for line in text.split("\n"):
        m = _DEVICE_LINE.match(line)
        if not m:
            out.append(line)
            continue
        name, nodes, device, tail = m.group(1), m.group(2).split(), m.group(3).lower(), m.group(4)
        if device not in found:
            raise ConfigError(f"the model library defines no {device}; the flat device form cannot write X{name}")
        w = found[device]
        given = {k.lower(): v for k, v in (p.split("=", 1) for p in tail.split())}
        extra = f" m={given.pop('m')}" if "m" in given else ""
        model = None
        if w.element == "m":
            model, lines = model_cards(w, given)
            cards.setdefault(model, lines)
        out.append(element_line(w, name, nodes, given, model, extra))
    if lib_line.strip() not in out:
        raise ConfigError(f"the netlist does not contain its model line {lib_line!r}")
    at = out.index(lib_line.strip()) + 1
    block = ["* flat device form: the sky130 model bins used, wrapper parameters substituted (imcpnn.pdk.flat)"]
    block += [c for lines in cards.values() for c in lines]
    return "\n".join(out[:at] + block + out[at:])
