"""The device lists the layout is drawn from, read back from the generated subcircuit text (netlists/cells.py), and
the same circuits written as an LVS schematic; one source, so layout and netlist cannot drift apart."""

from __future__ import annotations

import re
from dataclasses import dataclass

from imcpnn.errors import ConfigError
from imcpnn.netlists.design import Fet, Mim

_PARAM = re.compile(r"(\w+)=(\S+)")
GROUND = "vss"          # the netlists' global ground "0" as an explicit net of the layout
#: the NMOS bodies' net in a leaf of a hierarchical LVS schematic.  The deck ties every NMOS body to its global
#: substrate net, not to the p+ taps; below the top cell that global net is a pin of its own, joined to the taps'
#: ground only in the top cell, so a leaf has two ground pins (the taps' and the bodies')
BODY = "vss_body"


@dataclass(frozen=True)
class Device:
    """One sky130 device instance: a FET (nodes d, g, s, b) or the MIM (nodes top, bottom)."""

    name: str
    nodes: tuple[str, ...]
    part: Fet | Mim

    @property
    def is_fet(self) -> bool:
        return isinstance(self.part, Fet)


def _subckts(text: str) -> dict[str, tuple[list[str], list[str]]]:
    found: dict[str, tuple[list[str], list[str]]] = {}
    current: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("*"):
            continue
        words = line.split()
        if words[0].lower() == ".subckt":
            current = words[1]
            found[current] = (words[2:], [])
        elif words[0].lower() == ".ends":
            current = None
        elif current is not None:
            found[current][1].append(line)
    return found


def _device(name: str, words: list[str]) -> Device:
    model = next(w for w in words if w.startswith("sky130_fd_pr__"))
    at = words.index(model)
    nodes = tuple(words[:at])
    params = {k.lower(): v for k, v in _PARAM.findall(" ".join(words[at + 1:]))}
    flavour = model.removeprefix("sky130_fd_pr__")
    if flavour.startswith("cap_mim"):
        return Device(name, nodes, Mim(flavour, float(params["w"]), float(params["l"])))
    fet = Fet(flavour, float(params["w"]), float(params["l"]), int(params.get("nf", 1)), int(params.get("m", 1)))
    if fet.nf != 1 or fet.m != 1:
        raise ConfigError(f"layout: device {name} has nf={fet.nf} m={fet.m}; the generator draws nf=1, m=1 only")
    return Device(name, nodes, fet)


def flat_devices(text: str, top: str, ports: list[str] | None = None) -> list[Device]:
    """The devices of subcircuit ``top`` in ``text``, its subcircuit instances expanded (internal nets and names
    prefixed with the instance path); ground ``0`` becomes :data:`GROUND`."""
    subckts = _subckts(text)
    if top not in subckts:
        raise ConfigError(f"layout: subcircuit {top!r} not found")
    out: list[Device] = []

    def expand(cell: str, mapping: dict[str, str], prefix: str) -> None:
        formal, body = subckts[cell]
        for line in body:
            words = line.split()
            inst = words[0]

            def net(n: str) -> str:
                if n == "0":
                    return GROUND
                return mapping.get(n, f"{prefix}{n}")

            if any(w.startswith("sky130_fd_pr__") for w in words):
                d = _device(prefix + inst[1:], words[1:])
                out.append(Device(d.name, tuple(net(n) for n in d.nodes), d.part))
            elif inst[0].upper() == "X" and words[-1] in subckts:
                child_formal = subckts[words[-1]][0]
                actual = [net(n) for n in words[1:-1]]
                expand(words[-1], dict(zip(child_formal, actual)), f"{prefix}{inst[1:]}_")
            else:
                raise ConfigError(f"layout: cannot draw the line {line!r}")

    formal = subckts[top][0]
    expand(top, {p: p for p in (ports or formal)}, "")
    return out


def lvs_schematic(name: str, ports: list[str], devices: list[Device]) -> str:
    """An LVS schematic (SPICE, explicit SI units) of the flat device list: FETs as M elements, the MIM as the
    capacitor device the sky130 LVS deck extracts (area and perimeter)."""
    lines = [f".subckt {name} {' '.join(ports)}"]
    for d in devices:
        if d.is_fet:
            f = d.part
            lines.append(f"M{d.name} {' '.join(d.nodes)} sky130_fd_pr__{f.flavour} W={f.w:.6g}u L={f.l:.6g}u")
        else:
            m = d.part
            area, perimeter = m.w * m.l, 2 * (m.w + m.l)
            lines.append(f"C{d.name} {' '.join(d.nodes)} {mim_lvs_model(m)} A={area:.6g}p P={perimeter:.6g}u")
    lines.append(f".ends {name}")
    return "\n".join(lines) + "\n"


def bodies_on_pin(devices: list[Device]) -> list[Device]:
    """The devices with every NMOS body on ground moved to :data:`BODY`, as the deck extracts a cell below the top."""
    return [Device(d.name, (*d.nodes[:3], BODY), d.part)
            if d.is_fet and d.part.polarity == "n" and d.nodes[3] == GROUND else d for d in devices]


def mim_lvs_model(m: Mim) -> str:
    """The device class the LVS deck extracts for a MIM flavour (m3_1: capm over metal3, m3_2: capm2 over metal4)."""
    return "sky130_fd_pr__model__cap_mim" if m.flavour == "cap_mim_m3_1" else "sky130_fd_pr__model__cap_mim_m4"
