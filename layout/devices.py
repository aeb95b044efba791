"""Device primitives drawn with KLayout's database API: MOS stacks on one diffusion strip, well taps, contacts.

Coordinates are micrometres (the layout's database unit is 1 nm).  Every primitive draws into a given cell and
returns the points where routing may land on li1 (one per contacted diffusion node and per gate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import klayout.db as kdb

from imcpnn.netlists.design import Fet

from . import layers as L

DBU = 0.001


def box(cell: kdb.Cell, layer: tuple[int, int], x0: float, y0: float, x1: float, y1: float) -> None:
    """A rectangle on ``layer`` (corners in any order)."""
    idx = cell.layout().layer(*layer)
    cell.shapes(idx).insert(kdb.DBox(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))


def square(cell: kdb.Cell, layer: tuple[int, int], x: float, y: float, size: float) -> None:
    """A square of side ``size`` centred on (x, y)."""
    box(cell, layer, x - size / 2, y - size / 2, x + size / 2, y + size / 2)


def label(cell: kdb.Cell, conductor: tuple[int, int], text: str, x: float, y: float, size: float = 0.14) -> None:
    """A pin: the net's name on the conductor's label layer plus a pin shape, at (x, y) on that conductor."""
    idx = cell.layout().layer(*L.LABEL[conductor])
    cell.shapes(idx).insert(kdb.DText(text, x, y))
    square(cell, L.PIN[conductor], x, y, size)


def mcon(cell: kdb.Cell, x: float, y: float) -> None:
    """li1 -> met1 contact centred on (x, y), with its li and met1 landing pads."""
    square(cell, L.MCON, x, y, L.MCON_SIZE)
    square(cell, L.LI, x, y, L.MCON_SIZE)
    square(cell, L.MET1, x, y, L.MCON_SIZE + 2 * L.MET1_ENC_MCON)


def via1(cell: kdb.Cell, x: float, y: float) -> None:
    """met1 -> met2 via centred on (x, y) with both landing pads."""
    square(cell, L.VIA1, x, y, L.VIA1_SIZE)
    pad = L.VIA1_SIZE + 2 * L.MET_ENC_VIA1
    square(cell, L.MET1, x, y, pad)
    square(cell, L.MET2, x, y, pad)


def via2(cell: kdb.Cell, x: float, y: float) -> None:
    square(cell, L.VIA2, x, y, L.VIA2_SIZE)
    pad = L.VIA2_SIZE + 2 * L.MET_ENC_VIA2
    square(cell, L.MET2, x, y, pad)
    square(cell, L.MET3, x, y, max(pad, L.MET3_WIDTH))


def via3(cell: kdb.Cell, x: float, y: float) -> None:
    square(cell, L.VIA3, x, y, L.VIA3_SIZE)
    pad = max(L.VIA3_SIZE + 2 * L.MET_ENC_VIA3, L.MET3_WIDTH)
    square(cell, L.MET3, x, y, pad)
    square(cell, L.MET4, x, y, pad)


@dataclass(frozen=True)
class StackPins:
    """Where routing lands on li1: the stack's two end nodes and each gate's pad."""

    nodes: tuple[tuple[float, float], ...]   # the two end nodes
    gates: tuple[tuple[float, float], ...]
    x1: float                     # right edge of the drawn stack (diffusion)
    y_top: float                  # highest drawn point (gate pads)
    y_bottom: float               # lowest drawn point


def _licon_column(cell: kdb.Cell, xc: float, w: float) -> tuple[float, float]:
    """Licons in a column centred at xc across a diffusion of width w (from y=0); li strip over them.
    Returns the li strip's y extent."""
    pitch = L.LICON_SIZE + L.LICON_SPACE
    n = max(1, math.floor((w - 2 * L.DIFF_ENC_LICON - L.LICON_SIZE) / pitch) + 1)
    span = (n - 1) * pitch
    y0 = w / 2 - span / 2
    for k in range(n):
        square(cell, L.LICON, xc, y0 + k * pitch, L.LICON_SIZE)
    lo = y0 - L.LICON_SIZE / 2 - L.LI_ENC_LICON
    hi = y0 + span + L.LICON_SIZE / 2 + L.LI_ENC_LICON
    box(cell, L.LI, xc - L.LI_WIDTH / 2, lo, xc + L.LI_WIDTH / 2, hi)
    return lo, hi


