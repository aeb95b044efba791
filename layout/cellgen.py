"""One leaf cell from a flat device list: devices in a row, nets on metal2 tracks, metal3 for the vertical lines.

Floorplan (y grows upwards):

* device row at y >= 0: NMOS stacks and a p+ substrate tap on the left, the n-well with its n+ tap and the PMOS
  stacks on the right; a series chain whose inner nodes have no other connection is one stack (shared diffusion);
* below the row the *node channel*: one horizontal metal2 track per net that a diffusion or tap connects to;
  above the row the *gate channel*: one track per gate net; every terminal drops a metal1 stub to its track;
* right of the row, metal3 columns: a net in both channels gets a short column joining its two tracks, a
  *column net* a line across the whole cell height (it continues into the cells above and below), the MIM's
  plates a column down to their tracks;
* *row nets* have the first node tracks, at the same height in every cell, and span the whole cell width so that
  cells placed side by side join them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import klayout.db as kdb

from imcpnn.errors import ConfigError
from imcpnn.netlists.design import Mim

from . import devices as D
from . import layers as L
from .netlist import GROUND, Device

TRACK_PITCH = 0.6
COLUMN_PITCH = 0.8
TRACK_WIDTH = 0.2
NODE_TRACK0 = -0.9           # the first node track (row nets keep their heights across cells)
DEVICE_GAP = 0.5
WELL_GAP = 0.9               # n-diffusion to n-well edge and back
MIM_GAP = 1.0


@dataclass
class Plan:
    """Where every net's terminals landed (x, y on li1 or metal3) and the cell's extent."""

    node: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    gate: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    mim: dict[str, tuple[float, float]] = field(default_factory=dict)
    x_devices: float = 0.0       # right end of the drawn devices
    y_devices: float = 0.0       # top of the transistor row (the gate channel starts above it)
    y_mim: float = 0.0           # top of the MIM


def chains(fets: list[Device], keep: set[str]) -> list[list[Device]]:
    """Series chains: devices joined by a diffusion net that only those two diffusions touch (and that is not in
    ``keep``); each chain in node order, its first device starting at an outer node."""
    count: dict[str, int] = {}
    for d in fets:
        for n in (d.nodes[0], d.nodes[2]):
            count[n] = count.get(n, 0) + 1
        count[d.nodes[1]] = count.get(d.nodes[1], 0) + 100      # a gate net never joins a chain
    inner = {n for n, c in count.items() if c == 2 and n not in keep}
    left = list(fets)
    out: list[list[Device]] = []
    while left:
        start = next((d for d in left if sum(n in inner for n in (d.nodes[0], d.nodes[2])) <= 1), left[0])
        chain, node = [start], next((n for n in (start.nodes[0], start.nodes[2]) if n not in inner), start.nodes[0])
        left.remove(start)
        node = start.nodes[2] if node == start.nodes[0] else start.nodes[0]
        while node in inner:
            nxt = next((d for d in left
                        if node in (d.nodes[0], d.nodes[2]) and d.part.polarity == start.part.polarity), None)
            if nxt is None:
                break
            left.remove(nxt)
            chain.append(nxt)
            node = nxt.nodes[2] if nxt.nodes[0] == node else nxt.nodes[0]
        out.append(chain)
    return out


def _ends(chain: list[Device]) -> tuple[str, str]:
    """The outer diffusion nets of a chain, in drawing order."""
    first, last = chain[0], chain[-1]
    if len(chain) == 1:
        return first.nodes[0], first.nodes[2]
    shared = {first.nodes[0], first.nodes[2]} & {chain[1].nodes[0], chain[1].nodes[2]}
    a = first.nodes[2] if first.nodes[0] in shared else first.nodes[0]
    prev = {chain[-2].nodes[0], chain[-2].nodes[2]} & {last.nodes[0], last.nodes[2]}
    b = last.nodes[2] if last.nodes[0] in prev else last.nodes[0]
    return a, b


def place(cell: kdb.Cell, devices: list[Device], keep: set[str]) -> Plan:
    """Draw the device row (and the MIM, if any) and return where each net must be picked up."""
    fets = [d for d in devices if d.is_fet]
    for d in fets:
        want = GROUND if d.part.polarity == "n" else "vdd"
        if d.nodes[3] != want:
            raise ConfigError(f"layout: {d.name}'s body is {d.nodes[3]}; the generator ties NMOS to {GROUND} and "
                              "PMOS to vdd")
    plan = Plan()
    x = DEVICE_GAP
    y_top = 0.5
    for polarity, rail in (("n", GROUND), ("p", "vdd")):
        group = [c for c in chains([d for d in fets if d.part.polarity == polarity], keep)]
        if not group:
            continue
        x_well = x
        tx = x + 0.21 + L.IMPLANT_ENC_DIFF + (L.NWELL_ENC_PDIFF if polarity == "p" else 0)
        plan.node.setdefault(rail, []).append(D.tap(cell, polarity, tx, 0.145))
        x = tx + 0.21 + L.IMPLANT_ENC_DIFF + DEVICE_GAP
        for chain in group:
            pins = D.mos_stack(cell, x, [d.part for d in chain])
            for net, pt in zip(_ends(chain), pins.nodes):
                plan.node.setdefault(net, []).append(pt)
            for d, pt in zip(chain, pins.gates):
                plan.gate.setdefault(d.nodes[1], []).append(pt)
            y_top = max(y_top, pins.y_top)
            x = pins.x1 + DEVICE_GAP
        if polarity == "p":
            e = L.NWELL_ENC_PDIFF
            D.box(cell, L.NWELL, x_well, -e, x - DEVICE_GAP + e, y_top - 0.3)
        x += WELL_GAP
    plan.x_devices, plan.y_devices = x, y_top
    mims = [d for d in devices if not d.is_fet]
    if len(mims) > 1:
        raise ConfigError("layout: the generator draws at most one MIM per cell")
    if mims:
        m: Mim = mims[0].part
        if m.flavour != "cap_mim_m3_2":
            raise ConfigError(f"layout: only cap_mim_m3_2 (metal4/metal5) is drawn, not {m.flavour}")
        pins = D.mim_m4(cell, x + 1.5, 0.0, m.w, m.l)
        plan.mim = {mims[0].nodes[0]: pins.top, mims[0].nodes[1]: pins.bottom}
        plan.x_devices, plan.y_mim = pins.x1 + MIM_GAP, pins.y1
    return plan


@dataclass(frozen=True)
class Extent:
    """The drawn cell's extent and where each net's track ended up."""

    x1: float
    y0: float
    y1: float
    tracks: dict[str, float]
    labels: dict[str, tuple[float, float]]      # where each port's label sits (on its metal2 track)


def _ordered(terms: dict[str, list[tuple[float, float]]], first: tuple[str, ...] = ()) -> list[str]:
    rest = sorted((n for n in terms if n not in first), key=lambda n: (min(x for x, _ in terms[n]), n))
    return list(first) + rest


def route(cell: kdb.Cell, plan: Plan, ports: list[str], row_nets: tuple[str, ...] = (),
          column_nets: tuple[str, ...] = (), span: tuple[float, float] | None = None) -> Extent:
    """Draw the tracks, stubs and columns of ``plan`` and the port labels; ``span`` (y0, y1) stretches the cell
    (and its column nets) to a common height."""
    node = {n: list(p) for n, p in plan.node.items()}
    for n in list(plan.mim) + list(row_nets):
        if n not in node and n not in plan.gate:
            node[n] = []
    y_node = {n: NODE_TRACK0 - k * TRACK_PITCH for k, n in enumerate(_ordered(node, row_nets))}
    y_gate = {n: plan.y_devices + 0.8 + k * TRACK_PITCH for k, n in enumerate(_ordered(plan.gate))}
    joined = [n for n in y_node if n in y_gate and n not in column_nets]
    cols = {n: plan.x_devices + COLUMN_PITCH * j for j, n in enumerate(list(column_nets) + joined)}
    x1 = plan.x_devices + COLUMN_PITCH * (len(cols) + 0.5)
    y0 = min(y_node.values()) - TRACK_PITCH
    y1 = max(list(y_gate.values()) + [plan.y_devices]) + TRACK_PITCH
    y1 = max(y1, plan.y_mim + 0.5)
    if span is not None:
        if span[0] > y0 + 1e-9 or span[1] < y1 - 1e-9:
            raise ValueError("span smaller than the cell")
        y0, y1 = span
    reach: dict[tuple[str, float], list[float]] = {}
    for terms, ys in ((node, y_node), (plan.gate, y_gate)):
        for n, pts in terms.items():
            for x, y in pts:
                D.mcon(cell, x, y)
                D.box(cell, L.MET1, x - L.MET1_WIDTH / 2, y, x + L.MET1_WIDTH / 2, ys[n])
                D.via1(cell, x, ys[n])
                reach.setdefault((n, ys[n]), []).append(x)
    for n, (x, y) in plan.mim.items():
        yt = y_node.get(n, y_gate.get(n))
        D.box(cell, L.MET3, x - L.MET3_WIDTH / 2, y, x + L.MET3_WIDTH / 2, yt)
        D.via2(cell, x, yt)
        reach.setdefault((n, yt), []).append(x)
    for n, x in cols.items():
        ys = [y for y in (y_node.get(n), y_gate.get(n)) if y is not None]
        lo, hi = (y0, y1) if n in column_nets else (min(ys), max(ys))
        D.box(cell, L.MET3, x - L.MET3_WIDTH / 2, lo, x + L.MET3_WIDTH / 2, hi)
        for y in ys:
            D.via2(cell, x, y)
            reach.setdefault((n, y), []).append(x)
    for (n, y), xs in reach.items():
        lo, hi = (0.0, x1) if n in row_nets else (min(xs) - 0.2, max(xs) + 0.2)
        D.box(cell, L.MET2, lo, y - TRACK_WIDTH / 2, hi, y + TRACK_WIDTH / 2)
    for n in row_nets:
        if (n, y_node[n]) not in reach:
            D.box(cell, L.MET2, 0.0, y_node[n] - TRACK_WIDTH / 2, x1, y_node[n] + TRACK_WIDTH / 2)
    tracks = {**y_gate, **y_node}
    labels: dict[str, tuple[float, float]] = {}
    for n in ports:
        if n not in tracks:
            raise ConfigError(f"layout: port {n} connects to nothing in the cell")
        labels[n] = (min(reach.get((n, tracks[n]), [0.2])), tracks[n])
        D.label(cell, L.MET2, n, *labels[n])
    return Extent(x1, y0, y1, tracks, labels)
