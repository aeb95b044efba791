"""Substituting a laid-out, parasitic-extracted layer (magic / KLayout PEX output) for the generated one.

The user's file holds a `.subckt NAME port...` whose ports are the generated layer's port names (any order; case
insensitive). Every generated layer with the same port set is replaced: its `.subckt` block is swapped for the user's
(renamed to the generated name) and its instance line is re-ordered to the user's port order."""

from __future__ import annotations

import re
from pathlib import Path

from imcpnn.errors import ConfigError


def _logical_lines(text: str) -> list[str]:
    out: list[str] = []
    for raw in text.splitlines():
        if raw.startswith("+") and out:
            out[-1] += " " + raw[1:].strip()
        else:
            out.append(raw.rstrip())
    return out


def read_subckt(path: str | Path) -> tuple[str, list[str], list[str]]:
    """(name, ports, body lines incl. .subckt/.ends) of the first subcircuit in a file; other subckts it needs
    (e.g. extracted device models) are kept after it."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"layer netlist {p} not found")
    lines = _logical_lines(p.read_text())
    head = next((k for k, l in enumerate(lines) if l.strip().lower().startswith(".subckt")), None)
    if head is None:
        raise ConfigError(f"{p} has no .subckt definition")
    toks = lines[head].split()
    name = toks[1]
    ports = [t.lower() for t in toks[2:] if "=" not in t]
    body = [l for l in lines if not l.strip().lower().startswith((".end ", ".end\t")) and l.strip().lower() != ".end"]
    return name, ports, body


def substitute_layer(netlist: str, layer_file: str | Path) -> str:
    user_name, user_ports, user_body = read_subckt(layer_file)
    lines = _logical_lines(netlist)
    blocks = {}
    for k, l in enumerate(lines):
        m = re.match(r"\s*\.subckt\s+(imc_layer_(\d+)x(\d+))\s", l, re.IGNORECASE)
        if m:
            blocks[m.group(1).lower()] = (k, int(m.group(2)), int(m.group(3)))
    matched = []
    problems = []
    for gname, (k, n_in, n_out) in blocks.items():
        gen = [t.lower() for t in lines[k].split()[2:]]  # as generated (a split supply adds vdd_syn)
        missing = sorted(set(gen) - set(user_ports))
        extra = sorted(set(user_ports) - set(gen))
        if not missing and not extra:
            matched.append((gname, k, gen))
        else:
            problems.append(f"{gname}: missing ports {missing[:8]}{'...' if len(missing) > 8 else ''}, "
                            f"extra ports {extra[:8]}{'...' if len(extra) > 8 else ''}")
    if not matched:
        raise ConfigError(f"{layer_file}: subckt {user_name} matches no layer of this network by port names ("
                          + "; ".join(problems) + ")")
    for gname, k, gen in matched:
        end = next(j for j in range(k, len(lines)) if lines[j].strip().lower().startswith(".ends"))
        renamed = [re.sub(rf"^(\s*\.subckt\s+){re.escape(user_name)}\b", rf"\g<1>{gname}", l, flags=re.IGNORECASE)
                   if l.strip().lower().startswith(".subckt") else
                   re.sub(rf"^(\s*\.ends)\s+{re.escape(user_name)}\b", rf"\g<1> {gname}", l, flags=re.IGNORECASE)
                   for l in user_body]
        lines[k:end + 1] = [f"* substituted from {layer_file}"] + renamed
        for j, l in enumerate(lines):
            toks = l.split()
            if toks and toks[0].lower().startswith("x") and toks[-1].lower() == gname:
                nodes = dict(zip(gen, toks[1:-1]))
                lines[j] = " ".join([toks[0]] + [nodes[p] for p in user_ports] + [gname])
    return "\n".join(lines) + "\n"