def gate_gap(l_left: float, l_right: float) -> float:
    """Diffusion length between two gates with no contact: both gate pads (above the strip) at poly spacing."""
    pad = L.LICON_SIZE + 2 * L.POLY_ENC_LICON
    return max(L.POLY_SPACE, pad + L.POLY_SPACE - (l_left + l_right) / 2)


def mos_stack(cell: kdb.Cell, x0: float, fets: list[Fet]) -> StackPins:
    """Series MOSFETs on one horizontal diffusion strip starting at x = x0 (channel width along y, from y = 0).

    The two end nodes are contacted, the nodes between gates are shared, uncontacted diffusion.  Gate pads sit
    above the strip.  Implants, the n-well (PMOS) and threshold-adjust layers are drawn around the strip.
    """
    if len({f.polarity for f in fets}) != 1:
        raise ValueError("a stack has one polarity")
    sd_end = L.DIFF_ENC_LICON + L.LICON_SIZE + L.LICON_TO_GATE
    w_max = max(f.w for f in fets)
    pad_hw = L.LICON_SIZE / 2 + L.POLY_ENC_LICON
    ly = w_max + L.POLY_LICON_TO_DIFF + L.LICON_SIZE / 2
    nodes: list[tuple[float, float]] = []
    gates: list[tuple[float, float]] = []
    xc = x0 + L.DIFF_ENC_LICON + L.LICON_SIZE / 2
    lo, hi = _licon_column(cell, xc, fets[0].w)
    nodes.append((xc, (lo + hi) / 2))
    box(cell, L.DIFF, x0, 0, x0 + sd_end, fets[0].w)
    x = x0 + sd_end
    for k, f in enumerate(fets):
        box(cell, L.DIFF, x, 0, x + f.l, f.w)
        gx = x + f.l / 2
        box(cell, L.POLY, x, -L.POLY_ENDCAP, x + f.l, ly)
        square(cell, L.POLY, gx, ly, 2 * pad_hw)
        square(cell, L.LICON, gx, ly, L.LICON_SIZE)
        square(cell, L.NPC, gx, ly, L.LICON_SIZE + 2 * L.NPC_ENC_LICON)
        # li past the licon sideways, away from the contact columns below
        box(cell, L.LI, gx - L.LICON_SIZE / 2 - L.LI_ENC_LICON, ly - L.LICON_SIZE / 2,
            gx + L.LICON_SIZE / 2 + L.LI_ENC_LICON, ly + L.LICON_SIZE / 2)
        gates.append((gx, ly))
        vt = L.LVTN if f.flavour.endswith("_lvt") else L.HVTP if f.flavour.endswith("_hvt") else None
        if vt is not None:
            e = L.VT_ENC_GATE
            box(cell, vt, x - e, -e, x + f.l + e, f.w + e)
        x += f.l
        if k + 1 < len(fets):
            gap = gate_gap(f.l, fets[k + 1].l)
            box(cell, L.DIFF, x, 0, x + gap, max(f.w, fets[k + 1].w))
            x += gap
    box(cell, L.DIFF, x, 0, x + sd_end, fets[-1].w)
    xc = x + L.LICON_TO_GATE + L.LICON_SIZE / 2
    lo, hi = _licon_column(cell, xc, fets[-1].w)
    nodes.append((xc, (lo + hi) / 2))
    x += sd_end
    e = L.IMPLANT_ENC_DIFF
    box(cell, L.NSDM if fets[0].polarity == "n" else L.PSDM, x0 - e, -e, x + e, w_max + e)
    return StackPins(tuple(nodes), tuple(gates), x, ly + pad_hw, -L.POLY_ENDCAP)


