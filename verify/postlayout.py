"""Substituting a laid-out, parasitic-extracted layer (magic / KLayout PEX output) for the generated one.

The user's file holds a `.subckt NAME port...` whose ports are the generated layer's port names (any order; case
insensitive). Every generated layer with the same port set is replaced: its `.subckt` block is swapped for the user's
(renamed to the generated name) and its instance line is re-ordered to the user's port order."""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from imcpnn.atomic import atomic_write_text
from imcpnn.errors import ConfigError
from imcpnn.netlists.cells import MAX_SUBCKT_PORTS, layer_fits_subckt, layer_name, layer_ports
from imcpnn.netlists.design import CellDesign


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


def substitute_layers(netlist: str, layer_files: str | Path | Sequence[str | Path]) -> str:
    """:func:`substitute_layer` for one file or each of several (one per layer shape, --post-layout)."""
    files = [layer_files] if isinstance(layer_files, (str, Path)) else list(layer_files)
    for f in files:
        netlist = substitute_layer(netlist, f)
    return netlist


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


def layer_shapes(weights: Sequence[np.ndarray]) -> list[tuple[int, int]]:
    """The distinct (n_in, n_out) of a network's layers (a weight matrix is n_out x n_in), in order."""
    shapes: list[tuple[int, int]] = []
    for w in weights:
        s = (int(np.shape(w)[1]), int(np.shape(w)[0]))
        if s not in shapes:
            shapes.append(s)
    return shapes


def post_layout_layers(design: CellDesign, weights: Sequence[np.ndarray], mode: str = "CC",
                       log: Callable[[str], None] = print, split_supply: bool = False) -> list[Path]:
    """`imc-verify run --post-layout`: each distinct layer of the network drawn, LVS-checked against its schematic
    and built from the per-cell extractions (imcpnn.layout.flow.layer_from_cells, cached by content), written as a
    file that :func:`substitute_layer` takes. The files are named by their content, so one is never replaced by
    another. ``split_supply``: the synapses on their own ``vdd_syn`` port, as the network netlist has them when
    energy is measured (verify/energy.py)."""
    shapes = layer_shapes(weights)
    for n_in, n_out in shapes:
        if not layer_fits_subckt(n_in, n_out):
            raise ConfigError(f"--post-layout: a {n_in}x{n_out} layer has more than {MAX_SUBCKT_PORTS} ports, so the "
                              f"network writes it out instead of as a subcircuit; only layers up to that are "
                              f"substituted (docs/layout.md)")
    # imported here: the layout stage needs KLayout and klayout-pex (make setup-layout), plain verification not
    from imcpnn.layout.flow import layer_from_cells, pex_cache_dir

    paths = []
    for n_in, n_out in shapes:
        t0 = time.monotonic()
        text, record = layer_from_cells(design, n_in, n_out, mode, split_supply=split_supply)
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        path = pex_cache_dir() / "layers" / f"{layer_name(n_in, n_out)}-{mode}-{digest}.spice"
        if not path.is_file():
            atomic_write_text(path, text)
        log(f"post-layout {layer_name(n_in, n_out)}: drawn, LVS clean, per-cell extraction ({mode}), "
            f"{time.monotonic() - t0:.0f} s; membrane {record['cap_fF'].get('mem_0', 0.0):.2f} fF -> {path}")
        paths.append(path)
    return paths