def tap(cell: kdb.Cell, polarity: str, x: float, y: float, w: float = 0.42) -> tuple[float, float]:
    """A body tap centred on (x, y): p+ tap (substrate) for ``polarity`` 'n' devices, n+ tap in an n-well for 'p'.
    Returns its li landing point."""
    h = L.LICON_SIZE + 2 * L.DIFF_ENC_LICON
    box(cell, L.TAP, x - w / 2, y - h / 2, x + w / 2, y + h / 2)
    square(cell, L.LICON, x, y, L.LICON_SIZE)
    box(cell, L.LI, x - L.LI_WIDTH / 2, y - L.LICON_SIZE / 2 - L.LI_ENC_LICON,
        x + L.LI_WIDTH / 2, y + L.LICON_SIZE / 2 + L.LI_ENC_LICON)
    e = L.IMPLANT_ENC_DIFF
    box(cell, L.PSDM if polarity == "n" else L.NSDM, x - w / 2 - e, y - h / 2 - e, x + w / 2 + e, y + h / 2 + e)
    if polarity == "p":
        e = L.NWELL_ENC_PDIFF
        box(cell, L.NWELL, x - w / 2 - e, y - h / 2 - e, x + w / 2 + e, y + h / 2 + e)
    return x, y


def via_stack(cell: kdb.Cell, x: float, y: float, lower: int, upper: int) -> None:
    """Vias from metal ``lower`` up to metal ``upper`` (1..4) centred on (x, y), with their landing pads."""
    for level in range(lower, upper):
        {1: via1, 2: via2, 3: via3}[level](cell, x, y)


@dataclass(frozen=True)
class MimPins:
    """met3 landing points of the MIM's plates and the drawn extent."""

    top: tuple[float, float]
    bottom: tuple[float, float]
    x1: float
    y1: float


def mim_m4(cell: kdb.Cell, x0: float, y0: float, w: float, l: float) -> MimPins:
    """A metal4/metal5 MIM (capm2) of w x l um with its lower-left corner at (x0, y0).

    Bottom plate: metal4, reached by a via3 left of the capacitor; top plate: capm2 -> via4 -> metal5, brought
    down right of the capacitor through via4 onto a metal4 island and via3.  Both landings end on metal3."""
    e = L.MET4_ENC_CAPM
    box(cell, L.CAPM2, x0, y0, x0 + w, y0 + l)
    land = 1.2                                   # metal4 land around the via3 (and the via4 of the top plate)
    box(cell, L.MET4, x0 - e - land, y0 - e, x0 + w + e, y0 + l + e)
    bottom = (x0 - e - land / 2, y0 + l / 2)
    via3(cell, *bottom)
    pitch = 2 * L.VIA4_SIZE
    inner = L.CAPM_ENC_VIA + L.VIA4_SIZE / 2
    nx = max(1, int((w - 2 * inner) / pitch) + 1)
    ny = max(1, int((l - 2 * inner) / pitch) + 1)
    sx = (w - (nx - 1) * pitch) / 2
    sy = (l - (ny - 1) * pitch) / 2
    for i in range(nx):
        for j in range(ny):
            square(cell, L.VIA4, x0 + sx + i * pitch, y0 + sy + j * pitch, L.VIA4_SIZE)
    gap = 0.6                                    # metal4 island to bottom plate
    top = (x0 + w + e + gap + land / 2, y0 + l / 2)
    box(cell, L.MET5, x0 - 0.1, y0 - 0.1, top[0] + land / 2, y0 + l + 0.1)
    square(cell, L.VIA4, *top, L.VIA4_SIZE)
    square(cell, L.MET4, *top, land)
    via3(cell, *top)
    return MimPins(top, bottom, top[0] + land / 2, y0 + l + e)
